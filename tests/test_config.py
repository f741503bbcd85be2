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


# -- types of app.config values, and Flask's own keys read like every other ---------------


def test_every_key_has_a_type_the_startup_check_knows():
    from realtime.config import expected_types

    assert all(expected_types(name, default) for name, default in DEFAULTS.items())


@pytest.mark.parametrize(
    ("name", "value", "fix"),
    [
        ("REALTIME_SLIDING_SESSIONS", "false", "set REALTIME_SLIDING_SESSIONS = False"),
        ("REALTIME_ANONYMOUS_SESSIONS", 1, "must be True or False"),
        ("REALTIME_SESSION_LIFETIME", "3600", "e.g. REALTIME_SESSION_LIFETIME = 3600"),
        ("REALTIME_RATE_LIMIT", True, "must be a whole number"),
        ("REALTIME_RATE_LIMIT", 2.5, "must be a whole number"),
        ("ARANGO_TIMEOUT", None, "must be a number"),
        ("ARANGO_TIMEOUT", -1.0, "not negative"),
        ("ARANGO_TIMEOUT", float("nan"), "finite"),
        ("REALTIME_CHANNEL", ["a"], "must be a string"),
        ("REALTIME_ALLOWED_ORIGINS", 5, "must be a string or a list or a tuple"),
        ("SECRET_KEY_FALLBACKS", "old-one,old-two", "each character of a string as a signing key"),
        ("SECRET_KEY_FALLBACKS", ["old", ""], "empty key would let anyone sign"),
        ("SECRET_KEY_FALLBACKS", [42], "not a non-empty string"),
        ("SECRET_KEY", 12345, "must be a string or bytes"),
    ],
)
def test_values_of_the_wrong_type_are_startup_errors_naming_the_key_and_the_fix(make_app, name, value, fix):
    with pytest.raises(ConfigError) as info:
        make_app(**{name: value})
    assert name in str(info.value) and fix in str(info.value)
    assert "old-one" not in str(info.value)  # secrets are never echoed


def test_values_of_the_right_type_pass(make_app):
    app = make_app(
        ARANGO_TIMEOUT=1,  # an int where a float is expected is a number all the same
        ARANGO_VERIFY="/etc/ssl/ca.pem",
        REALTIME_ALLOWED_ORIGINS=["https://a.example.com"],
        SECRET_KEY=b"bytes-key-" + b"k" * 32,
        SECRET_KEY_FALLBACKS=("old-" + "o" * 32,),
        REALTIME_METRICS_TOKEN=None,
    )
    assert app.config["ARANGO_TIMEOUT"] == 1


def _bare_app(tmp_path, **config):
    """A drop-in app: Flask, SocketIO and Realtime, config only as given (no reference app factory)."""
    from flask import Flask
    from flask_socketio import SocketIO

    from realtime import Realtime

    app = Flask("dropin", instance_path=str(tmp_path))
    app.config.update(REALTIME_ASYNC_MODE="threading", **config)
    Realtime(app, SocketIO())
    return app


def test_secret_keys_come_from_the_environment_when_app_config_has_none(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-env-" + "e" * 32)
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", " old-one-" + "1" * 32 + " , old-two-" + "2" * 32 + ",")
    app = _bare_app(tmp_path)
    assert app.secret_key == "from-env-" + "e" * 32
    assert app.config["SECRET_KEY_FALLBACKS"] == ["old-one-" + "1" * 32, "old-two-" + "2" * 32]


def test_a_secret_key_set_in_both_places_differently_warns_which_one_is_used(tmp_path, monkeypatch):
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    config_logger = logging.getLogger("realtime.config")  # watched directly: "realtime" may not propagate
    config_logger.addHandler(handler)
    monkeypatch.setenv("SECRET_KEY", "from-env-" + "e" * 32)
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", "old-" + "o" * 32)
    try:
        same = _bare_app(tmp_path, SECRET_KEY="from-env-" + "e" * 32, SECRET_KEY_FALLBACKS=["old-" + "o" * 32])
        assert records == []
        app = _bare_app(tmp_path, SECRET_KEY="from-config-" + "c" * 32)
    finally:
        config_logger.removeHandler(handler)
    assert same.secret_key == "from-env-" + "e" * 32
    assert app.secret_key == "from-config-" + "c" * 32
    assert app.config["SECRET_KEY_FALLBACKS"] == ["old-" + "o" * 32]  # unset in app.config: the environment's
    messages = [r.getMessage() for r in records]
    assert len(messages) == 1 and "SECRET_KEY is set both in app.config and in the environment" in messages[0]
    assert "app.config's is used" in messages[0] and "from-" not in messages[0]
