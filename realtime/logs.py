"""Logging for the reference app: one line per event on stderr, where a PaaS collects it."""

from __future__ import annotations

import logging
import sys

from flask import Flask

_HANDLER_NAME = "realtime.stderr"


def configure_logging(app: Flask) -> None:
    """Send ``realtime.*`` records at ``REALTIME_LOG_LEVEL`` (default INFO) to stderr, once."""
    root = logging.getLogger("realtime")
    level = str(app.config.get("REALTIME_LOG_LEVEL") or "INFO").upper()
    root.setLevel(level)
    if any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    # Our handler prints these; don't print them twice through the root logger.
    root.propagate = False
