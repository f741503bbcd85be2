"""The socket side: a threading HTTP/1.1 server, the TTL sweeper, the state file.

One thread per connection (daemon threads, keep-alive), a listen backlog of
1024 so hundreds of clients can connect at once, and each response written
with a single ``send`` (buffered writer plus ``TCP_NODELAY``) so keep-alive
clients never wait on Nagle's algorithm.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import pathlib
import socket
import socketserver
import struct
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import admin
from .api import Api
from .aql import QueryEngine
from .auth import Authenticator
from .errors import ArangoError
from .faults import Decision, Faults, RequestStats
from .protocol import Request, Response, error_response
from .storage import Store

logger = logging.getLogger(__name__)

#: ArangoDB's ``--http.keep-alive-timeout`` default, in seconds.
KEEP_ALIVE_TIMEOUT = 300
#: Format version of the state file.
STATE_FORMAT = 1


class StateFileError(ValueError):
    """The state file exists but cannot be used."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: ArangoTestServer) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.to_abort: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup
        # that can stall for seconds on a machine without a resolver.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def shutdown_request(self, request: t.Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
            abort = request in self.to_abort
            self.to_abort.discard(request)
        if abort:
            # Close without shutdown(): with SO_LINGER 0 the peer gets a bare
            # RST instead of a FIN, i.e. a "connection reset".
            request.close()
        else:
            super().shutdown_request(request)

    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        logger.debug("connection from %s failed", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Hang up on every open keep-alive connection."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ArangoDB"
    timeout = KEEP_ALIVE_TIMEOUT
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.counted = False
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: t.Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "bad Content-Length")
            return
        body = self.rfile.read(length) if length > 0 else b""
        request = Request(self.command, self.path, self.headers, body)
        if not self.counted and not request.path.startswith("/_test/"):
            self.counted = True
            self.server.app.stats.record_connection()
        response = self.server.app.respond(request)
        if response is None:
            self._abort()
        else:
            self._send(response)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def _send(self, response: Response) -> None:
        if response.drip:
            self._drip(response)
            return
        payload = b"" if self.command == "HEAD" else response.encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def _drip(self, response: Response) -> None:
        """Write the response one byte per ``response.drip`` seconds; stop when the client hangs up."""
        real, self.wfile = self.wfile, io.BytesIO()
        try:
            self._send(dataclasses.replace(response, drip=0.0))
            data = self.wfile.getvalue()
        finally:
            self.wfile = real
        for index in range(len(data)):
            if self.server.app.faults.plan.drip_ms == 0:
                real.write(data[index:])  # the fault was cleared: the rest at once
                break
            real.write(data[index : index + 1])
            real.flush()
            time.sleep(response.drip)

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            return
        with self.server.connections_lock:
            self.server.to_abort.add(self.connection)


def load_state(path: pathlib.Path) -> dict[str, t.Any] | None:
    """The saved state, None if the file does not exist.

    :raise StateFileError: the file is not a state file of this server.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"format {data.get('format')!r} != {STATE_FORMAT}")
        return data
    except (ValueError, AttributeError) as exc:
        raise StateFileError(f"cannot load state file {path}: {exc}. Delete it to start empty.") from exc


def save_state(path: pathlib.Path, data: dict[str, t.Any]) -> None:
    """Write the state atomically: a temporary file, fsync, then rename."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(data, file, separators=(",", ":"))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


class ArangoTestServer:
    """An in-memory ArangoDB-compatible server.

    :param host: address to bind (use 127.0.0.1).
    :param port: port to bind; 0 picks a free one (see :attr:`port`).
    :param username: superuser name; with ``password`` None, no authentication.
    :param password: superuser password.
    :param ttl_frequency: seconds between TTL sweeps; 0 disables them.
    :param state_file: load the data from here at start (if the file exists)
        and save it here on :meth:`stop`.
    :param extended_names: ``--database.extended-names`` (on by default since 3.12).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        username: str | None = None,
        password: str | None = None,
        ttl_frequency: float = 30.0,
        state_file: str | os.PathLike[str] | None = None,
        extended_names: bool = True,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.ttl_frequency = ttl_frequency
        self.state_file = pathlib.Path(state_file) if state_file else None
        self.auth = Authenticator(username, password)
        self.store = Store(extended_names=extended_names)
        state = load_state(self.state_file) if self.state_file else None
        if state is not None:
            self.store = Store.restore(state["store"], extended_names=extended_names)
            self.auth.restore(state["users"])
            logger.info("loaded state from %s", self.state_file)
        self.api = Api(self.store, self.auth, QueryEngine())
        self.faults = Faults()
        self.stats = RequestStats()
        self._httpd: _HTTPServer | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """``http://host:port`` for python-arango's ``hosts``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Bind, listen and serve in background threads."""
        self._httpd = _HTTPServer((self.host, self.requested_port), self)
        self._stopping.clear()
        serve = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="arangodb-http",
            daemon=True,
        )
        self._threads = [serve]
        if self.ttl_frequency > 0:
            self._threads.append(threading.Thread(target=self._sweep_loop, name="arangodb-ttl", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop serving, hang up on clients, then save the state file."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.state_file is not None:
            with self.store.lock:
                state = {
                    "format": STATE_FORMAT,
                    "saved_at": time.time(),
                    "store": self.store.snapshot(),
                    "users": self.auth.snapshot(),
                }
            save_state(self.state_file, state)
            logger.info("saved state to %s", self.state_file)

    def __enter__(self) -> ArangoTestServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def respond(self, request: Request) -> Response | None:
        """The response to one request; None means "reset the connection"."""
        try:
            if request.parts[:1] == ["_test"]:
                return admin.handle(request, self)
        except ArangoError as error:
            return error_response(error, request)
        kind, is_write = self.api.classify(request)
        decision = self.faults.decide(is_write=is_write)
        self.stats.record(request.method, kind, decision)
        if decision.delay:
            time.sleep(decision.delay)
        if decision.action == "reset":
            return None
        response = self._answer(request, decision)
        return dataclasses.replace(response, drip=decision.drip) if decision.drip else response

    def _answer(self, request: Request, decision: Decision) -> Response:
        """The API's answer, or the failure the fault plan injects."""
        if decision.action == "fail":
            error = ArangoError(
                decision.error_num,
                "service unavailable (fault injected by the ArangoDB test server)",
                status=503,
            )
            return error_response(error, request)
        try:
            return self.api.handle(request)
        except Exception:
            logger.exception("internal error on %s %s", request.method, request.target)
            # A 5xx on GET/HEAD would make python-arango retry for seconds.
            status = 400 if request.method in ("GET", "HEAD") else 500
            error = ArangoError(4, "internal error in the ArangoDB test server; see its log", status=status)
            return error_response(error, request)

    def reset_data(self) -> None:
        """Wipe every database and every user but the superuser."""
        with self.store.lock:
            self.store.reset()
            self.auth.reset()

    def sweep_expired(self) -> int:
        """Run one TTL sweep now; returns the number of removed documents."""
        with self.store.lock:
            return self.store.sweep_expired(time.time())

    def _sweep_loop(self) -> None:
        while not self._stopping.wait(self.ttl_frequency):
            try:
                removed = self.sweep_expired()
            except Exception:
                logger.exception("TTL sweep failed")
            else:
                if removed:
                    logger.info("TTL sweep removed %s documents", removed)
