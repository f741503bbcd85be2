"""``python -m bench``: start everything, run every workload, print the table.

Order of work:

1. Start the ArangoDB test server, create the schema and a user with the
   app's own CLI, start the app (Procfile ``web`` command), the baseline (same
   command, :mod:`bench.baseline_app`), the tuned floor (same command,
   :mod:`bench.tuned_app`) and the node peer; log in once.
2. Throughput runs: for each run, each workload (websocket connects,
   polling->upgrade connects, refused connects, echo, fan-out) on every
   target back to back, the order of targets rotating so no target always
   goes first; each step's load comes from ``--generators`` node processes
   together. Steps of one workload sit seconds apart, so a drift in the
   (shared, virtual) machine's speed moves app and baseline alike.
3. Memory runs (fewer: memory moves far less between runs): for each run,
   fresh server processes (so earlier workloads leave no heap behind), warmed
   up, then idle sockets opened and held on all targets at once (idle sockets
   cost no CPU worth contending for).
4. Summarise (median, min–max, app ÷ baseline), print the table, write JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import psutil

from bench import scenarios
from bench.load import check_node_modules
from bench.metrics import build_rows, catalogue
from bench.procs import ProcessError, ProcessTree, raise_open_files_limit
from bench.report import render_table, write_json
from bench.servers import (
    APP_TARGET_BASELINE,
    APP_TARGET_TUNED,
    ROOT,
    ArangoServer,
    Target,
    login,
    node_executable,
    prepare_database,
    start_gunicorn,
    start_peer,
)
from bench.sessions import issue_sessions

RESULTS_DIR = ROOT / "bench" / "results"
ALL_TARGETS = ("app", "baseline", "tuned", "peer")
THROUGHPUT_SCENARIOS = ("connect_websocket", "connect_upgrade", "connect_refused", "echo", "fanout")


class Progress:
    """Timestamped progress lines on stdout, flushed at once."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f}s] {message}", flush=True)


@dataclasses.dataclass
class Context:
    """What every phase needs."""

    sizes: scenarios.Sizes
    log_dir: Path
    arango: ArangoServer
    secret_key: str
    progress: Progress
    target_names: tuple[str, ...]
    #: A cookie per socket (bench.sessions), written after the first login.
    cookie_file: Path | None = None
    #: Which throughput workloads run (``--scenarios``).
    workloads: tuple[str, ...] = THROUGHPUT_SCENARIOS


def parse_args(argv: t.Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the realtime app against bare Flask-SocketIO and node socket.io.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI): proves it works")
    parser.add_argument("--runs", type=int, help="runs per metric (default 5 throughput and 3 memory runs; quick 1)")
    parser.add_argument(
        "--targets",
        default=",".join(ALL_TARGETS),
        help="comma-separated subset of app,baseline,tuned,peer (default: all)",
    )
    parser.add_argument("--skip-idle", action="store_true", help="skip the idle-memory runs")
    parser.add_argument("--skip-throughput", action="store_true", help="skip connect/echo/fan-out runs")
    parser.add_argument(
        "--scenarios",
        default=",".join(THROUGHPUT_SCENARIOS),
        help=f"comma-separated subset of the throughput workloads {','.join(THROUGHPUT_SCENARIOS)}"
        " (default: all), to reproduce one row quickly",
    )
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/...)")
    parser.add_argument(
        "--generators",
        type=int,
        help="load generator processes per throughput step (default 2), so that no single"
        " generator's event loop is the bottleneck",
    )
    args = parser.parse_args(argv)
    if args.generators is not None and args.generators < 1:
        parser.error("--generators must be at least 1")
    wanted = set(args.scenarios.split(","))
    if unknown := wanted - set(THROUGHPUT_SCENARIOS):
        choices = ", ".join(THROUGHPUT_SCENARIOS)
        parser.error(f"--scenarios: unknown {', '.join(sorted(unknown))} (choose from {choices})")
    # Always in the table's order, whatever order they were named in.
    args.scenarios = tuple(name for name in THROUGHPUT_SCENARIOS if name in wanted)
    return args


def _start_targets(ctx: Context, cookie: str | None, suffix: str = "") -> dict[str, Target]:
    """Start the requested servers; the app is always first (its login gives the cookie)."""
    started: dict[str, Target] = {}
    try:
        for name in ctx.target_names:
            label = f"{name}{suffix}"
            if name == "peer":
                process, url = start_peer(label, ctx.arango, ctx.secret_key, ctx.log_dir)
                uses_arango = True
            else:
                app_target = {"app": None, "baseline": APP_TARGET_BASELINE, "tuned": APP_TARGET_TUNED}[name]
                process, url = start_gunicorn(label, app_target, ctx.arango, ctx.secret_key, ctx.log_dir)
                uses_arango = name == "app"
            started[name] = Target(name, url, cookie or "", process, ProcessTree(process.pid), uses_arango)
            ctx.progress(f"{name} listening on {url} (pid {process.pid})")
            if name == "app" and cookie is None:
                cookie = login(url)
                ctx.progress("logged in through the app's /login form")
            if cookie is not None and ctx.cookie_file is None:
                count = ctx.sizes.sessions
                ctx.cookie_file = issue_sessions(cookie, count, ctx.secret_key, ctx.arango, ctx.log_dir / "cookies.txt")
                ctx.progress(f"{count:,} logged-in sessions issued, each of its own user: one per socket of a step")
        for target in started.values():
            target.cookie = cookie or ""
            target.cookie_file = ctx.cookie_file
    except BaseException:
        _stop_targets(started)
        raise
    return started


def _stop_targets(targets: t.Mapping[str, Target]) -> None:
    for target in targets.values():
        target.process.stop()


def _describe(name: str, result: dict[str, t.Any]) -> str:
    """One progress line for one scenario result."""
    count = result["loadgen_processes"]
    generator = (
        f"{count} generator{'s' if count > 1 else ''}, busiest {result['loadgen_cpu_percent']:.0f}% CPU"
        f" (event loop {result['loadgen_event_loop_percent']:.0f}% busy)"
    )
    if name.startswith("connect"):
        return (
            f"{result['per_second']:.0f}/s ({result['succeeded']}/{result['n']} ok),"
            f" server {result['server_cpu_ms_per_connect']:.2f} ms CPU/connect"
            f" ({result['server_cpu_percent']:.0f}% busy), {generator}"
        )
    if name == "echo":
        return (
            f"{result['per_second']:.0f} echo/s, server {result['server_cpu_us_per_event']:.0f} us"
            f" CPU/event ({result['server_cpu_percent']:.0f}% busy), {generator}"
        )
    return (
        f"{result['per_second']:.0f} msgs/s to {result['recipients']} sockets,"
        f" p50 {result['round_ms']['p50'] or 0:.1f} ms p99 {result['round_ms']['p99'] or 0:.1f} ms,"
        f" server {result['server_cpu_percent']:.0f}% busy, {generator}"
    )


def run_throughput(ctx: Context, targets: dict[str, Target], runs: dict[str, list[dict[str, t.Any]]]) -> None:
    sizes = ctx.sizes
    for target in targets.values():
        scenarios.warm_up(target, ctx.log_dir)
    order = list(targets.values())
    for run in range(sizes.runs):
        rotated = order[run % len(order) :] + order[: run % len(order)]
        for name in ctx.workloads:
            for target in rotated:
                results = runs[target.name][run]
                _settle(ctx, targets)
                if name.startswith("connect_"):
                    kind = name.removeprefix("connect_")
                    result = scenarios.connect(target, sizes, ctx.log_dir, kind=kind, arango=ctx.arango)
                elif name == "echo":
                    result = scenarios.echo(target, sizes, ctx.log_dir, arango=ctx.arango)
                else:
                    result = scenarios.fanout(target, sizes, ctx.log_dir, arango=ctx.arango)
                results[name] = result
                ctx.progress(f"run {run + 1}/{sizes.runs} {target.name:8} {name:17} {_describe(name, result)}")


def _settle(ctx: Context, targets: t.Mapping[str, Target]) -> None:
    """Wait until no server is still busy with the previous step's aftermath.

    A server can keep working after its clients are gone (closing sockets,
    broadcasting departures); that CPU must not be charged to the next target.
    """
    for tree in [target.tree for target in targets.values()] + [ctx.arango.tree]:
        waited = tree.wait_until_idle(timeout=60)
        if waited > 5:
            ctx.progress(f"waited {waited:.0f} s for a busy server to go idle")


def run_idle(ctx: Context, cookie: str | None, runs: dict[str, list[dict[str, t.Any]]]) -> None:
    """Memory runs, each on a fresh set of servers (earlier work leaves no heap behind).

    Logs in through the first fresh app when ``cookie`` is None.
    """
    sizes = ctx.sizes
    for run in range(sizes.idle_runs):
        ctx.progress(
            f"idle run {run + 1}/{sizes.idle_runs}: fresh servers; stages"
            f" {', '.join(f'{n:,}' for n in sizes.idle_stages)} sockets,"
            f" held {sizes.idle_hold_seconds:g} s each"
        )
        targets = _start_targets(ctx, cookie, suffix=f"-idle{run + 1}")
        try:
            cookie = targets["app"].cookie
            for target in targets.values():
                scenarios.warm_up(target, ctx.log_dir)
            results = scenarios.idle_hold(list(targets.values()), sizes, ctx.log_dir, ctx.progress)
        finally:
            _stop_targets(targets)
        for name, stages in results.items():
            runs[name][run]["idle"] = stages
            for stage in stages:
                ctx.progress(
                    f"idle run {run + 1}/{sizes.idle_runs} {name:8}"
                    f" {stage['still_connected']:,}/{stage['target_sockets']:,} still connected"
                    f" ({stage['dropped']} dropped), {stage['rss_kib_per_socket']:.1f} KiB RSS per"
                    f" socket, generator {stage['loadgen_cpu_percent']:.0f}% CPU"
                )


def machine_info() -> dict[str, t.Any]:
    """Where the numbers come from: hardware and the versions that matter."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("flask", "flask-socketio", "python-socketio", "python-engineio",
                 "eventlet", "gunicorn", "greenlet", "python-arango"):  # fmt: skip
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    for package in ("socket.io", "socket.io-client"):
        with contextlib.suppress(OSError, ValueError):
            manifest = ROOT / "node_modules" / package / "package.json"
            versions[f"npm:{package}"] = json.loads(manifest.read_text())["version"]
    node = node_executable()
    if node:
        versions["node"] = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _needed_open_files(sizes: scenarios.Sizes) -> int:
    return max(sizes.idle_stages) * 2 + 4096


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Turn `kill`/`timeout` into SystemExit so every finally block stops the
    # servers and generators this run started (they run in their own sessions
    # and would otherwise outlive it).
    raise SystemExit(128 + signum)


def main(argv: t.Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args(argv)
    sizes = scenarios.QUICK if args.quick else scenarios.FULL
    if args.runs:
        sizes = dataclasses.replace(sizes, runs=args.runs, idle_runs=args.runs)
    if args.generators:
        sizes = dataclasses.replace(sizes, generators=args.generators)
    names = tuple(n for n in ALL_TARGETS if n in args.targets.split(","))
    if "app" not in names:
        print("--targets must include app: its login gives every target the session cookie.")
        return 2
    progress = Progress()
    if node_executable() is None:
        print("node is not installed: the load generator and the peer need Node.js 20+.")
        return 2
    try:
        check_node_modules()
    except ProcessError as exc:
        print(exc)
        return 2
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_dir = RESULTS_DIR / "logs" / stamp
    limit = raise_open_files_limit(_needed_open_files(sizes))
    if limit < max(sizes.idle_stages) + 1024:
        progress(
            f"warning: open-files limit is {limit}; {max(sizes.idle_stages):,} sockets"
            " will not fit (raise the hard limit: ulimit -Hn)"
        )
    progress(
        f"benchmark {'quick' if args.quick else 'full'}: {sizes.runs} throughput and {sizes.idle_runs} memory"
        f" run(s), targets {', '.join(names)}; {sizes.generators} load generator(s) per throughput step;"
        f" logs in {log_dir.relative_to(ROOT)}"
    )
    runs: dict[str, list[dict[str, t.Any]]] = {n: [{} for _ in range(max(sizes.runs, sizes.idle_runs))] for n in names}
    started = datetime.datetime.now(datetime.UTC)
    arango = ArangoServer.start(log_dir, password=secrets.token_hex(8))
    try:
        progress(f"ArangoDB test server on {arango.url}")
        ctx = Context(sizes, log_dir, arango, secrets.token_hex(32), progress, names, workloads=args.scenarios)
        prepare_database(arango, ctx.secret_key, log_dir)
        progress("schema and benchmark user created with 'flask --app wsgi realtime'")
        cookie: str | None = None
        if not args.skip_throughput:
            targets = _start_targets(ctx, None)
            try:
                cookie = targets["app"].cookie
                run_throughput(ctx, targets, runs)
            finally:
                _stop_targets(targets)
        if not args.skip_idle:
            run_idle(ctx, cookie, runs)
    finally:
        arango.process.stop()
    rows = build_rows(runs, catalogue(sizes.idle_stages, sizes.echo_clients, sizes.fanout_clients))
    table = render_table(rows, names)
    elapsed = time.monotonic() - progress.started
    print()
    print(table, flush=True)
    output = args.output or RESULTS_DIR / f"bench-{stamp}{'-quick' if args.quick else ''}.json"
    write_json(
        output,
        {
            "started": started.isoformat(),
            "seconds": round(elapsed, 1),
            "quick": args.quick,
            "machine": machine_info(),
            "sizes": dataclasses.asdict(sizes),
            "targets": list(names),
            # Logged-in sessions the sockets used, one per socket of a step.
            "sessions": len(ctx.cookie_file.read_text().split()) if ctx.cookie_file else 1,
            "rows": [row.as_dict() for row in rows],
            "table": table,
            "runs": runs,
        },
    )
    print(f"\nresults written to {output} ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
