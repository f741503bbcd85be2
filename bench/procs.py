"""Child processes for the benchmark: start, wait for readiness, stop.

Every process gets its own session (process group) so that stopping it also
stops what it forked (gunicorn's worker), and its output goes to a log file
rather than a pipe nobody drains. Every wait is bounded.
"""

from __future__ import annotations

import logging
import os
import re
import resource
import signal
import socket
import subprocess
import time
import typing as t
from pathlib import Path

import psutil

log = logging.getLogger(__name__)


class ProcessError(RuntimeError):
    """A child process did not start, or died while it was needed."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_open_files_limit(wanted: int) -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` towards ``wanted``.

    Children inherit the limit, which is how the servers and the load generator
    get room for 10,000 sockets each. Returns the soft limit now in force (it
    cannot exceed the hard limit, which only root can raise).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class ManagedProcess:
    """One child process, its log file, and a bounded way to wait for it.

    :param name: short label used in messages and the log file name.
    :param argv: the command.
    :param env: the complete environment for the child.
    :param log_dir: where ``<name>.log`` is written (stdout and stderr together).
    :param cwd: working directory.
    :param stop_signal: what :meth:`stop` sends first (SIGKILL follows if needed).
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: t.Mapping[str, str],
        log_dir: Path,
        cwd: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.stop_signal = stop_signal
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.debug("started %s (pid %s): %s", name, self.popen.pid, argv)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_text(self) -> str:
        """The child's output so far."""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def check_alive(self) -> None:
        """Raise :class:`ProcessError` with the log tail if the child has exited."""
        code = self.popen.poll()
        if code is not None:
            raise ProcessError(
                f"{self.name} exited with status {code}; last output ({self.log_path}):\n{self.log_tail()}"
            )

    def wait_for_output(self, pattern: str, timeout: float) -> re.Match[str]:
        """Wait until the log matches ``pattern``; return the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = regex.search(self.log_text())
            if match:
                return match
            self.check_alive()
            time.sleep(0.05)
        raise ProcessError(
            f"{self.name} did not print {pattern!r} within {timeout:.0f} s; last output "
            f"({self.log_path}):\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the child and everything in its process group; idempotent."""
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, self.stop_signal)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=timeout)
        # The leader may be gone while a forked worker lingers in the group.
        _signal_group(self.popen.pid, signal.SIGKILL)
        self._log_file.close()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class ProcessTree:
    """CPU time and resident memory of a server: one process and its children.

    For gunicorn that is the master plus its worker; the master is idle, so the
    sums are the worker's cost. Read from /proc through psutil.
    """

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)

    def _members(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess as exc:
            raise ProcessError(f"server process {self.root.pid} is gone") from exc

    def cpu_seconds(self) -> float:
        """User plus system CPU seconds used so far by the whole tree."""
        total = 0.0
        for proc in self._members():
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def rss_bytes(self) -> int:
        """Resident set size of the whole tree, in bytes."""
        total = 0
        for proc in self._members():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def wait_until_idle(self, window: float = 0.25, busy_below: float = 0.05, timeout: float = 15.0) -> float:
        """Wait until the tree used less than ``busy_below`` of a core over ``window`` s.

        Used after a step whose server-side work trails the client (closing
        sockets). Returns the seconds waited.
        """
        started = time.monotonic()
        before = self.cpu_seconds()
        while time.monotonic() - started < timeout:
            time.sleep(window)
            now = self.cpu_seconds()
            if now - before < busy_below * window:
                break
            before = now
        return time.monotonic() - started
