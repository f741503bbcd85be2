"""Logging for the app: one line per event on stderr, where a PaaS collects it.

``REALTIME_LOG_FORMAT`` picks the line format: ``text`` (default, for people)
or ``json`` (one JSON object per line, for log pipelines). A JSON line has
``ts``, ``level``, ``logger``, ``message``, the record's extras (such as
``tags`` and ``reason``) and ``exc`` for a traceback. Neither format ever
carries a cookie or a session id: extras with such names are left out, and
session-id-like tokens in messages and tracebacks are replaced by
``[redacted]`` (:mod:`realtime.logsafe`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import typing as t

from flask import Flask

from .errors import ConfigError
from .logsafe import RedactSessionIds

_HANDLER_NAME = "realtime.stderr"

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Attributes every LogRecord has; anything else on a record is an extra.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

#: Words that mark an extra as a credential; it never reaches a log line.
_SECRET_WORDS = frozenset(
    {"sid", "sids", "cookie", "cookies", "session", "token", "password", "secret", "authorization", "auth"}
)


def is_secret_name(name: str) -> bool:
    """Whether an extra called ``name`` could hold a credential (``session_id``, ``cookie``, ``csrf_token``...)."""
    return any(word in _SECRET_WORDS for word in name.lower().replace("-", "_").split("_"))


def _jsonable(value: t.Any) -> t.Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if not is_secret_name(str(k))}
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, ``message``, extras, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, t.Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name in _RECORD_ATTRIBUTES or name.startswith("_") or name in entry or is_secret_name(name):
                continue
            entry[name] = _jsonable(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_format(app: Flask) -> str:
    """``REALTIME_LOG_FORMAT`` from the app's config, else the environment; ``text`` by default."""
    value = str(app.config.get("REALTIME_LOG_FORMAT") or os.environ.get("REALTIME_LOG_FORMAT") or "text").lower()
    if value not in FORMATS:
        raise ConfigError(f"REALTIME_LOG_FORMAT={value!r} is not known. Use 'text' (the default) or 'json'.")
    return value


def make_formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(app: Flask) -> None:
    """Send ``realtime.*`` records at ``REALTIME_LOG_LEVEL`` (default INFO) to stderr, once per process.

    Calling it again (another app in the same process) updates the level and
    the format of the one handler.
    """
    root = logging.getLogger("realtime")
    level = str(app.config.get("REALTIME_LOG_LEVEL") or os.environ.get("REALTIME_LOG_LEVEL") or "INFO").upper()
    root.setLevel(level)
    formatter = make_formatter(log_format(app))
    for handler in root.handlers:
        if handler.get_name() == _HANDLER_NAME:
            handler.setFormatter(formatter)
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    # A handler filter sees every record this handler writes, whichever
    # realtime.* logger made it: no session id reaches stderr.
    handler.addFilter(RedactSessionIds())
    root.addHandler(handler)
    # Our handler prints these; don't print them twice through the root logger.
    root.propagate = False
