"""Render the summarised rows as a Markdown table and write the JSON results. Pure text."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

from bench.metrics import Row, Summary

TARGET_NAMES = ("app", "baseline", "tuned", "peer")


def _number(value: float, digits: int) -> str:
    if digits == 0 and abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{value:,.{max(digits, 1 if abs(value) < 10 else 0)}f}"


def format_summary(summary: Summary | None, digits: int, boolean: bool = False) -> str:
    """``median (min–max)``; for yes/no metrics ``yes``, ``no`` or ``not in every run``."""
    if summary is None:
        return "–"
    if boolean:
        if summary.minimum >= 1.0:
            return "yes"
        return "no" if summary.maximum < 1.0 else "not in every run"
    text = _number(summary.median, digits)
    if summary.count > 1 and summary.minimum != summary.maximum:
        text += f" ({_number(summary.minimum, digits)}–{_number(summary.maximum, digits)})"
    return text


def format_ratios(ratios: Summary | None) -> str:
    """``0.95x (0.85–1.19)``: the median of the per-run ratios and their range."""
    if ratios is None:
        return ""
    if ratios.count == 1:
        return f"{ratios.median:.2f}x"
    return f"{ratios.median:.2f}x ({ratios.minimum:.2f}–{ratios.maximum:.2f})"


def _label(row: Row) -> str:
    unit = row.metric.unit
    return row.metric.label if unit in ("", "/s") else f"{row.metric.label} ({unit})"


def _met(row: Row) -> str:
    if row.met is None:
        return "" if row.metric.goal is None else "?"
    return "met" if row.met else "NOT met"


def render_table(rows: t.Sequence[Row], targets: t.Sequence[str] = TARGET_NAMES) -> str:
    """A Markdown table: one row per metric, one column per target, ratio, goal."""
    header = ["metric", *targets, "app ÷ baseline", "tuned ÷ baseline", "target", ""]
    lines = [header]
    for row in rows:
        boolean = row.metric.goal is not None and row.metric.goal.kind == "all_true"
        cells = [_label(row)]
        cells += [format_summary(row.summaries.get(name), row.metric.digits, boolean) for name in targets]
        cells.append("" if boolean else format_ratios(row.ratios))
        cells.append("" if boolean else format_ratios(row.floor_ratios))
        cells.append(row.metric.goal.describe() if row.metric.goal else "")
        cells.append(_met(row))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(lines[0]), rule, *(fmt(cells) for cells in lines[1:])])


def write_json(path: Path, document: t.Mapping[str, t.Any]) -> None:
    """Write the results document (rows plus raw per-run data) as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
