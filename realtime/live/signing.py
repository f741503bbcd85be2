"""Signed control messages: only a holder of ``SECRET_KEY`` can end or extend sockets.

Anything with write access to Redis can publish on the control channel. So
every control message carries an HMAC-SHA256 signature (itsdangerous'
:class:`~itsdangerous.Signer`) under a key derived from ``SECRET_KEY`` with
a salt of its own: the key that signs cookies never signs anything else, and
a control signature is no cookie signature. Messages are signed with
``SECRET_KEY`` and verified against it and ``SECRET_KEY_FALLBACKS``, so
instances in the middle of a key rotation still understand each other.

A signature alone would let a captured message be published again later
(an ``extend`` keeping an expired socket alive, say). Each message
therefore carries when it was sent and a random nonce, both signed: a
message sent more than :data:`MAX_AGE` seconds ago (or that far in the
future: clocks of instances differ a little) is dropped, and within that
window a nonce heard before is dropped too.
"""

from __future__ import annotations

import collections
import hashlib
import secrets
import time
import typing as t
from collections.abc import Callable, Mapping

from itsdangerous import BadSignature, Signer

from ..errors import ConfigError
from .control import Operation, decode, encode

#: Salt of the key derivation: control signatures are valid for nothing else.
SALT = "realtime.live.control"

#: Seconds a signed message stays valid, either side of the receiver's clock.
MAX_AGE = 30.0

#: Why a message was dropped (the ``reason`` label of the metric).
UNSIGNED, BAD_SIGNATURE, MALFORMED, STALE, REPLAYED = "unsigned", "bad_signature", "malformed", "stale", "replayed"


class DroppedMessage(Exception):
    """A control message that must not be applied; :attr:`reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ControlSigner:
    """Signs control messages with ``secret_key``; verifies them against it and ``fallbacks``.

    :param clock: the wall clock (``time.time``); instances compare the
        times they send and receive, so it must be the real time.
    """

    def __init__(
        self,
        secret_key: str | bytes,
        fallbacks: t.Iterable[str | bytes] = (),
        *,
        clock: Callable[[], float] = time.time,
        max_age: float = MAX_AGE,
    ) -> None:
        if isinstance(fallbacks, (str, bytes)):
            raise ConfigError(
                "SECRET_KEY_FALLBACKS must be a list of keys, not one string (each character would be a key)."
            )
        # itsdangerous signs with the last key and accepts every one of them.
        keys = [*reversed(list(fallbacks)), secret_key]
        self._signer = Signer(keys, salt=SALT, key_derivation="hmac", digest_method=hashlib.sha256)
        self.clock = clock
        self.max_age = max_age
        #: Nonces heard within the window, oldest first, with the time they stop mattering.
        self._heard: collections.OrderedDict[str, float] = collections.OrderedDict()

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> ControlSigner:
        """The signer of an app or Emitter with these settings; ``SECRET_KEY`` is required."""
        secret_key = config.get("SECRET_KEY")
        if not secret_key:
            raise ConfigError(
                "Control messages (logout, revocation, expiry) are signed with SECRET_KEY, and it is not set. Set"
                " SECRET_KEY (and SECRET_KEY_FALLBACKS during a rotation) to the values the instances use."
            )
        return cls(secret_key, config.get("SECRET_KEY_FALLBACKS") or ())

    def sign(self, op: Operation, origin: str) -> str:
        """The signed text to publish for ``op``."""
        text = encode(op, origin, sent_at=self.clock(), nonce=secrets.token_urlsafe(12))
        return self._signer.sign(text).decode()

    def verify(self, raw: str | bytes) -> tuple[Operation, str]:
        """``(operation, origin)`` of a message signed by a current or fallback key, sent lately, heard once.

        Raises :class:`DroppedMessage` otherwise.
        """
        data = raw.encode() if isinstance(raw, str) else raw
        try:
            text = self._signer.unsign(data)
        except BadSignature:
            # A bare JSON object is a message nobody signed (a forger, or an
            # instance of a version before signing).
            raise DroppedMessage(UNSIGNED if data.rstrip().endswith(b"}") else BAD_SIGNATURE) from None
        message = decode(text)
        if message is None:
            raise DroppedMessage(MALFORMED)
        now = self.clock()
        if abs(now - message.sent_at) > self.max_age:
            raise DroppedMessage(STALE)
        self._forget_before(now)
        if message.nonce in self._heard:
            raise DroppedMessage(REPLAYED)
        self._heard[message.nonce] = message.sent_at + self.max_age
        return message.op, message.origin

    def _forget_before(self, now: float) -> None:
        # Arrival order is close to sending order; a nonce kept a little
        # longer than needed costs nothing, one forgotten early is refused
        # anyway once its message is older than the window.
        while self._heard:
            nonce, until = next(iter(self._heard.items()))
            if until >= now:
                break
            del self._heard[nonce]
