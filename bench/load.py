"""Drive the node load generator (``bench/load/run.js``) from Python.

The generator prints one JSON object per line on stdout and waits for ``go``
on stdin before each measured step, so the harness can read the server's CPU
and memory exactly at the step's edges. See the protocol in run.js.

One node process keeps one event loop busy at most, and on the fastest steps
that loop, not the server, set the pace; :class:`LoadGenerators` runs one
step's load in several processes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import subprocess
import threading
import time
import typing as t
from pathlib import Path

from bench.procs import ProcessError
from bench.servers import ROOT, node_executable

log = logging.getLogger(__name__)

SCRIPT = ROOT / "bench" / "load" / "run.js"

#: Heap for the generator: 10,000 socket.io-client sockets need more than node's default.
MAX_OLD_SPACE_MB = 4096


def check_node_modules() -> None:
    """Fail early, with the fix, when ``npm ci`` has not been run."""
    if not (ROOT / "node_modules" / "socket.io-client").is_dir():
        raise ProcessError(
            "node_modules/socket.io-client is missing: run 'npm ci' in the repository root"
            " (package.json lists the benchmark's node packages)."
        )


class LoadGenerator:
    """One running ``run.js`` process with a spec; use as a context manager.

    :param spec: the JSON spec (``mode``, ``url``, ...), see run.js.
    :param log_dir: stderr (progress and errors) goes to ``load-<label>.log`` here.
    """

    def __init__(self, spec: dict[str, t.Any], log_dir: Path) -> None:
        node = node_executable()
        if node is None:
            raise ProcessError("node is not installed; the load generator needs Node.js 20+.")
        check_node_modules()
        self.spec = spec
        label = f"{spec['mode']}-{spec.get('label', 'x')}"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._stderr = (log_dir / f"load-{label}.log").open("ab")
        self.popen = subprocess.Popen(
            [node, f"--max-old-space-size={MAX_OLD_SPACE_MB}", str(SCRIPT), json.dumps(spec)],
            cwd=ROOT,
            env=dict(os.environ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._events: queue.Queue[dict[str, t.Any] | None] = queue.Queue()
        # Commands come from the main thread and relays from other generators' reader threads.
        self._stdin_lock = threading.Lock()
        self._relay_to: LoadGenerator | None = None
        self._reader = threading.Thread(target=self._read, name=f"load-{label}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def relay_got_to(self, sender: LoadGenerator) -> None:
        """Pass this fan-out receiver's ``got`` lines on to ``sender``, from the reader thread.

        The sender's round waits for them, so they must not wait for the main
        thread, which is blocked on the sender's result meanwhile.
        """
        self._relay_to = sender

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                log.warning("load generator printed a non-JSON line: %s", line)
                continue
            if self._relay_to is not None and message.get("event") == "got":
                self._relay(message)
            else:
                self._events.put(message)
        self._events.put(None)

    def _relay(self, got: dict[str, t.Any]) -> None:
        assert self._relay_to is not None
        try:
            self._relay_to.send(f"got {int(got['round'])} {int(got['at'])}")
        except ProcessError:
            # The sender is gone; the main thread finds out from its missing result.
            log.warning("could not relay %r: the fan-out sender has exited", got)

    def expect(self, event: str, timeout: float) -> dict[str, t.Any]:
        """Wait for the next event line; it must be ``event``."""
        try:
            message = self._events.get(timeout=timeout)
        except queue.Empty:
            raise ProcessError(
                f"load generator ({self.spec['mode']}) sent no {event!r} within {timeout:.0f} s"
            ) from None
        if message is None:
            code = self.popen.wait(timeout=5)
            raise ProcessError(
                f"load generator ({self.spec['mode']}) exited ({code}) before {event!r}; see {self._stderr.name}"
            )
        if message.get("event") != event:
            raise ProcessError(f"load generator sent {message!r}, expected {event!r}")
        return message

    def send(self, command: str) -> None:
        """Write one command line; safe from any thread."""
        assert self.popen.stdin is not None
        with self._stdin_lock:
            try:
                self.popen.stdin.write(command + "\n")
                self.popen.stdin.flush()
            except (BrokenPipeError, ValueError):  # ValueError: close() has closed stdin
                raise ProcessError(f"load generator exited; see {self._stderr.name}") from None

    def go(self) -> None:
        """Start the next measured step."""
        self.send("go")

    def close(self, timeout: float = 30.0) -> None:
        """Tell the generator to close its sockets and exit; kill it if it does not."""
        if self.popen.poll() is None:
            try:
                self.send("quit")
                assert self.popen.stdin is not None
                with self._stdin_lock:
                    self.popen.stdin.close()
            except (ProcessError, OSError):
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self._stderr.close()

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class LoadGenerators:
    """Several ``run.js`` processes that make one step's load together; use as a context manager.

    Each spec is one process's share (see :mod:`bench.scenarios`). Every
    process is closed on exit, also when a later one failed to start.
    """

    def __init__(self, specs: t.Sequence[dict[str, t.Any]], log_dir: Path) -> None:
        with contextlib.ExitStack() as stack:
            self.members = [stack.enter_context(LoadGenerator(spec, log_dir)) for spec in specs]
            self._stack = stack.pop_all()

    @property
    def pids(self) -> list[int]:
        return [gen.pid for gen in self.members]

    def expect(self, event: str, timeout: float) -> list[dict[str, t.Any]]:
        """Wait for ``event`` from every process, ``timeout`` seconds for all of them together."""
        deadline = time.monotonic() + timeout
        return [gen.expect(event, max(0.0, deadline - time.monotonic())) for gen in self.members]

    def go(self) -> None:
        """Start the next measured step in every process."""
        for gen in self.members:
            gen.go()

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> LoadGenerators:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
