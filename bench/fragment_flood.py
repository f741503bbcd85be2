"""A logged-in user's echo round trip while cookie-less sockets flood one endless fragmented message.

``python -m bench.fragment_flood [--root PATH] [--flooders N] [--seconds S]``
starts the ArangoDB test server and the Procfile's ``web`` process of the
repository at ``--root`` (default: this one, so the same script measures
another checkout), logs in the benchmark user and times a python-socketio
client's ``echo`` acks: first alone, then while N flooders (no cookie, no
Socket.IO CONNECT; ``tests.support.frames.Flooder``) each send one text
message as an endless run of 60 KiB continuation frames, reconnecting
whenever the server closes them. Prints the median and p95 of both phases,
the worker's CPU share and peak RSS during the attack, and how the flooders'
connections ended. A measurement to read, not a pass/fail test (that is
``tests/test_hardening_websocket.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil
import socketio

from bench import procfile
from bench.procs import ManagedProcess
from bench.servers import ROOT, ArangoServer, app_env, free_port, login, prepare_database, wait_http_ok
from tests.support.frames import Flooder


def echo_latencies(client: socketio.Client, seconds: float, at_least: int, timeout: float) -> list[float | None]:
    """Round trips (ms) of echo calls made one after another for ``seconds`` (and at least ``at_least``).

    A call unanswered within ``timeout`` is ``None`` and ends the phase.
    """
    latencies: list[float | None] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or len(latencies) < at_least:
        started = time.perf_counter()
        try:
            assert client.call("echo", {"n": len(latencies)}, timeout=timeout) == {"n": len(latencies)}
        except socketio.exceptions.TimeoutError:
            latencies.append(None)
            break
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def describe(latencies: list[float | None], timeout: float) -> str:
    ordered = sorted(value for value in latencies if value is not None)
    text = f"{len(ordered)} echoes"
    if ordered:
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        text += f", median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms"
    if None in latencies:
        text += f"; then one unanswered within {timeout:.0f} s"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository whose Procfile app is measured")
    parser.add_argument("--flooders", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    args = parser.parse_args()
    root = args.root.resolve()
    log_dir = Path(tempfile.mkdtemp(prefix="fragment-flood-"))
    secret = secrets.token_hex(32)
    arango = ArangoServer.start(log_dir, secrets.token_hex(8))
    app = None
    try:
        prepare_database(arango, secret, log_dir)
        port = free_port()
        env = {**app_env(arango, secret, port), "PYTHONPATH": str(root)}
        argv = procfile.expand(procfile.web_command(root / "Procfile"), env)
        app = ManagedProcess("app", argv, env, log_dir, cwd=root, stop_signal=signal.SIGINT)
        url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{url}/healthz", app)
        worker = psutil.Process(app.pid).children()[0]
        client = socketio.Client(reconnection=False)
        client.connect(url, headers={"Cookie": login(url)}, transports=["websocket"])
        print(f"{root} ({args.flooders} flooder(s), {args.seconds:.0f} s per phase)")
        print("  alone:       " + describe(echo_latencies(client, args.seconds, 20, 10), 10))

        stop = threading.Event()
        flooders = [Flooder(url, stop, max_connections=100_000) for _ in range(args.flooders)]
        cpu_before, started = sum(worker.cpu_times()[:2]), time.monotonic()
        peak_rss = 0

        def sample_rss() -> None:
            nonlocal peak_rss
            with contextlib.suppress(psutil.NoSuchProcess):  # gunicorn may kill a worker that stops answering
                while not stop.is_set():
                    peak_rss = max(peak_rss, worker.memory_info().rss)
                    time.sleep(0.2)

        sampler = threading.Thread(target=sample_rss, daemon=True)
        for thread in [*flooders, sampler]:
            thread.start()
        try:
            under_attack = echo_latencies(client, args.seconds, 5, 60)
        finally:
            try:
                cpu = f"{100 * (sum(worker.cpu_times()[:2]) - cpu_before) / (time.monotonic() - started):.0f}%"
            except psutil.NoSuchProcess:
                cpu = "? (worker gone)"
            stop.set()
            for flooder in flooders:
                flooder.join(30)
        print("  under flood: " + describe(under_attack, 60))
        codes = [code for flooder in flooders for code in flooder.close_codes]
        frames = sum(flooder.frames_sent for flooder in flooders)
        print(
            f"  worker CPU during the flood {cpu}, peak RSS {peak_rss / 2**20:.0f} MiB;"
            f" flooders sent {frames} frames ({frames * Flooder.FRAGMENT / 2**20:.0f} MiB) over"
            f" {len(codes)} closed connection(s), close codes {sorted(set(codes), key=str)}"
        )
        if "WORKER TIMEOUT" in app.log_text():
            print("  gunicorn killed the worker for missing its heartbeat (WORKER TIMEOUT): every socket dropped")
        client.disconnect()
    finally:
        if app is not None:
            app.stop()
        arango.process.stop()


if __name__ == "__main__":
    main()
