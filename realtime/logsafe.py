"""Keeping session ids out of the log lines of the libraries we drive.

A session id is a bearer credential: whoever reads it from a log can put it
in a cookie (given the secret key) or look the session up. Our own log lines
never contain one, but two libraries under us write request URLs, and a
document URL ends in the session id (``/_api/document/sessions/<sid>``):

- python-arango logs the URL of a request that could not connect with
  ``logging.debug`` on the **root** logger (``arango/connection.py``);
- urllib3 logs every request line at DEBUG on ``urllib3.connectionpool``.

Neither shows at the default levels, but an operator who turns the root
logger to DEBUG to chase a problem would print live session ids. The filter
installed here rewrites those records before any handler sees them. A logger
filter applies to records created on that logger only, which is exactly
those: the root logger's own records (python-arango's) and urllib3's.
"""

from __future__ import annotations

import logging
import re

#: Loggers whose records can carry a session id in a URL. "" is the root logger.
DRIVER_LOGGERS = ("", "urllib3.connectionpool")

#: A document key in an ArangoDB URL, and any token long enough to be a session
#: id (ours are 43 URL-safe characters; Engine.IO's sids are 20).
_SECRETS = (
    re.compile(r"(?<=/_api/document/)([^/\s?#\"']+/)[^\s?#\"']+"),
    re.compile(r"[A-Za-z0-9_-]{32,}"),
)
#: A configuration key such as REALTIME_RELEASE_ROUTING_TRACEBACKS: as long as a
#: token, but words in capitals, which a random session id never is.
_CONFIG_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")

REDACTED = "[redacted]"


def _token(match: re.Match[str]) -> str:
    token = match.group(0)
    return token if _CONFIG_NAME.fullmatch(token) else REDACTED


def redact(text: str) -> str:
    """``text`` with document keys and session-id-like tokens replaced (configuration keys are kept)."""
    text = _SECRETS[0].sub(lambda m: m.group(1) + REDACTED, text)
    return _SECRETS[1].sub(_token, text)


class RedactSessionIds(logging.Filter):
    """Rewrites a record's message (and its traceback text) without session ids; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def install() -> None:
    """Add the filter to the driver loggers (idempotent)."""
    for name in DRIVER_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactSessionIds) for f in target.filters):
            target.addFilter(RedactSessionIds())
