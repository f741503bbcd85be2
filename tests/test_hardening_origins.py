"""Cross-site WebSocket hijacking: only pages of allowed origins may open a cookie-authenticated socket.

Every handshake here carries alice's valid session cookie, as her browser
would attach it whichever page opened the socket; only the ``Origin`` differs.
Real HTTP against the Procfile's gunicorn + eventlet process, both transports.
"""

from __future__ import annotations

import pytest
from flask_socketio import SocketIO

from realtime import ConfigError, Realtime
from realtime.origins import normalize_origin, own_origins
from tests.support import eio
from tests.support.hardening import login, running, server_errors
from tests.support.procs import AppProcess

PARTNER = "https://partner.example.com"
FOREIGN = ["https://evil.example", "http://127.0.0.1.evil.example", "null", "https://partner.example.com.evil.example"]


@pytest.fixture(scope="module")
def app_proc(request):
    env = request.getfixturevalue("e2e_env")(
        REALTIME_ALLOWED_ORIGINS=f"{PARTNER}, https://other.example:8443",
        REALTIME_REVALIDATE_INTERVAL="0",  # a test counts database requests
    )
    with running(env) as proc:
        yield proc
    assert server_errors(proc) == []


@pytest.fixture(scope="module")
def alice_cookie(app_proc) -> str:
    return login(app_proc.url).cookie_header["Cookie"]


@pytest.mark.parametrize("origin", FOREIGN)
def test_foreign_origin_handshake_is_refused_over_polling(app_proc, alice_cookie, origin, arango_server):
    arango_server.reset_stats()
    outcome = eio.poll_connect(app_proc.url, [("Cookie", alice_cookie), ("Origin", origin)])
    assert (outcome.kind, outcome.status) == ("http", 400)
    assert outcome.body == '"Not an accepted origin."'
    assert arango_server.stats()["total"] == 0  # refused before the session is even looked up


@pytest.mark.parametrize("origin", FOREIGN)
def test_foreign_origin_handshake_is_refused_over_websocket(app_proc, alice_cookie, origin):
    outcome = eio.ws_connect(app_proc.url, [f"Cookie: {alice_cookie}"], origin=origin)
    assert (outcome.kind, outcome.status) == ("http", 400)


def test_every_polling_request_is_checked_not_only_the_handshake(app_proc, alice_cookie):
    """A hijacker cannot open the session from a clean context and then talk to it from its page."""
    outcome = eio.poll_connect(
        app_proc.url, [("Cookie", alice_cookie)], follow_headers=[("Origin", "https://evil.example")]
    )
    assert (outcome.kind, outcome.status) == ("http", 400)


@pytest.mark.parametrize("origin", ["own", PARTNER, "https://other.example:8443", "HTTPS://Partner.Example.com/"])
def test_own_and_listed_origins_connect_over_both_transports(app_proc, alice_cookie, origin):
    origin = app_proc.url if origin == "own" else origin
    polled = eio.poll_connect(
        app_proc.url, [("Cookie", alice_cookie), ("Origin", origin)], follow_headers=[("Origin", origin)]
    )
    assert polled.kind == "connected", polled
    assert eio.ws_connect(app_proc.url, [f"Cookie: {alice_cookie}"], origin=origin).kind == "connected"


def test_listed_origin_still_needs_a_valid_session(app_proc):
    outcome = eio.poll_connect(app_proc.url, [("Origin", PARTNER)], follow_headers=[("Origin", PARTNER)])
    assert outcome.refusal == ("Cookie not found", "no_cookie")


def test_behind_a_tls_terminating_proxy_the_public_origin_is_our_own(app_proc, alice_cookie):
    """Heroku-style: the router speaks https to the browser and http to us, keeps Host, sets X-Forwarded-Proto."""
    proxied = [("Host", "chat.example.com"), ("X-Forwarded-Proto", "https"), ("Origin", "https://chat.example.com")]
    outcome = eio.poll_connect(app_proc.url, [("Cookie", alice_cookie), *proxied], follow_headers=proxied)
    assert outcome.kind == "connected", outcome
    ws = eio.ws_connect(
        app_proc.url,
        [f"Cookie: {alice_cookie}", "X-Forwarded-Proto: https"],
        origin="https://chat.example.com",
        host="chat.example.com",
    )
    assert ws.kind == "connected", ws

    # The same page origin without the proxy's header is not ours: http://chat.example.com is.
    direct = [("Host", "chat.example.com"), ("Origin", "https://chat.example.com")]
    outcome = eio.poll_connect(app_proc.url, [("Cookie", alice_cookie), *direct])
    assert (outcome.kind, outcome.status) == ("http", 400)
    # A proxy that rewrites Host says so in X-Forwarded-Host.
    rewritten = [("Host", "10.0.0.5:8000"), ("X-Forwarded-Host", "chat.example.com"), ("X-Forwarded-Proto", "https")]
    outcome = eio.poll_connect(
        app_proc.url,
        [("Cookie", alice_cookie), *rewritten, ("Origin", "https://chat.example.com")],
        follow_headers=[*rewritten, ("Origin", "https://chat.example.com")],
    )
    assert outcome.kind == "connected", outcome


def test_clients_without_origin_reach_the_session_check_by_default(app_proc, alice_cookie):
    assert eio.poll_connect(app_proc.url, [("Cookie", alice_cookie)]).kind == "connected"
    assert eio.ws_connect(app_proc.url, [f"Cookie: {alice_cookie}"], origin=None).kind == "connected"
    assert eio.poll_connect(app_proc.url).refusal == ("Cookie not found", "no_cookie")


# -- configuration variants, in-process (threading mode, real HTTP) --------------


@pytest.fixture
def alice_live(make_app, serve):
    def start(**config):
        app = make_app(**config)
        app.extensions["realtime.users"].set_password("alice", "alice-pw")
        live = serve(app)
        return live, login(live.url).cookie_header["Cookie"]

    return start


def test_missing_origin_can_be_refused(alice_live):
    live, cookie = alice_live(REALTIME_ALLOW_MISSING_ORIGIN=False)
    for outcome in (
        eio.poll_connect(live.url, [("Cookie", cookie)]),
        eio.ws_connect(live.url, [f"Cookie: {cookie}"], origin=None),
    ):
        assert outcome.refusal == ("Origin header required", "missing_origin")
    own = [("Origin", live.url)]
    assert eio.poll_connect(live.url, [("Cookie", cookie), *own], follow_headers=own).kind == "connected"


def test_forwarded_headers_can_be_distrusted(alice_live):
    live, cookie = alice_live(REALTIME_TRUST_FORWARDED_ORIGIN=False)
    proxied = [("Host", "chat.example.com"), ("X-Forwarded-Proto", "https"), ("Origin", "https://chat.example.com")]
    outcome = eio.poll_connect(live.url, [("Cookie", cookie), *proxied])
    assert (outcome.kind, outcome.status) == ("http", 400)


@pytest.mark.parametrize("value", ["*", "https://a.example,*", ["https://a.example", "*"]])
def test_wildcard_origin_is_a_startup_error(make_app, value):
    with pytest.raises(ConfigError, match="cross-site WebSocket hijacking"):
        make_app(REALTIME_ALLOWED_ORIGINS=value)


@pytest.mark.parametrize("value", ["app.example.com", "https://app.example.com/chat", "ftp://x.example", "https://"])
def test_malformed_origin_is_a_startup_error(make_app, value):
    with pytest.raises(ConfigError, match="scheme://host"):
        make_app(REALTIME_ALLOWED_ORIGINS=value)


@pytest.mark.parametrize("cors", ["*", ["*"], ["https://a.example", "*"], []])
def test_socketio_built_to_accept_any_origin_is_refused(tmp_path, cors):
    from flask import Flask

    app = Flask("own", instance_path=str(tmp_path))
    app.config.update(SECRET_KEY="k" * 40, REALTIME_ASYNC_MODE="threading", REALTIME_ENV="development")
    socketio = SocketIO(app, async_mode="threading", cors_allowed_origins=cors)
    with pytest.raises(ConfigError, match="any website"):
        Realtime(app, socketio)


def test_wildcard_stops_the_real_process_at_startup(e2e_env):
    proc = AppProcess({**e2e_env(), "REALTIME_ALLOWED_ORIGINS": "*"})
    with pytest.raises(RuntimeError) as info:
        proc.start(timeout=20)
    proc.stop()
    proc.log.close()
    assert "REALTIME_ALLOWED_ORIGINS='*'" in str(info.value)


# -- the pure parts --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://App.Example.com", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://app.example.com:80/", "http://app.example.com"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://[::1]:5000", "http://[::1]:5000"),
        ("null", None),
        ("", None),
        ("https://user:pw@app.example.com", None),
        ("https://app.example.com:99999", None),
        ("javascript:alert(1)", None),
        (None, None),
    ],
)
def test_normalize_origin(raw, expected):
    assert normalize_origin(raw) == expected


def test_own_origins_use_the_first_forwarded_value_only_when_trusted():
    environ = {
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "10.0.0.5:8000",
        "HTTP_X_FORWARDED_PROTO": "https, http",
        "HTTP_X_FORWARDED_HOST": "chat.example.com, internal",
    }
    assert own_origins(environ, trust_forwarded=True) == {"http://10.0.0.5:8000", "https://chat.example.com"}
    assert own_origins(environ, trust_forwarded=False) == {"http://10.0.0.5:8000"}
    assert own_origins({}, trust_forwarded=True) == set()
