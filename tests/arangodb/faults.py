"""Fault injection and request counters for reliability tests and benchmarks.

Only this test server has them; they live under ``/_test/`` (see
``tests/arangodb/__init__.py``). Requests to ``/_test/`` are never delayed,
failed or counted.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import typing as t

from .errors import ArangoError

#: Route kinds the counters distinguish.
KINDS = ("document_read", "document_write", "cursor", "index", "other")


@dataclasses.dataclass
class FaultPlan:
    """What to do to every request that is not under ``/_test/``.

    :param latency_ms: delay before handling, in milliseconds.
    :param fail_reads: answer reads (GET, HEAD, ``PUT ?onlyget``, read-only
        cursors, logins) with 503.
    :param fail_writes: answer writes (every other POST/PUT/PATCH/DELETE,
        including the purge query) with 503.
    :param reset: close the connection without any response (TCP reset).
    :param error_num: ``errorNum`` of the 503 body. With 503 (the default)
        python-arango treats the reply as a dead host and retries, then raises
        ``ConnectionAbortedError``; another number (e.g. 30, "shutdown in
        progress") makes it raise the operation's ``ArangoServerError``.
    :param drip_ms: write each response one byte at a time, this many
        milliseconds apart (a database that answers, but ever so slowly).
    :param times: apply the failing and resetting faults to this many more
        matching requests only, then drop them (latency and drip stay); None =
        until cleared.
    """

    latency_ms: float = 0
    fail_reads: bool = False
    fail_writes: bool = False
    reset: bool = False
    error_num: int = 503
    drip_ms: float = 0
    times: int | None = None

    @classmethod
    def from_json(cls, data: t.Any) -> FaultPlan:
        """Validate a ``PUT /_test/faults`` body."""
        if not isinstance(data, dict):
            raise ArangoError(400, "fault plan must be a JSON object")
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ArangoError(400, f"unknown fault setting(s) {unknown}; known: {sorted(fields)}")
        plan = cls(**data)
        if not isinstance(plan.latency_ms, (int, float)) or plan.latency_ms < 0:
            raise ArangoError(400, "latency_ms must be a number >= 0")
        if not isinstance(plan.drip_ms, (int, float)) or plan.drip_ms < 0:
            raise ArangoError(400, "drip_ms must be a number >= 0")
        if not isinstance(plan.error_num, int):
            raise ArangoError(400, "error_num must be an integer")
        if plan.times is not None and (not isinstance(plan.times, int) or plan.times < 0):
            raise ArangoError(400, "times must be null or an integer >= 0")
        return plan

    def to_json(self) -> dict[str, t.Any]:
        """The plan as ``GET /_test/faults`` shows it."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the server does to one request."""

    delay: float = 0.0
    action: str | None = None  # None, "fail" or "reset"
    error_num: int = 503
    #: Seconds between the bytes of the response (0: written at once).
    drip: float = 0.0


class Faults:
    """The current :class:`FaultPlan`, safe to use from every handler thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan = FaultPlan()

    @property
    def plan(self) -> FaultPlan:
        """A copy of the plan in force."""
        with self._lock:
            return dataclasses.replace(self._plan)

    def set(self, plan: FaultPlan) -> None:
        """Replace the plan."""
        with self._lock:
            self._plan = plan

    def clear(self) -> None:
        """Back to normal service."""
        self.set(FaultPlan())

    def decide(self, *, is_write: bool) -> Decision:
        """What to do to a request, counting it against ``times``."""
        with self._lock:
            plan = self._plan
            delay, drip = plan.latency_ms / 1000, plan.drip_ms / 1000
            if plan.reset:
                action = "reset"
            elif plan.fail_writes if is_write else plan.fail_reads:
                action = "fail"
            else:
                return Decision(delay, drip=drip)
            if plan.times is not None:
                if plan.times <= 0:
                    return Decision(delay, drip=drip)
                plan.times -= 1
            return Decision(delay, action, plan.error_num, drip)


class RequestStats:
    """Counts requests by method and route kind since start or last reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._since = time.time()
            self._methods: dict[str, int] = {}
            self._kinds = dict.fromkeys(KINDS, 0)
            self._faults = {"delayed": 0, "failed": 0, "reset": 0, "dripped": 0}
            self._connections = 0

    def record_connection(self) -> None:
        """Count a connection that carried its first API (non-``/_test/``) request."""
        with self._lock:
            self._connections += 1

    def record(self, method: str, kind: str, decision: Decision) -> None:
        """Count one request and the fault applied to it."""
        with self._lock:
            self._methods[method] = self._methods.get(method, 0) + 1
            self._kinds[kind] += 1
            if decision.delay:
                self._faults["delayed"] += 1
            if decision.drip:
                self._faults["dripped"] += 1
            if decision.action == "fail":
                self._faults["failed"] += 1
            elif decision.action == "reset":
                self._faults["reset"] += 1

    def snapshot(self) -> dict[str, t.Any]:
        """The counters as ``GET /_test/stats`` returns them."""
        with self._lock:
            return {
                "since": self._since,
                "total": sum(self._methods.values()),
                "by_method": dict(self._methods),
                "by_kind": dict(self._kinds),
                "faults": dict(self._faults),
                "connections": self._connections,
            }
