"""Decisions about live sockets, as pure functions: what revalidation ends, when a session slides."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from ..connections import Identity, SocketRef
from ..sessions import SessionRecord
from .control import EXPIRED, REVOKED

#: Largest number of session ids read in one store request during
#: revalidation; an instance holding more reads them in several chunks, still
#: one pass per interval.
REVALIDATE_CHUNK = 1000

#: A sliding session is written again only once this fraction of its lifetime
#: has gone by since its last extension: with the default 14 days, at most one
#: write per 1.4 days per session instead of one per request.
SLIDE_AFTER_FRACTION = 0.1


@dataclass
class Verdict:
    """What a revalidation pass decided about the sockets it looked at."""

    #: Sockets to end, with the reason they are told.
    ended: list[tuple[SocketRef, str]] = field(default_factory=list)
    #: Sockets whose record expires at another time than they thought.
    moved: list[tuple[SocketRef, float]] = field(default_factory=list)


def judge(identities: Mapping[SocketRef, Identity], records: Mapping[str, SessionRecord], now: float) -> Verdict:
    """Compare each socket with the live record of its session.

    ``records`` holds only live (unexpired) records, as
    :meth:`SessionStore.get_many` returns them. A socket ends when its record
    is gone or no longer belongs to the same user: "expired" when its own
    expiry has passed, "revoked" otherwise (deleted, stripped of its uid,
    handed to another uid, or cut short by an administrator).
    """
    verdict = Verdict()
    for ref, identity in identities.items():
        record = records.get(identity.session_id)
        if record is None or record.uid != identity.uid:
            verdict.ended.append((ref, EXPIRED if identity.expires_at <= now else REVOKED))
        elif record.expires_at != identity.expires_at:
            verdict.moved.append((ref, record.expires_at))
    return verdict


def chunked(items: Iterable[str], size: int = REVALIDATE_CHUNK) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def slid_expiry(record: SessionRecord, now: float, lifetime: float) -> float | None:
    """The new ``expires_at`` of a sliding session after activity at ``now``, or ``None`` to leave it.

    Only logged-in, live records slide, and only forward.
    """
    if not record.is_authenticated or record.is_expired(now) or lifetime <= 0:
        return None
    if record.expires_at - now > lifetime * (1 - SLIDE_AFTER_FRACTION):
        return None
    return now + lifetime
