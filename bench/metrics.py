"""The metrics the benchmark reports, and how runs are summarised. Pure, no I/O.

Each :class:`Metric` knows how to pull one number out of one run's scenario
results, whether larger is better, and the target the issue sets for the app
(as a ratio to the baseline from the same run, or as an absolute value).
"""

from __future__ import annotations

import dataclasses
import statistics
import typing as t

#: How far an "equals" goal may be off (requests per connect or per event).
EQUALS_TOLERANCE = 0.01

#: One run of one target: scenario name -> what :mod:`bench.scenarios` returned.
RunResult = t.Mapping[str, t.Any]


@dataclasses.dataclass(frozen=True)
class Goal:
    """What the app must reach on one metric.

    ``kind`` is ``ratio_at_most`` / ``ratio_at_least`` (the median over runs of
    app ÷ baseline within each run), ``equals`` (the app's own median) or ``all_true``.
    """

    kind: str
    value: float = 0.0

    def describe(self) -> str:
        if self.kind == "ratio_at_most":
            return f"<= {self.value:g}x"
        if self.kind == "ratio_at_least":
            return f">= {self.value:g}x"
        if self.kind == "equals":
            return f"= {self.value:g}"
        return "all held"

    def met(self, app: Summary | None, ratio: float | None) -> bool | None:
        """True/False, or None when there is nothing to judge (no data)."""
        if self.kind == "ratio_at_most":
            return None if ratio is None else ratio <= self.value
        if self.kind == "ratio_at_least":
            return None if ratio is None else ratio >= self.value
        if app is None:
            return None
        if self.kind == "equals":
            # Every run must match, not just the median. The tolerance only
            # absorbs periodic work that is caused by neither connects nor
            # events (the app's batched revalidation read every 30 s can land
            # in a measured window): 1 request in 15,000 events is 0.00007.
            return all(abs(v - self.value) < EQUALS_TOLERANCE for v in (app.minimum, app.maximum))
        return app.minimum >= 1.0


@dataclasses.dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    extract: t.Callable[[RunResult], float | None]
    higher_is_better: bool | None = None
    goal: Goal | None = None
    #: Digits after the point when printed.
    digits: int = 0


@dataclasses.dataclass(frozen=True)
class Summary:
    median: float
    minimum: float
    maximum: float
    count: int

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def summarize(values: t.Iterable[float | None]) -> Summary | None:
    """Median and range of the runs that produced a value (None when none did)."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return Summary(statistics.median(present), min(present), max(present), len(present))


def paired_ratios(
    extract: t.Callable[[RunResult], float | None], runs: t.Sequence[RunResult], baseline_runs: t.Sequence[RunResult]
) -> Summary | None:
    """Median and range of ``runs[i] ÷ baseline_runs[i]``: each ratio from one run.

    A run's steps for one workload are taken back to back on every target,
    so a ratio within a run cancels the drift of a shared machine's speed
    (single steps moved by ±30% here); a ratio of medians taken over
    different runs would not. Runs missing either value, or with a zero
    baseline, give no ratio.
    """
    values = []
    for run, baseline_run in zip(runs, baseline_runs, strict=False):
        value, baseline = extract(run), extract(baseline_run)
        if value is not None and baseline:
            values.append(value / baseline)
    return summarize(values)


def _get(*path: str | int) -> t.Callable[[RunResult], float | None]:
    def extract(run: RunResult) -> float | None:
        value: t.Any = run
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return None if value is None else float(value)

    return extract


def _all_stayed(stage: int) -> t.Callable[[RunResult], float | None]:
    def extract(run: RunResult) -> float | None:
        try:
            return 1.0 if run["idle"][stage]["all_stayed"] else 0.0
        except (KeyError, IndexError, TypeError):
            return None

    return extract


def _arango_per_event(run: RunResult) -> float | None:
    try:
        echo, fanout = run["echo"], run["fanout"]
        if echo["arango_requests"] is None or fanout["arango_requests"] is None:
            return None
        events = echo["acked"] + fanout["messages_sent"]
        return (echo["arango_requests"] + fanout["arango_requests"]) / max(events, 1)
    except (KeyError, TypeError):
        return None


def _max_over_steps(field: str) -> t.Callable[[RunResult], float | None]:
    def extract(run: RunResult) -> float | None:
        steps: list[t.Any] = [v for k, v in run.items() if k != "idle" and isinstance(v, dict)]
        steps.extend(run.get("idle") or [])
        values = [s[field] for s in steps if isinstance(s, dict) and s.get(field) is not None]
        return max(values) if values else None

    return extract


def catalogue(idle_stages: t.Sequence[int], echo_clients: int, fanout_clients: int) -> list[Metric]:
    """Every reported metric, in table order, labelled with the workload sizes."""
    small, large = idle_stages[0], idle_stages[-1]
    return [
        Metric("connect_websocket_per_s", "auth connects/s (websocket)", "/s",
               _get("connect_websocket", "per_second"), True, Goal("ratio_at_least", 0.85)),
        Metric("connect_upgrade_per_s", "auth connects/s (polling->upgrade)", "/s",
               _get("connect_upgrade", "per_second"), True),
        Metric("refused_per_s", "refused connects/s (no cookie)", "/s",
               _get("connect_refused", "per_second"), True),
        Metric("cpu_ms_per_connect", "server CPU per connect (websocket)", "ms",
               _get("connect_websocket", "server_cpu_ms_per_connect"), False, digits=2),
        Metric("cpu_ms_per_close", "server CPU per disconnect", "ms",
               _get("connect_websocket", "server_cpu_ms_per_close"), False, digits=2),
        Metric("connect_server_cpu_percent", "server CPU busy during connects", "%",
               _get("connect_websocket", "server_cpu_percent"), None),
        Metric("idle_small_rss_kib", f"RSS per idle auth websocket, {small:,} held",
               "KiB", _get("idle", 0, "rss_kib_per_socket"), False,
               Goal("ratio_at_most", 0.35), 1),
        Metric("idle_small_all_stayed", f"all {small:,} stayed connected", "",
               _all_stayed(0), True, Goal("all_true")),
        Metric("idle_large_rss_kib", f"RSS per idle auth websocket, {large:,} held",
               "KiB", _get("idle", -1, "rss_kib_per_socket"), False,
               Goal("ratio_at_most", 0.35), 1),
        Metric("idle_large_all_stayed", f"all {large:,} stayed connected", "",
               _all_stayed(-1), True, Goal("all_true")),
        Metric("echo_per_s", f"echo (ack) events/s, {echo_clients:,} clients", "/s",
               _get("echo", "per_second"), True),
        Metric("cpu_us_per_echo", "server CPU per echo event", "us",
               _get("echo", "server_cpu_us_per_event"), False, Goal("ratio_at_most", 0.45)),
        Metric("fanout_per_s", f"fan-out to {fanout_clients:,} sockets: delivered msgs/s", "/s",
               _get("fanout", "per_second"), True, Goal("ratio_at_least", 1.8)),
        Metric("fanout_p50_ms", "fan-out time until all received, p50", "ms",
               _get("fanout", "round_ms", "p50"), False, digits=1),
        Metric("fanout_p99_ms", "fan-out time until all received, p99", "ms",
               _get("fanout", "round_ms", "p99"), False, digits=1),
        Metric("cpu_us_per_delivery", "server CPU per delivered fan-out msg", "us",
               _get("fanout", "server_cpu_us_per_delivery"), False, digits=1),
        Metric("arango_per_connect", "ArangoDB requests per connect", "",
               _get("connect_websocket", "arango_requests_per_connect"), False,
               Goal("equals", 1), 2),
        Metric("arango_per_event", "ArangoDB requests per event", "",
               _arango_per_event, False, Goal("equals", 0), 2),
        Metric("loadgen_cpu_percent", "load generator CPU, max over steps", "%",
               _max_over_steps("loadgen_cpu_percent")),
        Metric("loadgen_event_loop_percent", "load generator event loop busy, max", "%",
               _max_over_steps("loadgen_event_loop_percent")),
        Metric("background_cpu_percent", "other processes' CPU during steps, max", "%",
               _max_over_steps("background_cpu_percent")),
    ]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Row:
    """One metric across targets, ready to print or serialise."""

    metric: Metric
    summaries: dict[str, Summary | None]
    #: app ÷ baseline, one ratio per run (see :func:`paired_ratios`); the goal judges its median.
    ratios: Summary | None
    met: bool | None
    #: tuned ÷ baseline: how far realtime's performance options alone go, with no authentication.
    floor_ratios: Summary | None = None

    @property
    def ratio(self) -> float | None:
        return None if self.ratios is None else self.ratios.median

    @property
    def floor_ratio(self) -> float | None:
        return None if self.floor_ratios is None else self.floor_ratios.median

    def as_dict(self) -> dict[str, t.Any]:
        return {
            "key": self.metric.key,
            "label": self.metric.label,
            "unit": self.metric.unit,
            "higher_is_better": self.metric.higher_is_better,
            "values": {name: (s.as_dict() if s is not None else None) for name, s in self.summaries.items()},
            "app_vs_baseline": self.ratio,
            "app_vs_baseline_runs": self.ratios.as_dict() if self.ratios else None,
            "tuned_vs_baseline": self.floor_ratio,
            "tuned_vs_baseline_runs": self.floor_ratios.as_dict() if self.floor_ratios else None,
            "target": self.metric.goal.describe() if self.metric.goal else None,
            "met": self.met,
        }


def build_rows(runs: t.Mapping[str, t.Sequence[RunResult]], metrics: t.Sequence[Metric]) -> list[Row]:
    """Summarise every metric for every target; judge the app's targets."""
    rows = []
    for metric in metrics:
        summaries = {name: summarize(metric.extract(run) for run in target_runs) for name, target_runs in runs.items()}
        baseline = runs.get("baseline", ())
        ratios = paired_ratios(metric.extract, runs.get("app", ()), baseline)
        met = metric.goal.met(summaries.get("app"), None if ratios is None else ratios.median) if metric.goal else None
        floor_ratios = paired_ratios(metric.extract, runs.get("tuned", ()), baseline)
        rows.append(Row(metric, summaries, ratios, met, floor_ratios))
    return rows
