"""How the benchmark summarises runs (pure: no servers)."""

from __future__ import annotations

from bench.metrics import Goal, Metric, _get, build_rows, paired_ratios
from bench.report import render_table

ECHO_CPU = _get("echo", "server_cpu_us_per_event")
METRIC = Metric("cpu_us_per_echo", "server CPU per echo event", "us", ECHO_CPU, False, Goal("ratio_at_most", 0.45))


def runs_of(*values: float | None) -> list[dict]:
    return [{} if v is None else {"echo": {"server_cpu_us_per_event": v}} for v in values]


def test_each_ratio_comes_from_one_run_and_the_goal_judges_their_median():
    # The machine slows down in run 2 for both targets: paired, the app is 0.4x every time;
    # a ratio of the medians (300 / 500) would say 0.6x and miss the goal.
    runs = {"app": runs_of(200, 400, 300), "baseline": runs_of(500, 1000, 750)}
    (row,) = build_rows(runs, [METRIC])
    assert (row.ratios.median, row.ratios.minimum, row.ratios.maximum) == (0.4, 0.4, 0.4)
    assert row.met is True
    assert row.summaries["app"].median == 300 and row.summaries["baseline"].median == 750


def test_a_run_missing_either_value_gives_no_ratio():
    ratios = paired_ratios(ECHO_CPU, runs_of(100, None, 300), runs_of(200, 400, 0))
    assert (ratios.median, ratios.count) == (0.5, 1)
    assert paired_ratios(ECHO_CPU, runs_of(None), runs_of(100)) is None


def test_the_table_shows_the_median_ratio_and_its_range():
    runs = {"app": runs_of(200, 600, 300), "baseline": runs_of(500, 1000, 1000), "tuned": runs_of(400, 400, 400)}
    table = render_table(build_rows(runs, [METRIC]), ("app", "baseline", "tuned"))
    row = table.splitlines()[2]
    assert "0.40x (0.30–0.60)" in row  # app: 0.4, 0.6, 0.3
    assert "0.40x (0.40–0.80)" in row  # tuned: 0.8, 0.4, 0.4
    assert "NOT met" not in row and "met" in row
