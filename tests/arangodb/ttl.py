"""Which documents a TTL index considers expired.

ArangoDB's TTL index (``RocksDBTtlIndex``, ``TtlFeature``) indexes a value
that is a Unix timestamp in seconds (fractions allowed) or an ISO-8601 date
string; anything else (missing, null, bool, other strings, negative numbers)
is not indexed and never expires. A document expires when
``value + expireAfter <= now``.
"""

from __future__ import annotations

import datetime as dt
import re
import typing as t

from .values import get_path, is_number

_ISO_DATE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,3}))?)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?\Z"
)


def parse_iso_date(text: str) -> float | None:
    """Seconds since the epoch of ``YYYY-MM-DD[THH:MM[:SS[.MMM]]][Z|±HH:MM]``.

    A date without a zone is UTC, as in AQL. Returns None for anything else.
    """
    match = _ISO_DATE.match(text)
    if match is None:
        return None
    try:
        day = dt.date.fromisoformat(match["date"])
        moment = dt.datetime(
            day.year,
            day.month,
            day.day,
            int(match["hour"] or 0),
            int(match["minute"] or 0),
            int(match["second"] or 0),
            int((match["fraction"] or "0").ljust(3, "0")) * 1000,
            tzinfo=_zone(match["zone"]),
        )
    except ValueError:
        return None
    return moment.timestamp()


def _zone(text: str | None) -> dt.tzinfo:
    if not text or text == "Z":
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def ttl_timestamp(value: t.Any) -> float | None:
    """The expiry base time of a TTL attribute value, None if not indexed."""
    if is_number(value):
        stamp = float(value)
    elif isinstance(value, str):
        parsed = parse_iso_date(value)
        if parsed is None:
            return None
        stamp = parsed
    else:
        return None
    return stamp if stamp >= 0 else None


def is_expired(document: dict, field: str, expire_after: float, now: float) -> bool:
    """Whether a TTL index on ``field`` would remove ``document`` at ``now``."""
    stamp = ttl_timestamp(get_path(document, field))
    return stamp is not None and stamp + expire_after <= now
