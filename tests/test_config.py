"""Configuration: parsing from the environment and the startup errors that name their fix."""

from __future__ import annotations

import logging

import pytest

from realtime.config import DEFAULTS, load_environ, message_queue_url
from realtime.errors import ConfigError


def test_environment_values_take_the_type_of_their_default():
    config = load_environ(
        {"ARANGO_TIMEOUT": "0.5", "REALTIME_SESSION_LIFETIME": "60", "REALTIME_ANONYMOUS_SESSIONS": "no", "OTHER": "x"}
    )
    assert config == {"ARANGO_TIMEOUT": 0.5, "REALTIME_SESSION_LIFETIME": 60, "REALTIME_ANONYMOUS_SESSIONS": False}


@pytest.mark.parametrize(
    ("name", "raw", "fragment"),
    [
        ("ARANGO_TIMEOUT", "soon", "is not a number"),
        ("REALTIME_SESSION_LIFETIME", "-5", "must not be negative"),
        ("REALTIME_ANONYMOUS_SESSIONS", "maybe", "is not a boolean"),
    ],
)
def test_bad_environment_values_name_the_key_and_the_fix(name, raw, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        load_environ({name: raw})
    assert name in str(info.value)


def test_arango_verify_takes_a_boolean_or_a_ca_bundle_path():
    assert load_environ({"ARANGO_VERIFY": "false"}) == {"ARANGO_VERIFY": False}
    assert load_environ({"ARANGO_VERIFY": "/etc/ssl/ca.pem"}) == {"ARANGO_VERIFY": "/etc/ssl/ca.pem"}


def test_message_queue_prefers_the_explicit_key():
    assert message_queue_url({"REDIS_URL": "redis://a", "REALTIME_MESSAGE_QUEUE": "redis://b"}) == "redis://b"
    assert message_queue_url({"REDIS_URL": "redis://a"}) == "redis://a"
    assert message_queue_url({}) is None


def test_every_default_is_documented_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    missing = [key for key in DEFAULTS if f"`{key}`" not in readme and key not in readme]
    assert missing == []


def test_missing_secret_key_outside_development_is_a_startup_error(make_app):
    with pytest.raises(ConfigError, match="SECRET_KEY is not set") as info:
        make_app(SECRET_KEY=None, REALTIME_ENV="production")
    assert "secrets.token_hex" in str(info.value)


def test_development_generates_and_keeps_a_key(make_app):
    first = make_app(SECRET_KEY=None, REALTIME_ENV="development")
    second = make_app(SECRET_KEY=None, REALTIME_ENV="development")
    assert first.secret_key and first.secret_key == second.secret_key


def test_unknown_environment_name_is_rejected(make_app):
    with pytest.raises(ConfigError, match="REALTIME_ENV='staging'"):
        make_app(REALTIME_ENV="staging")


def test_embedded_store_with_a_message_queue_is_a_startup_error(make_app):
    with pytest.raises(ConfigError, match="embedded"):
        make_app(REDIS_URL="redis://127.0.0.1:6379/0")


def test_production_cookies_are_secure_httponly_lax(make_app):
    app = make_app(REALTIME_ENV="production")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_startup_logs_which_store_and_how_to_switch(make_app, caplog):
    with caplog.at_level(logging.INFO, logger="realtime"):
        make_app()
    lines = [r.getMessage() for r in caplog.records if "Session store" in r.getMessage()]
    assert len(lines) == 1 and "embedded SQLite" in lines[0] and "Set ARANGO_URL" in lines[0]


def test_sliding_sessions_need_a_store_that_can_extend(tmp_path):
    from flask import Flask
    from flask_socketio import SocketIO

    from realtime import Realtime, SessionStore

    class MinimalStore(SessionStore):
        kind = "minimal"

        def _load(self, sid):
            return None

        _load_many = _of_user = _recent = _save = _delete = _purge_expired = _load

    app = Flask("minimal", instance_path=str(tmp_path))
    app.config.update(
        SECRET_KEY="k" * 40,
        REALTIME_ASYNC_MODE="threading",
        REALTIME_SLIDING_SESSIONS=True,
        REALTIME_SESSION_STORE=MinimalStore(),
    )
    with pytest.raises(ConfigError, match="cannot extend sessions"):
        Realtime(app, SocketIO())
