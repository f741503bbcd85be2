"""Drive the node load generator (``bench/load/run.js``) from Python.

The generator prints one JSON object per line on stdout and waits for ``go``
on stdin before each measured step, so the harness can read the server's CPU
and memory exactly at the step's edges. See the protocol in run.js.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import threading
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
        self._reader = threading.Thread(target=self._read, name=f"load-{label}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                self._events.put(json.loads(line))
            except json.JSONDecodeError:
                log.warning("load generator printed a non-JSON line: %s", line)
        self._events.put(None)

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
        assert self.popen.stdin is not None
        try:
            self.popen.stdin.write(command + "\n")
            self.popen.stdin.flush()
        except BrokenPipeError:
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
