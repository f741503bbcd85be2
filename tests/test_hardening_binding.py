"""Each rule of realtime.binding against the Procfile's gunicorn + eventlet process, with real HTTP.

An attacker who learned the Engine.IO sid of alice's polling session (see
tests/browser/test_hijack.py for how a sibling page did) sends requests of
their own naming it. Each must be refused with the same 403 an unknown sid
gets, before Engine.IO or the connect guard sees it; alice's session lives on.
"""

from __future__ import annotations

import json
import re

import pytest
import websocket

from realtime.binding import JSONP_REFUSED, NOT_YOUR_SESSION
from tests.support import eio
from tests.support.hardening import cookie_reader, cookie_signer, leaked, login, running, server_errors
from tests.support.procs import Browser

POLLING = eio.PATH + "?EIO=4&transport=polling"


@pytest.fixture(scope="module")
def env(e2e_env):
    return e2e_env(REALTIME_REVALIDATE_INTERVAL="0")


@pytest.fixture(scope="module")
def app_proc(env):
    with running(env) as proc:
        yield proc
    assert server_errors(proc) == []


@pytest.fixture(scope="module")
def alice(app_proc) -> str:
    return login(app_proc.url).cookie_header["Cookie"]


@pytest.fixture(scope="module")
def bob(app_proc) -> str:
    return login(app_proc.url, "bob").cookie_header["Cookie"]


def open_polling(url: str, cookie: str | None) -> str:
    """A polling handshake sending ``cookie``; the path of its session."""
    opened = eio.http_request(url, "GET", POLLING, [("Cookie", cookie)] if cookie else [])
    assert opened.status == 200, opened
    return f"{POLLING}&sid={json.loads(opened.text[1:])['sid']}"


def with_cookie(cookie: str | None) -> list[eio.Header]:
    return [("Cookie", cookie)] if cookie else []


def connect(url: str, session: str, cookie: str | None) -> str:
    """CONNECT on ``session`` sending ``cookie``: ``"403"``-like status, or the Socket.IO answer's type."""
    posted = eio.http_request(url, "POST", session, with_cookie(cookie), b"40")
    if posted.status != 200:
        return str(posted.status)
    for _ in range(5):
        polled = eio.http_request(url, "GET", session, with_cookie(cookie))
        if polled.status != 200:
            return str(polled.status)
        for packet in polled.text.split(eio.RECORD_SEPARATOR):
            if packet.startswith(("40", "44")):
                return "connected" if packet.startswith("40") else "refused"
    raise AssertionError("no CONNECT answer")


def resigned(env, cookie: str) -> str:
    """alice's cookie signed again with another field: other bytes, the same session id (as Flask re-signs)."""
    payload = cookie_reader(env["SECRET_KEY"])(cookie.split("=", 1)[1])
    return "session=" + cookie_signer(env["SECRET_KEY"])({**payload, "seen": 1})


def refused_as_unknown(answer: eio.Answer) -> bool:
    return (answer.status, json.loads(answer.body)) == (403, NOT_YOUR_SESSION[1])


# -- JSONP and nosniff --------------------------------------------------------------


@pytest.mark.parametrize("query", ["&j=0", "&j=", "&j=x", "&j=0&j=1", "&J=0&j=2"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_jsonp_is_refused_with_a_clear_answer(app_proc, alice, method, query):
    body = b"40" if method == "POST" else None
    answer = eio.http_request(app_proc.url, method, POLLING + query, [("Cookie", alice)], body)
    assert (answer.status, json.loads(answer.body)) == (400, JSONP_REFUSED[1])
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "Refused a JSONP polling request from 127.0.0.1" in app_proc.output()


def test_every_engineio_answer_says_nosniff(app_proc, alice):
    session = open_polling(app_proc.url, alice)
    answers = {
        "handshake": eio.http_request(app_proc.url, "GET", POLLING, [("Cookie", alice)]),
        "POST": eio.http_request(app_proc.url, "POST", session, [("Cookie", alice)], b"40"),
        "poll": eio.http_request(app_proc.url, "GET", session, [("Cookie", alice)]),
        "Engine.IO's 400": eio.http_request(app_proc.url, "GET", eio.PATH + "?EIO=3&transport=polling"),
        "refusal": eio.http_request(app_proc.url, "GET", session),
    }
    assert {name: a.headers.get("x-content-type-options") for name, a in answers.items()} == dict.fromkeys(
        answers, "nosniff"
    )
    assert [a.status for a in answers.values()] == [200, 200, 200, 400, 403]
    assert "x-content-type-options" not in eio.http_request(app_proc.url, "GET", "/login").headers  # pages: not ours


# -- later requests of a polling session ----------------------------------------------


@pytest.mark.parametrize(
    ("later", "expected"),
    [
        ("none", "403"),  # the attacker's server: no cookie at all
        ("bob", "403"),  # another user's valid session
        ("forged", "403"),
        ("same", "connected"),
        ("re-signed", "connected"),  # Flask re-signs cookies on responses: same session id, other bytes
    ],
)
def test_the_connect_must_carry_the_handshakes_session(app_proc, env, alice, bob, later, expected):
    cookies = {"none": None, "bob": bob, "forged": "session=forged", "same": alice, "re-signed": resigned(env, alice)}
    session = open_polling(app_proc.url, alice)
    assert connect(app_proc.url, session, cookies[later]) == expected
    # Refused or not, alice's own client still uses the session.
    if expected == "403":
        assert connect(app_proc.url, session, alice) == "connected"


def test_a_poll_without_the_cookie_reads_nothing_and_ends_nothing(app_proc, alice):
    session = open_polling(app_proc.url, alice)
    assert connect(app_proc.url, session, alice) == "connected"
    stolen = eio.http_request(app_proc.url, "GET", session)
    assert refused_as_unknown(stolen)
    assert eio.http_request(app_proc.url, "POST", session, [("Cookie", alice)], b"2").status in (200, 400)
    echo = b'421["echo",{"still":"alice"}]'
    assert eio.http_request(app_proc.url, "POST", session, [("Cookie", alice)], echo).status == 200
    polled = eio.http_request(app_proc.url, "GET", session, [("Cookie", alice)])
    assert '431[{"still":"alice"}]' in polled.text


def test_a_session_opened_without_a_cookie_takes_no_cookie_later(app_proc, alice):
    """Binding works both ways: a client without cookies keeps working, and cannot add alice's later."""
    assert connect(app_proc.url, open_polling(app_proc.url, None), None) == "refused"  # by the guard: no_cookie
    assert connect(app_proc.url, open_polling(app_proc.url, None), alice) == "403"


def test_a_login_since_the_handshake_means_a_new_handshake(app_proc):
    """The reference app logs in with a page load, which opens a new socket; a session opened before is refused."""
    browser = Browser(app_proc.url)
    browser.csrf()  # an anonymous session
    session = open_polling(app_proc.url, browser.cookie_header["Cookie"])
    assert browser.login("alice", "alice-pw").status_code == 302
    logged_in = browser.cookie_header["Cookie"]
    assert connect(app_proc.url, session, logged_in) == "403"
    assert connect(app_proc.url, open_polling(app_proc.url, logged_in), logged_in) == "connected"


# -- the websocket upgrade and websocket-only sessions --------------------------------


def upgrade(url: str, session: str, cookie: str | None) -> int | str:
    """Upgrade ``session`` to a websocket; ``"upgraded"`` or the HTTP status of the refusal."""
    query = session[len(eio.PATH) :].replace("transport=polling", "transport=websocket")
    try:
        ws = websocket.create_connection(
            eio.ws_url(url, eio.PATH, query), header=[f"Cookie: {cookie}"] if cookie else [], suppress_origin=True
        )
    except websocket.WebSocketBadStatusException as exc:
        return exc.status_code
    try:
        ws.send("2probe")
        assert ws.recv() == "3probe"
        ws.send("5")
        return "upgraded"
    finally:
        eio.ws_close(ws)


def test_the_upgrade_must_carry_the_handshakes_session(app_proc, alice, bob):
    session = open_polling(app_proc.url, alice)
    assert connect(app_proc.url, session, alice) == "connected"
    assert upgrade(app_proc.url, session, None) == 403
    assert upgrade(app_proc.url, session, bob) == 403
    assert upgrade(app_proc.url, session, alice) == "upgraded"


def test_a_websocket_only_session_takes_no_http_requests(app_proc, alice):
    """Its handshake was the websocket itself: nothing legitimate names its sid over HTTP, even with the cookie."""
    ws = websocket.create_connection(eio.ws_url(app_proc.url), header=[f"Cookie: {alice}"], suppress_origin=True)
    try:
        sid = json.loads(ws.recv()[1:])["sid"]
        session = f"{POLLING}&sid={sid}"
        assert refused_as_unknown(eio.http_request(app_proc.url, "POST", session, [("Cookie", alice)], b"40"))
        assert refused_as_unknown(eio.http_request(app_proc.url, "GET", session, [("Cookie", alice)]))
        assert upgrade(app_proc.url, session, alice) == 403
    finally:
        eio.ws_close(ws)


# -- what a refusal tells -------------------------------------------------------------


def test_a_refusal_is_the_same_for_an_unknown_sid_and_tells_nothing(app_proc, env, alice):
    session = open_polling(app_proc.url, alice)
    made_up = re.sub(r"sid=.*", "sid=" + "A" * 20, session)

    def answer(path: str) -> tuple[int, bytes, dict[str, str]]:
        a = eio.http_request(app_proc.url, "POST", path, [], b"40")
        return a.status, a.body, {k: v for k, v in a.headers.items() if k != "date"}

    assert answer(session) == answer(made_up)
    assert refused_as_unknown(eio.http_request(app_proc.url, "POST", session, [], b"40"))
    sid = session.rsplit("=", 1)[1]
    assert leaked(app_proc, [sid, alice.split("=", 1)[1]]) == []
    assert "its session cookie is not the one that opened the session" in app_proc.output()
