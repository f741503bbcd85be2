"""One function per measured workload; each returns plain numbers for one run.

A scenario starts a load generator against one target, reads the server's
CPU time (and the ArangoDB test server's request counter) right before and
after the measured step, and returns what it saw. Nothing here decides what
is good: :mod:`bench.metrics` summarises, :mod:`bench.report` judges.

The throughput steps spread their load over ``Sizes.generators`` processes,
each with its share of the sockets, and combine what they report.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import time
import typing as t
from pathlib import Path

import psutil

from bench.load import LoadGenerator, LoadGenerators
from bench.procs import ProcessTree
from bench.servers import ArangoServer, Target

KIB = 1024
#: Slack on top of a step's own deadline before the harness gives up on it.
STEP_GRACE = 60.0


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big each workload is; ``FULL`` and ``QUICK`` are the two presets."""

    runs: int
    connect_n: int
    connect_concurrency: int
    upgrade_n: int
    refused_n: int
    idle_stages: tuple[int, ...]
    idle_hold_seconds: float
    echo_clients: int
    echo_per_client: int
    fanout_clients: int
    fanout_rounds: int
    #: Upper bound for any one step, in seconds.
    step_deadline: float
    #: Connects in flight per generator while filling idle stages: enough to
    #: be quick, few enough not to time out the app's ArangoDB lookups while
    #: every idle run connects at once on two cores.
    idle_concurrency: int = 20
    #: Upper bound for opening one idle stage, in seconds.
    idle_deadline: float = 1800
    #: Memory runs (fresh servers each); memory varies far less between runs than throughput.
    idle_runs: int = 3

    @property
    def sessions(self) -> int:
        """Logged-in sessions the benchmark needs so that no two sockets of a step share one."""
        return max(*self.idle_stages, self.connect_n, self.upgrade_n, self.echo_clients, self.fanout_clients)

    #: Load generator processes per throughput step: one node process is one
    #: event loop, and on the fastest steps a single one was the bottleneck.
    generators: int = 2


FULL = Sizes(
    # Five throughput runs: single steps move by up to ±30% on a shared
    # virtual machine, and the median of five paired ratios holds steadier.
    runs=5,
    connect_n=1000,
    connect_concurrency=50,
    upgrade_n=200,
    refused_n=600,
    idle_stages=(2000, 10000),
    idle_hold_seconds=60,
    echo_clients=100,
    echo_per_client=150,
    fanout_clients=1000,
    fanout_rounds=20,
    step_deadline=180,
)

QUICK = Sizes(
    runs=1,
    connect_n=40,
    connect_concurrency=10,
    upgrade_n=20,
    refused_n=30,
    idle_stages=(30, 60),
    idle_hold_seconds=2,
    echo_clients=10,
    echo_per_client=20,
    fanout_clients=20,
    fanout_rounds=5,
    step_deadline=60,
    idle_runs=1,
)


def _spec(target: Target, mode: str, sizes: Sizes, **fields: t.Any) -> dict[str, t.Any]:
    return {
        "mode": mode,
        "label": target.name,
        "url": target.url,
        "cookie": target.cookie,
        "cookieFile": str(target.cookie_file) if target.cookie_file else None,
        "concurrency": sizes.connect_concurrency,
        "deadlineSeconds": sizes.step_deadline,
        **fields,
    }


def _split(spec: dict[str, t.Any], sizes: Sizes, field: str) -> list[dict[str, t.Any]]:
    """One spec per generator process, each with its share of ``spec[field]`` and of the concurrency.

    Shares differ by at most one, and no process gets none of ``field`` (so
    there are fewer processes when there is little work). Each keeps at least
    one connect in flight: run.js reads a concurrency of 0 as its default.
    """
    parts = max(1, min(sizes.generators, spec[field]))
    return [
        {
            **spec,
            "label": f"{spec['label']}-{index + 1}",
            field: _share(spec[field], parts, index),
            "concurrency": max(1, _share(spec["concurrency"], parts, index)),
            # Each process starts at its own place in the cookie file, so no
            # two sockets of a step share a session.
            "cookieOffset": sum(_share(spec[field], parts, before) for before in range(index)),
        }
        for index in range(parts)
    ]


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def _longest(results: t.Sequence[dict[str, t.Any]]) -> float:
    """The step's length: the processes start together, the slowest one ends it."""
    return max(result["seconds"] for result in results)


def _merged_errors(results: t.Sequence[dict[str, t.Any]]) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for result in results:
        counts.update(result["errors"])
    return dict(counts)


def _latency_ms(results: t.Sequence[dict[str, t.Any]]) -> dict[str, float | None]:
    """p50, p99 and max over every process's raw latencies (nearest rank, as run.js)."""
    samples = sorted(ms for result in results for ms in result["latenciesMs"])
    return {"p50": _percentile(samples, 50), "p99": _percentile(samples, 99), "max": samples[-1] if samples else None}


def _percentile(ordered: t.Sequence[float], p: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def _loadgen_fields(results: t.Sequence[dict[str, t.Any]]) -> dict[str, float]:
    """What the generator processes cost over one step.

    The busiest process's CPU and event loop say whether any one generator was
    the bottleneck; the total is what the whole client cost.
    """
    cpu = [result["cpuPercent"] for result in results]
    return {
        "loadgen_processes": len(results),
        "loadgen_cpu_percent": max(cpu),
        "loadgen_cpu_percent_total": sum(cpu),
        "loadgen_event_loop_percent": max(result["eventLoopPercent"] for result in results),
    }


class StepMeter:
    """Server CPU, ArangoDB requests and background load over one measured step.

    ``start()`` right before ``go``, ``stop()`` right after the result line.
    Background is the CPU every other process on the machine used meanwhile
    (in % of one core): other work on a shared machine skews a run, and this
    shows by how much.
    """

    def __init__(self, target: Target, arango: ArangoServer | None, generator_pids: t.Iterable[int]) -> None:
        self.target = target
        self.arango = arango if target.uses_arango else None
        self.ours = [target.tree, *(ProcessTree(pid) for pid in generator_pids)]
        if arango is not None:
            self.ours.append(arango.tree)

    def start(self) -> None:
        if self.arango is not None:
            self.arango.reset()
        self._wall = time.monotonic()
        self._server = self.target.tree.cpu_seconds()
        self._ours = sum(tree.cpu_seconds() for tree in self.ours)
        self._machine = _machine_busy_seconds()

    def stop(self) -> None:
        self.seconds = time.monotonic() - self._wall
        self.server_cpu = self.target.tree.cpu_seconds() - self._server
        ours = sum(tree.cpu_seconds() for tree in self.ours) - self._ours
        background = _machine_busy_seconds() - self._machine - ours
        self.background_percent = max(0.0, 100 * background / self.seconds)
        self.arango_requests = None if self.arango is None else self.arango.request_count()

    def fields(self, step_seconds: float) -> dict[str, t.Any]:
        return {
            "server_cpu_percent": 100 * self.server_cpu / step_seconds,
            "background_cpu_percent": self.background_percent,
            "arango_requests": self.arango_requests,
        }


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (guest time is inside user)."""
    times = psutil.cpu_times()
    busy = ("user", "nice", "system", "irq", "softirq", "steal")
    return sum(getattr(times, name, 0.0) for name in busy)


def connect(
    target: Target,
    sizes: Sizes,
    log_dir: Path,
    *,
    kind: str,
    arango: ArangoServer | None = None,
) -> dict[str, t.Any]:
    """Connect ``n`` sockets (``kind``: websocket, upgrade or refused), then close them.

    Sockets stay open until the connect step ends, so the server CPU read over
    the step is the cost of connecting; closing them is measured separately.
    """
    n = {"websocket": sizes.connect_n, "upgrade": sizes.upgrade_n, "refused": sizes.refused_n}[kind]
    fields: dict[str, t.Any] = {"n": n, "expect": "connect", "transports": ["websocket"]}
    if kind == "upgrade":
        fields.update(expect="upgrade", transports=["polling", "websocket"])
    elif kind == "refused":
        fields.update(expect="refused", cookie="", cookieFile=None)
    spec = _spec(target, "connect", sizes, **fields)
    with LoadGenerators(_split(spec, sizes, "n"), log_dir) as gens:
        meter = StepMeter(target, arango, gens.pids)
        gens.expect("ready", STEP_GRACE)
        meter.start()
        gens.go()
        results = gens.expect("result", sizes.step_deadline + STEP_GRACE)
        meter.stop()
        close_before = target.tree.cpu_seconds()
        gens.go()
        closed = sum(result["closed"] for result in gens.expect("result", STEP_GRACE))
        target.tree.wait_until_idle()
        cpu_close = target.tree.cpu_seconds() - close_before
    succeeded = sum(result["succeeded"] for result in results)
    seconds = _longest(results)
    return {
        "n": n,
        "succeeded": succeeded,
        "failed": sum(result["failed"] for result in results),
        "errors": _merged_errors(results),
        "per_second": succeeded / seconds,
        "latency_ms": _latency_ms(results),
        "server_cpu_ms_per_connect": 1000 * meter.server_cpu / max(succeeded, 1),
        "server_cpu_ms_per_close": 1000 * cpu_close / max(closed, 1),
        "arango_requests_per_connect": (
            None if meter.arango_requests is None else meter.arango_requests / max(succeeded, 1)
        ),
        **meter.fields(seconds),
        **_loadgen_fields(results),
    }


def echo(target: Target, sizes: Sizes, log_dir: Path, *, arango: ArangoServer | None = None) -> dict[str, t.Any]:
    """``clients`` sockets each send ``per_client`` acked echo events, one at a time."""
    spec = _spec(target, "echo", sizes, clients=sizes.echo_clients, perClient=sizes.echo_per_client)
    with LoadGenerators(_split(spec, sizes, "clients"), log_dir) as gens:
        meter = StepMeter(target, arango, gens.pids)
        ready = gens.expect("ready", sizes.step_deadline + STEP_GRACE)
        target.tree.wait_until_idle()  # the connects' own work is not the step's
        meter.start()
        gens.go()
        results = gens.expect("result", sizes.step_deadline + STEP_GRACE)
        meter.stop()
    acked = sum(result["acked"] for result in results)
    seconds = _longest(results)
    return {
        "clients": sum(each["open"] for each in ready),
        "acked": acked,
        "wrong": sum(result["wrong"] for result in results),
        "lost": sum(result["lost"] for result in results),
        "per_second": acked / seconds,
        "latency_ms": _latency_ms(results),
        "server_cpu_us_per_event": 1e6 * meter.server_cpu / max(acked, 1),
        **meter.fields(seconds),
        **_loadgen_fields(results),
    }


def fanout(target: Target, sizes: Sizes, log_dir: Path, *, arango: ArangoServer | None = None) -> dict[str, t.Any]:
    """``clients`` sockets join one conversation; one of them sends ``rounds`` messages.

    The sockets are spread over the generator processes. The first one sends
    and times the rounds; each of the others prints ``got`` when its sockets
    all have a round, which its reader thread relays to the sender at once.
    Once the sender's result is in, the others are told to stop and report.
    """
    spec = _spec(
        target,
        "fanout",
        sizes,
        clients=sizes.fanout_clients,
        rounds=sizes.fanout_rounds,
        conversation=f"bench-{target.name}",
    )
    sender_spec, *receiver_specs = _split(spec, sizes, "clients")
    sender_spec["receivers"] = len(receiver_specs)
    receiver_specs = [{**each, "role": "receive"} for each in receiver_specs]
    with LoadGenerators([sender_spec, *receiver_specs], log_dir) as gens:
        sender, *receivers = gens.members
        for receiver in receivers:
            receiver.relay_got_to(sender)
        meter = StepMeter(target, arango, gens.pids)
        ready = gens.expect("ready", sizes.step_deadline + STEP_GRACE)
        # The joins' own traffic (the reference app tells a conversation who
        # is online as each of 1,000 users joins) must be over: the step
        # measures the messages, not the setup's backlog.
        target.tree.wait_until_idle()
        meter.start()
        gens.go()
        sent = sender.expect("result", sizes.step_deadline + STEP_GRACE)
        for receiver in receivers:
            receiver.send("stop")
        results = [sent, *(receiver.expect("result", STEP_GRACE) for receiver in receivers)]
        meter.stop()
    delivered = sum(result["delivered"] for result in results)
    # The sender's time is the step's: the receivers' runs on until "stop" reaches them.
    seconds = sent["seconds"]
    return {
        "recipients": sum(each["joined"] for each in ready),
        "rounds": sent["rounds"],
        "incomplete_rounds": sent["incomplete"],
        "delivered": delivered,
        "per_second": delivered / seconds,
        "round_ms": sent["roundMs"],
        "server_cpu_us_per_delivery": 1e6 * meter.server_cpu / max(delivered, 1),
        "messages_sent": sent["rounds"] + sent["incomplete"],
        **meter.fields(seconds),
        **_loadgen_fields(results),
    }


def warm_up(target: Target, log_dir: Path) -> None:
    """A few connects so lazy imports and first-use caches are paid before measuring."""
    spec = _spec(target, "connect", QUICK, n=20, expect="connect", transports=["websocket"])
    with LoadGenerator(spec, log_dir) as gen:
        gen.expect("ready", STEP_GRACE)
        gen.go()
        gen.expect("result", STEP_GRACE)
        gen.go()
        gen.expect("result", STEP_GRACE)
    target.tree.wait_until_idle()


def idle_hold(
    targets: t.Sequence[Target],
    sizes: Sizes,
    log_dir: Path,
    progress: t.Callable[[str], None],
) -> dict[str, list[dict[str, t.Any]]]:
    """Open idle authenticated websockets up to each stage size on every target, and hold them.

    The servers are expected to be fresh (only warmed up); each one's RSS
    before the first stage is its zero point. Targets open their sockets one
    after the other, each at full speed, and are then held together for
    ``idle_hold_seconds`` (the first ones a little longer). Returns, per
    target, one entry per stage: RSS per socket at the end of the hold, and
    how many sockets were still connected.
    """
    rss_before = {target.name: target.tree.rss_bytes() for target in targets}
    stages: dict[str, list[dict[str, t.Any]]] = {target.name: [] for target in targets}
    open_timeout = sizes.idle_deadline + STEP_GRACE
    with contextlib.ExitStack() as stack:
        generators = {}
        for target in targets:
            spec = _spec(
                target,
                "idle",
                sizes,
                stages=list(sizes.idle_stages),
                concurrency=sizes.idle_concurrency,
                deadlineSeconds=sizes.idle_deadline,
            )
            generators[target.name] = stack.enter_context(LoadGenerator(spec, log_dir))
        for gen in generators.values():
            gen.expect("ready", STEP_GRACE)
        for size in sizes.idle_stages:
            for target in targets:
                gen = generators[target.name]
                gen.go()
                connected = gen.expect("connected", open_timeout)
                progress(
                    f"{target.process.name}: {connected['open']:,} idle sockets open"
                    f" ({connected['connectSeconds']:.0f} s)"
                )
            progress(f"holding {size:,} sockets per server for {sizes.idle_hold_seconds:g} s")
            time.sleep(sizes.idle_hold_seconds)
            for target in targets:
                gen = generators[target.name]
                gen.send("report")
                result = gen.expect("result", STEP_GRACE)
                rss = target.tree.rss_bytes()
                still = result["stillConnected"]
                stages[target.name].append(
                    {
                        "target_sockets": size,
                        "opened": result["open"],
                        "still_connected": still,
                        "dropped": result["dropped"],
                        "failed_to_open": result["failed"],
                        "errors": result["errors"],
                        "all_stayed": still == size and result["dropped"] == 0,
                        "connect_seconds": result["connectSeconds"],
                        "rss_bytes": rss,
                        "rss_kib_per_socket": (rss - rss_before[target.name]) / KIB / max(still, 1),
                        **_loadgen_fields([result]),
                    }
                )
        for gen in generators.values():
            gen.expect("done", STEP_GRACE)
    return stages
