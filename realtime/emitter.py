"""Push to users and sessions, and revoke sessions, from a process that runs no Socket.IO server.

A worker, a cron job or a script::

    from realtime.emitter import Emitter

    emitter = Emitter.from_config()          # REDIS_URL, ARANGO_URL ... from the environment
    emitter.emit_to_user("alice", "invoice_paid", {"id": 42})
    emitter.revoke_user("mallory")           # deletes her sessions, ends her sockets everywhere

Emits go through Flask-SocketIO's own channel to the rooms every
authenticated socket joins (``user:<uid>``, ``session:<sid>``); revocations
go through the control channel that every instance listens to. Both are the
messages an instance itself publishes, so this works with any number of
instances and needs neither eventlet nor Flask. Control messages are signed
(:mod:`realtime.live.signing`), so revoking needs the instances'
``SECRET_KEY``.
"""

from __future__ import annotations

import os
import typing as t
import uuid
from collections.abc import Mapping

from .config import DEFAULTS, load_environ, validate
from .errors import ConfigError
from .live.bus import ControlBus, client_manager, queue_settings
from .live.control import REVOKED, EndSockets, check_reason, check_uid, session_room, user_room
from .live.signing import ControlSigner
from .sessions import SessionStore, is_valid_session_id


class Emitter:
    """A write-only connection to the instances' message queue (and, for revocation, the session store).

    :param config: settings as the app reads them (``REDIS_URL`` or
        ``REALTIME_MESSAGE_QUEUE``, ``REALTIME_CHANNEL``, ``REALTIME_REDIS_*``,
        ``ARANGO_*``, and ``SECRET_KEY`` to sign revocations); see
        :meth:`from_config` to read them from the environment.
    :param store: the session store for :meth:`revoke_session` and
        :meth:`revoke_user`; built from ``ARANGO_URL`` when not given.
    """

    def __init__(self, config: Mapping[str, t.Any], *, store: SessionStore | None = None) -> None:
        settings = {**DEFAULTS, **config}
        validate(settings)
        queue = queue_settings(settings)
        if queue is None:
            raise ConfigError(
                "The Emitter reaches instances through their message queue, and none is configured. Set REDIS_URL"
                " (or REALTIME_MESSAGE_QUEUE) to the redis:// or rediss:// URL the instances use."
            )
        self.manager = client_manager(settings, write_only=True)
        self.bus = ControlBus(*queue)
        #: None without SECRET_KEY: pushes still work, revoking says what is missing.
        self.signer = ControlSigner.from_config(settings) if settings.get("SECRET_KEY") else None
        if store is None and settings.get("ARANGO_URL"):
            from .stores.arango import ArangoSessionStore

            store = ArangoSessionStore.from_config(settings)
        self.store = store
        self.origin = "emitter-" + uuid.uuid4().hex

    @classmethod
    def from_config(cls, overrides: Mapping[str, t.Any] | None = None, **kwargs: t.Any) -> Emitter:
        """An Emitter configured from the environment, as ``flask`` and gunicorn processes are."""
        return cls({**load_environ(os.environ), **(overrides or {})}, **kwargs)

    # -- push ------------------------------------------------------------

    def emit_to_user(self, uid: str, event: str, data: t.Any = None, *, namespace: str = "/") -> None:
        """Send ``event`` to every socket of ``uid`` on every instance (fire and forget, like any emit)."""
        self._emit(user_room(uid), event, data, namespace)

    def emit_to_session(self, sid: str, event: str, data: t.Any = None, *, namespace: str = "/") -> None:
        """Send ``event`` to every socket of session ``sid`` on every instance."""
        self._emit(session_room(sid), event, data, namespace)

    def _emit(self, room: str, event: str, data: t.Any, namespace: str) -> None:
        assert self.manager is not None
        self.manager.emit(event, data, namespace=namespace, room=room)

    # -- revoke ----------------------------------------------------------

    def revoke_session(self, sid: str, reason: str = REVOKED) -> bool:
        """Delete session ``sid`` and end its sockets everywhere; ``False`` if there was no record.

        Raises ``redis.RedisError`` when the instances could not be told (the
        record is deleted by then, so their revalidation ends the sockets).
        """
        if not is_valid_session_id(sid):
            raise ValueError("not a session id this app issues")
        signer = self._require_signer()
        existed = self._require_store().delete(sid)
        self.bus.publish(signer.sign(EndSockets((sid,), None, check_reason(reason)), self.origin))
        return existed

    def revoke_user(self, uid: str, reason: str = REVOKED) -> list[str]:
        """Delete every session of ``uid`` and end all their sockets everywhere; return the deleted ids."""
        uid = check_uid(uid)
        signer = self._require_signer()
        sids = self._require_store().delete_user(uid)
        self.bus.publish(signer.sign(EndSockets(tuple(sids), uid, check_reason(reason)), self.origin))
        return sids

    def _require_signer(self) -> ControlSigner:
        # Instances drop unsigned control messages: never publish one, and
        # say so before any record is deleted.
        return self.signer or ControlSigner.from_config({})

    def _require_store(self) -> SessionStore:
        # Ending sockets without deleting the record would let the browser
        # reconnect at once with the same cookie.
        if self.store is None:
            raise ConfigError(
                "Revoking needs the session store: set ARANGO_URL (and ARANGO_DB, ARANGO_USERNAME, ARANGO_PASSWORD)"
                " or pass store= to the Emitter."
            )
        return self.store

    def close(self) -> None:
        self.bus.close()

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
