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
