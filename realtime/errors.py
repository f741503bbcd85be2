"""The exceptions ``realtime`` raises.

Each layer raises its own typed error; only the Socket.IO boundary
(:mod:`realtime.guard`) turns them into the small refusal contract a client
sees. Messages are written for the person who has to fix the problem.
"""

from __future__ import annotations


class RealtimeError(Exception):
    """Base class for every error raised by ``realtime``."""


class ConfigError(RealtimeError):
    """The configuration cannot work; the message says which key and how to fix it."""


class StoreError(RealtimeError):
    """The session store could not answer (unreachable, timed out, refused).

    The original driver exception is chained as ``__cause__``.
    """


class AuthError(RealtimeError):
    """A socket is not allowed in.

    :param message: the short, stable text the client receives.
    :param reason: the machine-readable code the client can act on.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class TooManyRooms(RealtimeError):
    """A socket asked to join a room beyond ``REALTIME_MAX_ROOMS_PER_SOCKET``.

    Identity handlers (``@realtime.on``) answer it with :meth:`ack`; a
    ``@socketio.on`` handler that calls ``join_room`` gets it raised.

    :param limit: the number of rooms a socket may be in.
    """

    #: The ``error`` code of the ack.
    code = "too_many_rooms"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.message = f"A connection can be in at most {limit} rooms. Leave one before joining another."
        super().__init__(self.message)

    def ack(self) -> dict[str, object]:
        return {"ok": False, "error": self.code, "message": self.message}
