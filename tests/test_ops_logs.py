"""Log lines: JSON when asked for, with tags and reason, and never a cookie or a session id."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from flask import Flask

from realtime.errors import ConfigError
from realtime.logs import JsonFormatter, configure_logging, is_secret_name
from realtime.logsafe import redact
from realtime.sessions import new_session_id
from tests.support.procs import AppProcess, Browser, Refused, connect


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("realtime.guard", logging.ERROR, __file__, 1, message, args, None)
    rec.__dict__.update(extra)
    return rec


def test_a_json_line_has_time_level_logger_message_and_the_extras():
    line = JsonFormatter().format(record("Socket refused: %s", "unavailable", tags=("socket", "error"), reason="x"))
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "realtime.guard"
    assert entry["message"] == "Socket refused: unavailable"
    assert entry["tags"] == ["socket", "error"] and entry["reason"] == "x"
    assert entry["ts"].endswith("+00:00") and "T" in entry["ts"]


def test_extras_that_could_hold_a_credential_are_left_out():
    sid = new_session_id()
    entry = json.loads(
        JsonFormatter().format(
            record("x", sid=sid, session_id=sid, cookie="session=abc", csrf_token="t", details={"cookie": "c", "n": 1})
        )
    )
    assert not {"sid", "session_id", "cookie", "csrf_token"} & set(entry)
    assert entry["details"] == {"n": 1}
    assert is_secret_name("remember_cookie") and not is_secret_name("reason")


def test_session_ids_are_redacted_and_configuration_keys_kept():
    sid = new_session_id()
    message = f"REALTIME_RELEASE_ROUTING_TRACEBACKS is on; session {sid} ended; {'ab_' * 12}"
    assert redact(message) == "REALTIME_RELEASE_ROUTING_TRACEBACKS is on; session [redacted] ended; [redacted]"


def test_tracebacks_are_one_field():
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record("failed", exc_info=None)
        rec.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(rec))
    assert "ValueError: boom" in entry["exc"] and "\n" not in json.dumps(entry)


def test_an_unknown_format_is_a_startup_error(make_app):
    with pytest.raises(ConfigError, match="REALTIME_LOG_FORMAT='xml' is not known"):
        configure_logging(make_app(REALTIME_LOG_FORMAT="xml"))


def session_id_in(cookie: str, secret_key: str) -> str:
    app = Flask(__name__)
    app.secret_key = secret_key
    return app.session_interface.get_signing_serializer(app).loads(cookie)["sid"]


def test_the_web_process_writes_json_lines_without_cookies_or_session_ids(e2e_env):
    env = e2e_env(REALTIME_LOG_FORMAT="json")
    proc = AppProcess(env).start()
    try:
        alice = Browser(proc.url)
        alice.login("alice", "alice-pw")
        sid_cookie = alice.cookie
        sid = session_id_in(sid_cookie, env["SECRET_KEY"])
        stale = alice.cookie_header
        alice.logout()
        with pytest.raises(Refused):
            connect(proc.url, stale, transports=["polling"])
    finally:
        proc.stop()
    output = proc.output()
    lines = [line for line in output.splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    loggers = {entry["logger"] for entry in entries}
    assert {"realtime.guard", "gunicorn.error", "gunicorn.access"} <= loggers, loggers
    refusal = next(entry for entry in entries if entry["logger"] == "realtime.guard")
    assert "unknown_session" in refusal["message"]
    access = next(entry for entry in entries if entry["logger"] == "gunicorn.access")
    assert {"method", "path", "status", "duration_ms"} <= set(access)
    # Engine.IO's polling URLs carry the connection's sid: no query string reaches the log.
    assert all("?" not in entry.get("path", "") for entry in entries if entry["logger"] == "gunicorn.access")
    assert "sid=" not in output and sid_cookie not in output and sid not in output
    # Every line the app itself wrote is JSON (the rest is eventlet's deprecation banner on stderr).
    assert all(line.startswith("{") for line in output.splitlines() if "realtime" in line and "Deprecat" not in line)
