"""Graceful deploys: on SIGTERM, take no new sockets and move the connected ones, spread over a window.

A PaaS restarts an instance by sending SIGTERM and, 30 s later, SIGKILL. Left
alone, every socket of the instance would drop at the same moment and
reconnect at once: a thundering herd of connects (each one a session read) on
the instances that remain. Instead, :class:`Drain`:

1. refuses new sockets at once, with reason ``shutting_down`` (the listening
   socket is closed by gunicorn too, so new connections go elsewhere), and
   makes ``/readyz`` fail;
2. gives every connected socket a moment spread over
   ``REALTIME_SHUTDOWN_JITTER`` seconds (one per equal slice of the window,
   at a random point of it, so the reconnects arrive evenly); at its moment
   the socket receives the event ``server_shutdown`` ``{"reason":
   "shutting_down"}`` and is then disconnected from the server side;
3. after the window, closes whatever Engine.IO connection is left, so
   gunicorn's worker finds no open request and exits well within the 30 s.

The client contract (the reference app's JS follows it): after
``server_shutdown``, the disconnect that follows (``io server disconnect``)
means "connect again now", unlike the one after ``session_ended``. A
connect refused with ``data.reason == "shutting_down"`` (it reached this
instance on a kept-alive connection) is retried after 1-3 s.

Under gunicorn, ``gunicorn.conf.py`` installs the SIGTERM handler in each
worker (:func:`gunicorn_post_worker_init`); it drains first, then hands over
to gunicorn's own handler, whose ``graceful_timeout`` stays the backstop.
"""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import threading
import time
import typing as t
import weakref
from collections.abc import Callable, Mapping

from flask import Flask

from . import health
from .connections import SocketRef
from .errors import AuthError, RealtimeError

if t.TYPE_CHECKING:
    from .state import RealtimeState

logger = logging.getLogger(__name__)

#: The event each socket receives before the server disconnects it.
SHUTDOWN_EVENT = "server_shutdown"
#: Refusal of a socket that reaches an instance that is shutting down.
SHUTTING_DOWN = ("Server is shutting down", "shutting_down")
#: The ``/readyz`` check that fails while draining, and what it says then.
CHECK_NAME = "accepting_sockets"
NOT_READY = "shutting down: sockets are moving to other instances"
#: Seconds after the window for the last disconnects to reach their clients
#: before the remaining Engine.IO connections are closed.
FLUSH_SECONDS = 1.0
#: Seconds kept free between the end of a drain and gunicorn's graceful timeout.
MARGIN_SECONDS = 2.0

#: Apps set up in this process, drained by the gunicorn hook (a WSGI
#: middleware around the app would hide it from ``worker.wsgi``).
_apps: weakref.WeakSet[Flask] = weakref.WeakSet()


def loaded_apps() -> list[Flask]:
    """The realtime apps set up in this process so far."""
    return list(_apps)


def spread(count: int, window: float, rng: random.Random | None = None) -> list[float]:
    """``count`` offsets in ``[0, window)``, one in each equal slice, in random order.

    Stratified rather than uniform: uniform offsets clump, and a clump is a
    small thundering herd. Each slice gets exactly one socket, at a random
    point of it; the order of slices is shuffled so no socket is always last.
    """
    if count <= 0:
        return []
    rng = rng or random.Random()
    if window <= 0:
        return [0.0] * count
    width = window / count
    offsets = [(slot + rng.random()) * width for slot in range(count)]
    rng.shuffle(offsets)
    return offsets


def fit_window(jitter: float, graceful_timeout: float) -> float:
    """The drain window that still ends inside gunicorn's ``graceful_timeout``."""
    longest = max(0.0, graceful_timeout - FLUSH_SECONDS - MARGIN_SECONDS)
    return min(max(0.0, jitter), longest)


class Drain:
    """The shutdown of one app's sockets; started at most once.

    :param app: the app (for its readiness check).
    :param state: the app's realtime state (its server and connections).
    :param window: seconds over which the sockets are moved.
    :param sleep: sleeps cooperatively in the app's async mode.
    :param spawn: starts a background task in the app's async mode.
    """

    def __init__(
        self,
        app: Flask,
        state: RealtimeState,
        window: float,
        *,
        sleep: Callable[[float], t.Any],
        spawn: Callable[..., t.Any],
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.state = state
        self.window = window
        self.sleep = sleep
        self.spawn = spawn
        self.clock = clock
        self.rng = rng or random.Random()
        self.draining = False
        #: Set when every socket has been moved and the Engine.IO connections closed.
        self.done = threading.Event()
        self.moved = 0
        self._running = threading.Lock()

    def gate(self, environ: Mapping[str, t.Any]) -> None:
        """Connect gate: no new sockets once draining (no store request)."""
        if self.draining:
            raise AuthError(*SHUTTING_DOWN)

    def begin(self) -> bool:
        """Start draining in the background; return False if it had started already.

        Made for a signal handler: it takes no lock (the interrupted code may
        hold one), sets a flag and spawns the task; the task does the rest.
        """
        if self.draining:
            return False
        self.draining = True
        self.spawn(self.run)
        return True

    def run(self) -> None:
        if not self._running.acquire(blocking=False):
            return  # begun twice at the same moment; one drain is enough
        started = self.clock()
        health.report(self.app, CHECK_NAME, False, NOT_READY)
        refs = [ref for ref, _identity in self.state.connections.items()]
        logger.info(
            "Shutting down: moving %d socket(s) to other instances over %.1f s",
            len(refs),
            self.window,
            extra={"tags": ("shutdown",)},
        )
        plan = sorted(zip(spread(len(refs), self.window, self.rng), refs, strict=True), key=lambda item: item[0])
        for offset, ref in plan:
            wait = started + offset - self.clock()
            if wait > 0:
                self.sleep(wait)
            self._move(ref)
        # Sockets that finished connecting while the drain began.
        for ref, _identity in self.state.connections.items():
            self._move(ref)
        # Logged now: once the clients hang up, the worker may exit at any moment.
        logger.info(
            "Shutdown drain finished: %d socket(s) told to reconnect in %.1f s",
            self.moved,
            self.clock() - started,
            extra={"tags": ("shutdown",)},
        )
        self.sleep(FLUSH_SECONDS)
        self._close_transports()
        self.done.set()

    def _move(self, ref: SocketRef) -> None:
        sid, namespace = ref
        server = self.state.socketio.server
        if not server.manager.is_connected(sid, namespace):
            return
        try:
            # ignore_queue: the socket is here; the event must precede the
            # disconnect rather than make a trip through the message queue.
            server.emit(SHUTDOWN_EVENT, {"reason": SHUTTING_DOWN[1]}, to=sid, namespace=namespace, ignore_queue=True)
            server.disconnect(sid, namespace=namespace, ignore_queue=True)
            self.moved += 1
        except Exception:  # noqa: BLE001 - the other sockets must still move
            logger.exception("Could not move a socket during shutdown")

    def _close_transports(self) -> None:
        """Close Engine.IO connections still open (clients that did not hang up, refused handshakes).

        Without waiting for their send queues (``eio.disconnect()`` would, and
        a dead client would block it): the worker exits once their request
        handlers return, and gunicorn waits for those.
        """
        left = [sock for sock in list(self.state.socketio.server.eio.sockets.values()) if not sock.closed]
        if not left:
            return
        logger.info("Closing %d Engine.IO connection(s) left open after the drain", len(left))
        for sock in left:
            try:
                sock.close(wait=False)
            except Exception:  # noqa: BLE001 - exiting matters more than a clean close
                logger.exception("Could not close an Engine.IO connection")


def get_drain(app: Flask) -> Drain:
    return app.extensions["realtime.shutdown"]


def begin(app: Flask) -> bool:
    """Start draining ``app`` (what SIGTERM does); False if it is draining already."""
    return get_drain(app).begin()


def init_app(app: Flask, state: RealtimeState) -> Drain:
    """Give ``app`` a drain: the connect gate, the readiness check, and a place in the process registry."""
    socketio = state.socketio
    drain = Drain(
        app,
        state,
        float(app.config["REALTIME_SHUTDOWN_JITTER"]),
        sleep=lambda seconds: socketio.sleep(seconds),
        spawn=lambda target: socketio.start_background_task(target),
    )
    app.extensions["realtime.shutdown"] = drain
    # First: a draining instance refuses before anything else is looked at.
    state.gates.insert(0, drain.gate)
    health.add_check(app, CHECK_NAME, lambda: _raise_if_draining(drain))
    _apps.add(app)
    return drain


def _raise_if_draining(drain: Drain) -> None:
    if drain.draining:
        raise ShuttingDown(NOT_READY)


class ShuttingDown(RealtimeError):
    """The instance drains its sockets; it is not ready for new ones."""


# -- signal handling -----------------------------------------------------------


def install_signal_handler(apps: list[Flask], signum: int = signal.SIGTERM) -> None:
    """On ``signum``, start draining ``apps``, then run the handler that was installed before.

    Under gunicorn the previous handler is the worker's: it stops accepting
    and waits up to ``graceful_timeout`` for open connections, which the
    drain closes. Without one (default disposition), the process is
    terminated by ``signum`` once the drains are done.
    """
    previous = signal.getsignal(signum)

    drains = [get_drain(app) for app in apps]

    def handler(sig: int, frame: t.Any) -> None:
        for drain in drains:
            drain.begin()
        if callable(previous):
            previous(sig, frame)
        elif previous != signal.SIG_IGN:
            if drains:
                drains[0].spawn(lambda: _terminate_after(drains, sig))
            else:
                _terminate(sig)

    signal.signal(signum, handler)


def _terminate_after(drains: list[Drain], sig: int) -> None:
    for drain in drains:
        while not drain.done.is_set():
            drain.sleep(0.1)
    _terminate(sig)


def _terminate(sig: int) -> None:
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)


def gunicorn_post_worker_init(worker: t.Any) -> None:
    """gunicorn ``post_worker_init`` hook: drain this worker's apps on SIGTERM, then stop as gunicorn does.

    Runs in the worker after the app is loaded and gunicorn's own signal
    handlers are in place, so it chains to ``worker.handle_exit``. A window
    that would not end inside ``graceful_timeout`` is shortened, with a
    warning.

    The worker then waits for its open requests only as long as the drain
    needs (window + flush + margin), not the whole ``graceful_timeout``: under
    eventlet, a websocket that Engine.IO closes while its reader waits can
    leave that reader parked until its file descriptor number is reused,
    which never happens once the worker stops accepting. gunicorn's own wait
    would then run to its end each time.
    """
    apps = loaded_apps()
    if not apps:
        logger.warning("No realtime app was loaded in this worker; SIGTERM will not drain sockets.")
        return
    graceful = float(worker.cfg.graceful_timeout)
    budget = 0.0
    for app in apps:
        drain = get_drain(app)
        window = fit_window(drain.window, graceful)
        if window < drain.window:
            logger.warning(
                "REALTIME_SHUTDOWN_JITTER=%g does not fit gunicorn's graceful timeout of %g s; draining over %g s."
                " Raise --graceful-timeout (the PaaS allows 30 s) or lower REALTIME_SHUTDOWN_JITTER.",
                drain.window,
                graceful,
                window,
            )
            drain.window = window
        budget = max(budget, window + FLUSH_SECONDS + MARGIN_SECONDS)
    if budget < graceful:
        # Read by the worker when it stops (not by the master, which keeps the full timeout).
        worker.cfg.set("graceful_timeout", math.ceil(budget))  # gunicorn takes whole seconds
    install_signal_handler(apps, signal.SIGTERM)
