"""Live sockets follow their session: logout, revocation, expiry and sliding, on every instance.

One :class:`LiveSessions` per app (``get_state(app).live``). It learns about
sockets from :mod:`realtime.signals` and runs at most three background tasks
per instance, started with the first socket (a process that never holds one,
such as a CLI command, starts none):

* the expiry loop: one heap of expiry times for all sockets, checked at least
  every :attr:`LiveSessions.TICK` seconds; it also starts revalidation passes;
* a revalidation pass every ``REALTIME_REVALIDATE_INTERVAL`` seconds: one
  batched read of the records behind all live sockets;
* with a message queue, the control-channel listener.

Ending a socket means telling it why (``session_ended`` ``{reason}``) and then
disconnecting it from the server side, so the JS client reports
``io server disconnect`` and does not reconnect by itself.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import typing as t
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace

import redis
from flask import Flask

from .. import signals
from ..connections import Connections, Identity, SocketRef
from ..errors import ConfigError, StoreError
from .bus import ControlBus, queue_settings
from .control import EXPIRED, EndSockets, ExtendSessions, Operation, check_reason, check_uid
from .policy import Verdict, chunked, judge
from .schedule import ExpiryQueue, RecentlyEnded
from .signing import MAX_AGE, ControlSigner, DroppedMessage

if t.TYPE_CHECKING:
    from flask_socketio import SocketIO

    from ..sessions import SessionStore

logger = logging.getLogger(__name__)

#: The event a socket receives just before the server disconnects it.
SESSION_ENDED = "session_ended"


class LiveSessions:
    """Keeps one app's live sockets in step with their session records."""

    #: Longest sleep of the expiry loop, in seconds: the delay, at worst, of
    #: an expiry moved earlier or of a socket handed over to be ended.
    TICK = 0.25
    #: How long the first socket waits for the control channel subscription.
    SUBSCRIBE_WAIT = 1.0

    def __init__(self, app: Flask, *, store: SessionStore, connections: Connections, socketio: SocketIO) -> None:
        config = app.config
        self.store = store
        self.connections = connections
        self.socketio = socketio
        self.clock = store.clock
        #: Names this process on the control channel, to skip its own echoes.
        self.instance_id = uuid.uuid4().hex
        settings = queue_settings(config)
        self.bus = ControlBus(*settings) if settings else None
        #: Signs what this instance publishes and checks what it hears.
        self.signer = ControlSigner.from_config(config) if settings else None
        self.drops = DropReport(self.bus.channel if self.bus else "")
        self.app = app
        self.revalidate_interval = float(config["REALTIME_REVALIDATE_INTERVAL"])
        self.sliding = bool(config["REALTIME_SLIDING_SESSIONS"])
        if self.sliding and not store.can_extend:
            raise ConfigError(
                f"REALTIME_SLIDING_SESSIONS is on but the {store.kind} session store cannot extend sessions."
                " Implement _extend(sid, expires_at) as an update that never creates a record, or turn it off."
            )
        self.lifetime = float(config["REALTIME_SESSION_LIFETIME"])
        self.expiry = ExpiryQueue()
        self.recently_ended = RecentlyEnded()
        self._lock = threading.Lock()
        self._ticking = False
        self._listening = False
        self._revalidating = False
        self._revalidate_soon = False
        self._stopped = False
        self._subscribed = threading.Event()
        signals.socket_connected.connect(self._on_connected, sender=app)
        signals.socket_disconnected.connect(self._on_disconnected, sender=app)

    # -- the API behind revoke_session / revoke_user / logout_session -------

    def end_sessions(self, session_ids: Iterable[str], reason: str) -> None:
        """End the sockets of these sessions on every instance."""
        ids = tuple(session_ids)
        if ids:
            self._broadcast(EndSockets(ids, None, check_reason(reason)))

    def end_user(self, uid: str, reason: str, session_ids: Iterable[str] = ()) -> None:
        """End every socket of ``uid`` (and of these sessions) on every instance."""
        self._broadcast(EndSockets(tuple(session_ids), check_uid(uid), check_reason(reason)))

    def extend(self, session_id: str, expires_at: float) -> None:
        """Tell every instance that ``session_id`` now expires at ``expires_at``."""
        self._broadcast(ExtendSessions(session_id, expires_at))

    def _broadcast(self, op: Operation) -> None:
        # This instance first, without a round trip through Redis; the
        # listener skips the echo by its origin.
        self._apply(op)
        if self.bus is None:
            return
        assert self.signer is not None
        try:
            self.bus.publish(self.signer.sign(op, self.instance_id))
        except (redis.RedisError, OSError) as exc:
            logger.error(
                "Could not publish to the control channel (%s). Other instances will end the sockets of revoked"
                " sessions at their next revalidation, within %s s.",
                type(exc).__name__,
                self.revalidate_interval,
            )

    def _apply(self, op: Operation) -> None:
        connections = self.connections
        if isinstance(op, EndSockets):
            self.recently_ended.add(op.session_ids, op.reason, self.clock())
            refs: set[SocketRef] = set()
            for session_id in op.session_ids:
                refs.update(connections.of_session(session_id))
            if op.uid is not None:
                refs.update(connections.of_user(op.uid))
            self.end_local(refs, op.reason)
        else:
            for ref in connections.of_session(op.session_id):
                self._move(ref, op.expires_at)

    # -- ending sockets of this instance -------------------------------------

    def end_local(self, refs: Iterable[SocketRef], reason: str) -> int:
        """Tell each socket of this process why it ends, then disconnect it; return how many ended."""
        server = self.socketio.server
        ended = 0
        for ref in refs:
            sid, namespace = ref
            if server.manager.is_connected(sid, namespace):
                try:
                    # ignore_queue: the socket is here, and the event must
                    # leave before the disconnect, not after a trip via Redis.
                    server.emit(SESSION_ENDED, {"reason": reason}, to=sid, namespace=namespace, ignore_queue=True)
                    server.disconnect(sid, namespace=namespace, ignore_queue=True)
                    ended += 1
                except Exception:  # noqa: BLE001 - the other sockets must still end
                    logger.exception("Could not end a socket (%s)", reason)
            elif self.connections.get(ref) is not None:
                # Still inside its connect handler: end it once connected.
                self.expiry.schedule(ref, self.clock() + self.TICK, reason)
                self._ensure_running()
        if ended:
            logger.info("Ended %d socket(s): %s", ended, reason)
        return ended

    def _move(self, ref: SocketRef, expires_at: float) -> None:
        """Record a new expiry for a socket, unless it is already on its way out."""
        identity = self.connections.get(ref)
        entry = self.expiry.entry(ref)
        if identity is None or (entry is not None and entry[1] != EXPIRED):
            return
        self.connections.update(ref, replace(identity, expires_at=expires_at))
        self.expiry.schedule(ref, expires_at)

    # -- socket lifecycle (signals) ------------------------------------------

    def _on_connected(self, sender: Flask, identity: Identity, ref: SocketRef) -> None:
        now = self.clock()
        reason = self.recently_ended.reason_for(identity.session_id, now)
        if reason is not None:
            # Its record was read just before a revocation deleted it.
            self.expiry.schedule(ref, now, reason)
        else:
            self.expiry.schedule(ref, identity.expires_at)
        self._ensure_running()

    def _on_disconnected(self, sender: Flask, identity: Identity, ref: SocketRef, reason: t.Any = None) -> None:
        self.expiry.cancel(ref)

    # -- background tasks ----------------------------------------------------

    def _ensure_running(self) -> None:
        with self._lock:
            if self._stopped:
                return
            start_ticker, self._ticking = not self._ticking, True
            start_listener = self.bus is not None and not self._listening
            self._listening = self._listening or start_listener
        socketio = self.socketio
        if start_ticker:
            socketio.start_background_task(self._tick_loop)
        if start_listener:
            socketio.start_background_task(self._listen)
            # Only the first socket waits, so that a revocation published
            # right after it connected is heard.
            if not self._subscribed.wait(self.SUBSCRIBE_WAIT):
                logger.warning("The control channel is not subscribed yet; revocations may wait for revalidation.")

    def _tick_loop(self) -> None:
        interval = self.revalidate_interval
        # Spread the passes of instances started together.
        next_pass = time.monotonic() + interval * random.uniform(0.5, 1.0) if interval > 0 else math.inf
        while True:
            with self._lock:
                if self._stopped or (len(self.connections) == 0 and len(self.expiry) == 0):
                    self._ticking = False
                    return
            try:
                self._end_due()
                if time.monotonic() >= next_pass or self._revalidate_soon:
                    self._revalidate_soon = False
                    next_pass = time.monotonic() + interval if interval > 0 else math.inf
                    self._start_revalidation()
            except Exception:  # noqa: BLE001 - the loop must survive any one failure
                logger.exception("The expiry loop failed; it goes on")
            delay = self.TICK
            deadline = self.expiry.next_deadline()
            if deadline is not None:
                delay = min(delay, max(0.01, deadline - self.clock()))
            self.socketio.sleep(delay)

    def _end_due(self) -> None:
        due = self.expiry.pop_due(self.clock())
        if not due:
            return
        by_reason: defaultdict[str, list[SocketRef]] = defaultdict(list)
        for ref, reason in due:
            by_reason[reason].append(ref)
        if self.sliding and by_reason.get(EXPIRED):
            by_reason[EXPIRED] = self._still_expired(by_reason[EXPIRED])
        for reason, refs in by_reason.items():
            self.end_local(refs, reason)

    def _still_expired(self, refs: list[SocketRef]) -> list[SocketRef]:
        """With sliding sessions, confirm expiries in one batched read (an extension may have been missed)."""
        identities = {ref: i for ref in refs if (i := self.connections.get(ref)) is not None}
        try:
            records = self.store.get_many({i.session_id for i in identities.values()})
        except StoreError as exc:
            # The last expiry this instance knows of has passed: end them.
            logger.warning("Could not confirm %d expiry(ies): %s; ending them", len(identities), exc)
            return list(identities)
        now = self.clock()
        expired = []
        for ref, identity in identities.items():
            record = records.get(identity.session_id)
            if record is not None and record.uid == identity.uid and record.expires_at > now:
                self._move(ref, record.expires_at)
            else:
                expired.append(ref)
        return expired

    def _start_revalidation(self) -> None:
        with self._lock:
            if self._revalidating:
                return
            self._revalidating = True
        # A task of its own: a slow store must not hold up expiries.
        self.socketio.start_background_task(self._revalidation_task)

    def _revalidation_task(self) -> None:
        try:
            self.revalidate()
        except Exception:  # noqa: BLE001
            logger.exception("Revalidation failed; sockets stay connected")
        finally:
            with self._lock:
                self._revalidating = False

    def revalidate(self) -> Verdict | None:
        """Check every live socket against its record now; ``None`` when the store did not answer.

        One batched read (in chunks of
        :data:`~realtime.live.policy.REVALIDATE_CHUNK` ids), never one per
        socket. When the store fails, nobody is disconnected: every socket
        was verified when it connected, and an outage of the database must
        not become an outage of the app. Revocations still work meanwhile,
        through the control channel.
        """
        identities = dict(self.connections.items())
        if not identities:
            return Verdict()
        session_ids = sorted({identity.session_id for identity in identities.values()})
        records = {}
        try:
            for chunk in chunked(session_ids):
                records.update(self.store.get_many(chunk))
        except StoreError as exc:
            logger.warning(
                "Revalidation of %d live session(s) skipped: %s. Their sockets stay connected; next try in %s s.",
                len(session_ids),
                exc,
                self.revalidate_interval,
            )
            return None
        verdict = judge(identities, records, self.clock())
        for ref, expires_at in verdict.moved:
            self._move(ref, expires_at)
        by_reason: defaultdict[str, list[SocketRef]] = defaultdict(list)
        for ref, reason in verdict.ended:
            by_reason[reason].append(ref)
        for reason, refs in by_reason.items():
            self.end_local(refs, reason)
        return verdict

    def _listen(self) -> None:
        assert self.bus is not None

        def on_subscribed(again: bool) -> None:
            self._subscribed.set()
            if again:
                # Messages may have been missed while Redis was away.
                self._revalidate_soon = True

        try:
            self.bus.listen(self._on_message, sleep=self.socketio.sleep, on_subscribed=on_subscribed)
        finally:
            with self._lock:
                self._listening = False

    def _on_message(self, raw: bytes) -> None:
        assert self.signer is not None
        try:
            op, origin = self.signer.verify(raw)
        except DroppedMessage as exc:
            signals.control_message_dropped.send(self.app, reason=exc.reason)
            self.drops.add(exc.reason)
            return
        if origin != self.instance_id:
            self._apply(op)

    def stop(self) -> None:
        """Stop the background tasks (within a second); for tests and shutdown."""
        with self._lock:
            self._stopped = True
        if self.bus is not None:
            self.bus.stop()


class DropReport:
    """Logs dropped control messages at most once per :attr:`INTERVAL` seconds, with counts by reason.

    A flood of forged messages must not become a flood of log lines.
    """

    INTERVAL = 60.0

    def __init__(self, channel: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.channel = channel
        self.clock = clock
        self._counts: defaultdict[str, int] = defaultdict(int)
        self._next_report = -math.inf

    def add(self, reason: str) -> None:
        self._counts[reason] += 1
        now = self.clock()
        if now < self._next_report:
            return
        counts = ", ".join(f"{count} {reason}" for reason, count in sorted(self._counts.items()))
        logger.warning(
            "Dropped control message(s) on %s (%s): each must be signed with SECRET_KEY or one of"
            " SECRET_KEY_FALLBACKS, sent within %.0f s, and heard once. Something with write access to Redis"
            " publishes there, or an instance runs with another SECRET_KEY. Next report in %.0f s at most.",
            self.channel,
            counts,
            MAX_AGE,
            self.INTERVAL,
        )
        self._counts.clear()
        self._next_report = now + self.INTERVAL
