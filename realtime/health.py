"""Health endpoints: ``/healthz`` (this process answers) and ``/readyz`` (its dependencies do).

Both answer from memory in milliseconds, whatever the database is doing.
``/healthz`` looks at nothing but the process. ``/readyz`` reports the last
known state of each registered dependency check; it never waits on a
dependency itself. That state comes from two sources:

- a background probe per check (the first ``/readyz`` request starts them),
  every ``REALTIME_HEALTH_INTERVAL`` seconds; a probe still running after
  ``REALTIME_HEALTH_TIMEOUT`` seconds counts as failing from then on, even
  before the driver's own timeout fires;
- the outcome of real calls: a socket accepted proves the session store
  answered, a failed store request (``signals.store_failed``) that it did not.

The latest observation wins. Other parts add their own dependencies with
:func:`add_check` (and :func:`report` for the outcome of real calls), e.g. the
message queue.
"""

from __future__ import annotations

import logging
import threading
import time
import typing as t
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, jsonify
from werkzeug.wrappers import Response

from . import signals
from .errors import ConfigError, RealtimeError
from .state import RealtimeState, get_state

logger = logging.getLogger(__name__)

#: The check every app has.
SESSION_STORE = "session_store"

Probe = Callable[[], object]


def describe_failure(exc: BaseException) -> str:
    """What a failed probe reports: our own errors are written log-safe; others only by class."""
    if isinstance(exc, RealtimeError):
        return str(exc)
    return f"{type(exc).__name__} raised by the probe"


@dataclass(frozen=True)
class Observation:
    """One thing learned about a dependency: whether it worked, and when."""

    ok: bool
    detail: str
    source: str
    at: float
    latency: float | None = None


class Check:
    """One named dependency: how to probe it, and what is known about it."""

    def __init__(self, name: str, probe: Probe, *, critical: bool = True) -> None:
        self.name = name
        self.probe = probe
        self.critical = critical
        self.last: Observation | None = None
        #: Clock time at which the running probe started, if one runs.
        self.probing_since: float | None = None
        self._lock = threading.Lock()

    def observe(self, observation: Observation) -> None:
        with self._lock:
            if self.last is None or observation.at >= self.last.at:
                self.last = observation

    def run_probe(self, clock: Callable[[], float]) -> Observation:
        started = clock()
        self.probing_since = started
        try:
            self.probe()
        except Exception as exc:  # noqa: BLE001 - a probe failing in any way is the answer
            observation = Observation(False, describe_failure(exc), "probe", clock(), clock() - started)
        else:
            observation = Observation(True, "", "probe", clock(), clock() - started)
        finally:
            self.probing_since = None
        self.observe(observation)
        return observation

    def state(self, now: float, timeout: float) -> dict[str, t.Any]:
        """This check's part of the ``/readyz`` answer."""
        last, since = self.last, self.probing_since
        if since is not None and now - since > timeout:
            # The probe hangs: the dependency is too slow to count on, whatever it last said.
            return {
                "status": "failing",
                "critical": self.critical,
                "detail": f"no answer to the probe within {timeout:g} s",
                "source": "probe",
                "age_seconds": round(now - since, 3),
            }
        if last is None:
            return {"status": "unknown", "critical": self.critical, "detail": "not checked yet"}
        state: dict[str, t.Any] = {
            "status": "ok" if last.ok else "failing",
            "critical": self.critical,
            "source": last.source,
            "age_seconds": round(max(0.0, now - last.at), 3),
        }
        if last.detail:
            state["detail"] = last.detail
        if last.latency is not None:
            state["latency_ms"] = round(last.latency * 1000, 1)
        return state


class Readiness:
    """The registry of named checks, their background probes and the ``/readyz`` answer.

    :param interval: seconds between two probes of a check.
    :param timeout: seconds after which a running probe counts as failing.
    :param clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, *, interval: float = 5.0, timeout: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.timeout = timeout
        self.clock = clock
        self.checks: dict[str, Check] = {}
        self._started: set[str] = set()
        self._stopped = False
        self._lock = threading.Lock()

    def add(self, name: str, probe: Probe, *, critical: bool = True) -> Check:
        if name in self.checks:
            raise ValueError(f"a health check named {name!r} exists already")
        check = self.checks[name] = Check(name, probe, critical=critical)
        return check

    def report(self, name: str, ok: bool, detail: str = "", source: str = "report") -> None:
        """Record the outcome of a real call to dependency ``name``."""
        check = self.checks.get(name)
        if check is not None:
            check.observe(Observation(ok, detail, source, self.clock()))

    def snapshot(self) -> tuple[bool, dict[str, t.Any]]:
        """``(ready, body)``: ready when every critical check is ok."""
        now = self.clock()
        states = {name: check.state(now, self.timeout) for name, check in self.checks.items()}
        critical = [s["status"] for s in states.values() if s["critical"]]
        if all(status == "ok" for status in critical):
            status = "ready"
        elif "failing" in critical:
            status = "degraded"
        else:
            status = "starting"
        return status == "ready", {"status": status, "checks": states}

    # -- background probes ---------------------------------------------------

    def start(self, spawn: Callable[..., t.Any], sleep: Callable[[float], t.Any]) -> bool:
        """Start one probe loop per check not yet probed; return whether any started.

        Idempotent and cheap, so it is called on every ``/readyz``: probes
        start with the first one, and a check added later gets its own loop.
        """
        with self._lock:
            if self._stopped:
                return False
            new = [check for name, check in self.checks.items() if name not in self._started]
            self._started.update(check.name for check in new)
        for check in new:
            spawn(self._probe_forever, check, sleep)
        return bool(new)

    def _probe_forever(self, check: Check, sleep: Callable[[float], t.Any]) -> None:
        while not self._stopped:
            observation = check.run_probe(self.clock)
            if not observation.ok:
                logger.warning("Health check %s failing: %s", check.name, observation.detail)
            sleep(self.interval)

    def wait_for_first_results(self, budget: float, sleep: Callable[[float], t.Any]) -> None:
        """Give just-started probes up to ``budget`` seconds to report, so a healthy app is ready at once."""
        deadline = self.clock() + budget
        while any(check.last is None for check in self.checks.values()) and self.clock() < deadline:
            sleep(0.005)

    def stop(self) -> None:
        """End the probe loops after their current sleep."""
        self._stopped = True


bp = Blueprint("realtime_health", __name__)

#: Longest the first ``/readyz`` waits for the probes it starts, well inside its 100 ms budget.
FIRST_RESULT_BUDGET = 0.05


def _no_store(body: dict[str, t.Any], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers. Touches no dependency, so restarts are not caused by a database."""
    return _no_store({"status": "ok"}, 200)


@bp.get("/readyz")
def readyz() -> Response:
    """Readiness: the last known state of every dependency, 200 when all critical ones are ok, else 503."""
    readiness = get_readiness()
    socketio = get_state().socketio
    if readiness.start(socketio.start_background_task, socketio.sleep):
        readiness.wait_for_first_results(FIRST_RESULT_BUDGET, socketio.sleep)
    ready, body = readiness.snapshot()
    return _no_store(body, 200 if ready else 503)


def get_readiness(app: Flask | None = None) -> Readiness:
    return (app or current_app).extensions["realtime.health"]


def add_check(app: Flask, name: str, probe: Probe, *, critical: bool = True) -> Check:
    """Add a dependency to ``/readyz``: ``probe()`` raises when it is not usable.

    A probe may block up to its driver's timeout; it runs in the background
    and ``/readyz`` reports it failing once it runs longer than
    ``REALTIME_HEALTH_TIMEOUT``. Exception messages of :class:`RealtimeError`
    are shown as they are, others only by class name (they may carry URLs).
    """
    return get_readiness(app).add(name, probe, critical=critical)


def report(app: Flask, name: str, ok: bool, detail: str = "", source: str = "report") -> None:
    """Record the outcome of a real call to a dependency (``detail`` must be log-safe)."""
    get_readiness(app).report(name, ok, detail, source)


class _StoreOutcomes:
    """Feeds the outcome of real store calls into the session store check (:mod:`realtime.signals` receivers)."""

    def __init__(self, readiness: Readiness) -> None:
        self.readiness = readiness

    def connected(self, sender: Flask, **kwargs: t.Any) -> None:
        self.readiness.report(SESSION_STORE, True, source="socket_connect")

    def failed(self, sender: Flask, operation: str = "request", **kwargs: t.Any) -> None:
        self.readiness.report(SESSION_STORE, False, f"a {operation} request to the store failed", source=operation)


def init_app(app: Flask, state: RealtimeState) -> Readiness:
    """Set up the checks of ``app`` and, with ``REALTIME_HEALTH_ENDPOINTS``, its two routes."""
    config = app.config
    interval, timeout = float(config["REALTIME_HEALTH_INTERVAL"]), float(config["REALTIME_HEALTH_TIMEOUT"])
    if interval <= 0 or timeout <= 0:
        raise ConfigError(
            f"REALTIME_HEALTH_INTERVAL={interval:g} and REALTIME_HEALTH_TIMEOUT={timeout:g} must both be more than"
            " 0 seconds (e.g. 5 and 1)."
        )
    readiness = Readiness(interval=interval, timeout=timeout)
    readiness.add(SESSION_STORE, state.store.ping)
    outcomes = _StoreOutcomes(readiness)
    app.extensions["realtime.health"] = readiness
    app.extensions["realtime.health.receivers"] = outcomes  # signals hold receivers weakly
    signals.socket_connected.connect(outcomes.connected, sender=app)
    signals.store_failed.connect(outcomes.failed, sender=app)
    if config["REALTIME_HEALTH_ENDPOINTS"]:
        app.register_blueprint(bp)
        state.exempt_endpoints.update({"realtime_health.healthz", "realtime_health.readyz"})
    return readiness
