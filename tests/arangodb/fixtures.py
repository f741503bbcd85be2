"""pytest plugin: the ArangoDB test server as a real subprocess.

Enable it with ``pytest_plugins = ["tests.arangodb.fixtures"]`` in
``tests/conftest.py``. Fixtures:

``arango_server`` (session scope)
    One server for the whole run: user ``root`` with a random password, TTL
    sweep every 30 s, a state file in a temporary directory. Faults set by a
    test are cleared after it, and a test that stopped the server gets it
    restarted for the next one.

``start_arango_server`` (function scope)
    A factory for private servers, e.g. ``start_arango_server(ttl_frequency=1)``
    or ``start_arango_server(auth=False)``; all are stopped after the test.

Both give an :class:`ArangoServerProcess`.

``arango_client`` / ``arango_database`` (function scope)
    A python-arango ``ArangoClient`` for ``arango_server`` (closed after the
    test) and a fresh database on it as root (dropped after the test).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import time
import typing as t
import urllib.error
import urllib.request
from pathlib import Path

import pytest

if t.TYPE_CHECKING:
    from arango import ArangoClient
    from arango.database import StandardDatabase

ROOT = Path(__file__).resolve().parents[2]
#: Seconds to wait for the "listening on" line (the server needs ~0.2 s).
START_TIMEOUT = 10.0
#: Seconds to wait for a clean exit after SIGTERM.
STOP_TIMEOUT = 10.0

_LISTENING = re.compile(rb"listening on (http://(\S+):(\d+))")
# /_test/ calls must reach 127.0.0.1 directly, whatever *_proxy variables say.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ArangoServerError(RuntimeError):
    """The server process did not start or stop as expected."""


class ArangoServerProcess:
    """Handle on one ``python -m tests.arangodb`` subprocess.

    :param workdir: directory for the state file and the server log.
    :param username: superuser name.
    :param password: superuser password; random when not given.
    :param auth: False starts the server without credentials (it then
        accepts every request).
    :param ttl_frequency: seconds between TTL sweeps.
    :param state_file: where the data survives :meth:`stop`/:meth:`start`;
        defaults to ``workdir/state.json``; False for none.
    :param port: port to use; 0 lets the server pick a free one, which later
        restarts reuse.
    :param extended_names: False starts the server with the traditional
        naming convention (``--database.extended-names false``).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        username: str = "root",
        password: str | None = None,
        auth: bool = True,
        ttl_frequency: float = 30.0,
        state_file: Path | t.Literal[False] | None = None,
        port: int = 0,
        extended_names: bool = True,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port
        self.auth = auth
        self.username = username
        self.password = password if password is not None else secrets.token_urlsafe(16)
        self.ttl_frequency = ttl_frequency
        self.extended_names = extended_names
        self.state_file = None if state_file is False else (state_file or self.workdir / "state.json")
        self.log_path = self.workdir / "server.log"
        #: Seconds from spawning the process to its "listening on" line.
        self.startup_seconds: float | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._faults_set = False

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        """The command line that starts this server."""
        argv = [
            sys.executable, "-m", "tests.arangodb",
            "--host", self.host,
            "--port", str(self.port),
            "--ttl-frequency", str(self.ttl_frequency),
        ]  # fmt: skip
        if self.auth:
            # "=" form: a random password may start with "-", which argparse would take for an option.
            argv += [f"--username={self.username}", f"--password={self.password}"]
        if self.state_file is not None:
            argv += ["--state-file", str(self.state_file)]
        if not self.extended_names:
            argv.append("--no-extended-names")
        return argv

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> ArangoServerProcess:
        """Start the process (again: same port, same state file) and wait until it listens."""
        if self.running:
            raise ArangoServerError(f"ArangoDB test server on {self.url} is already running")
        started = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
            )
        try:
            line = self._read_listening_line(started + START_TIMEOUT)
        except ArangoServerError:
            self._kill()
            raise
        finally:
            assert self.process.stdout is not None
            self.process.stdout.close()
        self.startup_seconds = time.perf_counter() - started
        self.port = int(line.group(3))
        return self

    def _read_listening_line(self, deadline: float) -> re.Match[bytes]:
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        output = b""
        while b"\n" not in output:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise self._start_failure(f"no 'listening on' line within {START_TIMEOUT} s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise self._start_failure(f"the process exited (code {self.process.wait()})")
                output += chunk
        match = _LISTENING.match(output)
        if match is None:
            raise self._start_failure(f"unexpected first line {output!r}")
        return match

    def _start_failure(self, reason: str) -> ArangoServerError:
        return ArangoServerError(
            f"ArangoDB test server did not start: {reason}.\n"
            f"command: {' '.join(self.command())}\nlog {self.log_path}:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's stderr log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self) -> int:
        """SIGTERM and wait for a clean exit (state file written); returns the exit code."""
        if self.process is None:
            raise ArangoServerError("ArangoDB test server was never started")
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill()
                raise ArangoServerError(
                    f"ArangoDB test server did not stop within {STOP_TIMEOUT} s of SIGTERM; killed it.\n"
                    f"{self.log_tail()}"
                ) from None
        return self.process.returncode

    def _kill(self) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)

    def restart(self) -> ArangoServerProcess:
        """:meth:`stop` then :meth:`start`: the data survives through the state file."""
        self.stop()
        return self.start()

    # -- /_test/ control API -------------------------------------------------

    def control(self, method: str, path: str, body: t.Any = None) -> t.Any:
        """Call ``/_test/<path>`` and return the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_test/{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with _OPENER.open(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:  # holds the connection open until closed
                detail = exc.read().decode(errors="replace")
            raise ArangoServerError(f"{method} /_test/{path} answered HTTP {exc.code}: {detail}") from None

    def faults(
        self,
        *,
        latency_ms: float = 0,
        fail_reads: bool = False,
        fail_writes: bool = False,
        reset: bool = False,
        error_num: int = 503,
        drip_ms: float = 0,
        times: int | None = None,
    ) -> _FaultScope:
        """Replace the fault plan; usable as a context manager that clears it.

        :param latency_ms: delay every request by this many milliseconds.
        :param fail_reads: answer reads (GET, HEAD, get_many, read-only AQL,
            login) with 503.
        :param fail_writes: answer writes (insert/replace/update/delete,
            batch writes, index creation, the purge query ...) with 503.
        :param reset: drop every connection without an answer (TCP RST).
        :param error_num: ``errorNum`` of the 503 bodies; 503 makes
            python-arango treat the host as down (``ConnectionAbortedError``
            after its host retries), another number gives the operation's
            ``ArangoServerError`` with ``http_code`` 503.
        :param drip_ms: write every response one byte per this many
            milliseconds (a database that answers ever so slowly).
        :param times: fail/reset only this many more requests.
        """
        plan = {
            "latency_ms": latency_ms,
            "fail_reads": fail_reads,
            "fail_writes": fail_writes,
            "reset": reset,
            "error_num": error_num,
            "drip_ms": drip_ms,
            "times": times,
        }
        self.control("PUT", "faults", plan)
        self._faults_set = True
        return _FaultScope(self)

    def clear_faults(self) -> None:
        """Back to normal service."""
        self.control("DELETE", "faults")
        self._faults_set = False

    def stats(self) -> dict[str, t.Any]:
        """Request counters: ``total``, ``by_method``, ``by_kind``, ``faults``, ``since``."""
        return self.control("GET", "stats")

    def reset_stats(self) -> None:
        """Start counting from zero."""
        self.control("DELETE", "stats")

    def reset_data(self) -> None:
        """Wipe all databases and users (except the superuser)."""
        self.control("POST", "reset")

    # -- python-arango -----------------------------------------------------

    def client(self, **kwargs: t.Any) -> ArangoClient:
        """A new ``arango.ArangoClient`` for this server (close it when done)."""
        from arango import ArangoClient

        return ArangoClient(hosts=self.url, **kwargs)

    def db(self, client: ArangoClient, name: str = "_system", **kwargs: t.Any) -> StandardDatabase:
        """``client.db(name)`` as the superuser (keyword args go to ``client.db``)."""
        kwargs.setdefault("username", self.username)
        kwargs.setdefault("password", self.password)
        return client.db(name, **kwargs)


class _FaultScope(contextlib.AbstractContextManager["ArangoServerProcess"]):
    """Returned by :meth:`ArangoServerProcess.faults`; leaving it clears the faults."""

    def __init__(self, server: ArangoServerProcess) -> None:
        self.server = server

    def __enter__(self) -> ArangoServerProcess:
        return self.server

    def __exit__(self, *exc_info: object) -> None:
        self.server.clear_faults()


@pytest.fixture(scope="session")
def arango_server(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[ArangoServerProcess]:
    """One ArangoDB test server subprocess for the whole test session."""
    server = ArangoServerProcess(tmp_path_factory.mktemp("arangodb"))
    server.start()
    yield server
    if server.running:
        server.stop()


@pytest.fixture(autouse=True)
def _arango_server_hygiene(request: pytest.FixtureRequest) -> t.Iterator[None]:
    """After a test that used ``arango_server``: clear its faults, restart it if stopped."""
    yield
    if "arango_server" not in request.fixturenames:
        return
    server: ArangoServerProcess = request.getfixturevalue("arango_server")
    if not server.running:
        server.start()
    elif server._faults_set:
        server.clear_faults()


@pytest.fixture
def start_arango_server(tmp_path: Path) -> t.Iterator[t.Callable[..., ArangoServerProcess]]:
    """Factory for private ArangoDB test servers; keyword args go to :class:`ArangoServerProcess`."""
    servers: list[ArangoServerProcess] = []

    def start(**options: t.Any) -> ArangoServerProcess:
        server = ArangoServerProcess(tmp_path / f"arangodb-{len(servers)}", **options)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        if server.running:
            server.stop()


@pytest.fixture
def arango_client(arango_server: ArangoServerProcess) -> t.Iterator[ArangoClient]:
    """A python-arango client for ``arango_server``, closed after the test."""
    client = arango_server.client()
    yield client
    client.close()


@pytest.fixture
def arango_database(arango_server: ArangoServerProcess, arango_client: ArangoClient) -> t.Iterator[StandardDatabase]:
    """A fresh database on ``arango_server`` (as root), dropped after the test."""
    name = "t_" + secrets.token_hex(6)
    sys_db = arango_server.db(arango_client)
    sys_db.create_database(name)
    yield arango_server.db(arango_client, name)
    sys_db.delete_database(name, ignore_missing=True)
