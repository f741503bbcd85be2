"""Hostile input against the real process: headers, cookies, session records, packets.

Everything goes to the Procfile's gunicorn + eventlet worker over real HTTP
and websockets, with hand-made requests (``tests.support.eio``), partly as
hypothesis properties. For every input: the right refusal or error, never a
5xx, never a socket let in without a valid session, the worker stays up (a
control socket keeps answering), no other session's record is touched, and
no cookie or session id used here ever appears in the server log.

In-process cases of the same kind are in ``tests/test_guard.py``; these add
the real server's parsing (gunicorn, eventlet's websocket, Engine.IO) and the
properties. The refused-connect limit and the cap on sessions waiting to
authenticate are off here (``REALTIME_RATE_LIMIT=0``,
``REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS=0``; the raw clients leave refused
sessions for the server to close): every input must reach the session check;
both limits have their own tests.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import secrets
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor

import itsdangerous
import pytest
import websocket
from flask.json.tag import TaggedJSONSerializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.sessions import is_valid_session_id, new_session_id
from tests.support import eio
from tests.support.hardening import (
    cookie_reader,
    cookie_signer,
    hang_up_http,
    insert_session,
    leaked,
    login,
    running,
    server_errors,
    session_documents,
)
from tests.support.procs import connect, hang_up, procfile_command

#: Inputs tried, by kind, for the closing report (printed at the end of the module).
TRIED: collections.Counter[str] = collections.Counter()

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NO_COOKIE = ("Cookie not found", "no_cookie")
UNKNOWN = ("Session is not authenticated", "unknown_session")
ANONYMOUS = ("Session is not authenticated", "anonymous")


@pytest.fixture(scope="module")
def env(request) -> dict[str, str]:
    # No periodic re-reads of live sessions either: tests here count database requests.
    return request.getfixturevalue("e2e_env")(
        REALTIME_RATE_LIMIT="0", REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS="0", REALTIME_REVALIDATE_INTERVAL="0"
    )


@pytest.fixture(scope="module")
def app_proc(env):
    with running(env) as proc:
        yield proc
        print("\nbad inputs tried: " + ", ".join(f"{kind}={n}" for kind, n in sorted(TRIED.items())))
        print(f"total: {sum(TRIED.values())}")
    assert server_errors(proc) == []


@pytest.fixture(scope="module")
def alice(app_proc):
    browser = login(app_proc.url, "alice")
    yield browser
    hang_up_http(browser)


@pytest.fixture(scope="module")
def sign(env) -> t.Callable[[t.Any], str]:
    return cookie_signer(env["SECRET_KEY"])


@pytest.fixture(scope="module")
def bob_socket(app_proc):
    bob = login(app_proc.url, "bob")
    client = connect(app_proc.url, bob.cookie_header)
    yield client
    hang_up(client)
    hang_up_http(bob)


@pytest.fixture
def control(bob_socket):
    """bob's socket, connected throughout: after each test it must still answer, whatever the others sent."""
    yield bob_socket
    assert bob_socket.connected
    assert bob_socket.call("echo", {"still": "here"}, timeout=5) == {"still": "here"}


def marker() -> str:
    """A unique token to plant inside a hostile value, so the server log can be searched for it."""
    return "mk" + secrets.token_hex(12)


def no_cookie_or_bad_request(outcome: eio.Outcome) -> bool:
    return outcome.refusal == NO_COOKIE or (outcome.kind, outcome.status) == ("http", 400)


# -- Cookie headers ---------------------------------------------------------------

header_text = st.text(st.characters(min_codepoint=1, max_codepoint=255, exclude_characters="\r\n"), max_size=300)
header_bytes = st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


def test_random_session_cookie_values_are_no_cookie(app_proc, control):
    planted: list[str] = []

    @PROPERTY
    @given(before=header_text, after=header_text)
    def check(before: str, after: str) -> None:
        token = marker()
        planted.append(token)
        TRIED["random session cookie value"] += 1
        outcome = eio.poll_connect(app_proc.url, [("Cookie", f"session={before}{token}{after}")])
        assert no_cookie_or_bad_request(outcome), outcome

    check()
    assert leaked(app_proc, planted) == []


def test_random_non_utf8_and_duplicated_cookie_headers(app_proc, control):
    planted: list[str] = []

    @PROPERTY
    @given(values=st.lists(header_bytes, min_size=1, max_size=5))
    def check(values: list[bytes]) -> None:
        token = marker()
        planted.append(token)
        TRIED["raw/duplicated Cookie headers"] += 1
        headers = [("Cookie", value + token.encode()) for value in values]
        headers.append(("Cookie", b"session=\xff\xfe" + token.encode() + b"\x80"))
        outcome = eio.poll_connect(app_proc.url, headers)
        assert no_cookie_or_bad_request(outcome), outcome

    check()
    assert leaked(app_proc, planted) == []


@pytest.mark.parametrize(
    ("name", "headers", "expected"),
    [
        ("64 kB cookie", [("Cookie", "session=" + "a" * 65_536)], 431),
        ("1 MB cookie", [("Cookie", "session=" + "b" * 1_048_576)], 431),
        ("8 kB cookie", [("Cookie", "session=" + "c" * 8_000)], NO_COOKIE),
        ("200 cookie pairs", [("Cookie", "; ".join(f"c{i}=v{i}" for i in range(200)))], NO_COOKIE),
        ("150 Cookie headers", [("Cookie", f"c{i}=v") for i in range(150)], 431),
        ("NUL byte", [("Cookie", "session=a\x00b")], 400),
        ("bare session", [("Cookie", "session")], NO_COOKIE),
        ("empty value", [("Cookie", "session=")], NO_COOKIE),
        ("empty header", [("Cookie", "")], NO_COOKIE),
        ("quoted garbage", [("Cookie", 'session="\\"\\\\x"')], NO_COOKIE),
        ("latin-1 bytes", [("Cookie", b"session=\xe9t\xe9\xff")], NO_COOKIE),
        ("session twice", [("Cookie", "session=a; session=b")], NO_COOKIE),
    ],
)
def test_explicit_cookie_header_abuse(app_proc, control, name, headers, expected):
    TRIED["explicit Cookie header abuse"] += 1
    outcome = eio.poll_connect(app_proc.url, headers)
    if isinstance(expected, int):
        assert (outcome.kind, outcome.status) == ("http", expected)
    else:
        assert outcome.refusal == expected


def test_a_valid_cookie_among_duplicates_is_never_someone_else(app_proc, alice, control):
    """Duplicated headers are joined by the server; whatever comes of it, it is alice's session or nothing."""
    cookie = alice.cookie_header["Cookie"]
    for headers in (
        [("Cookie", cookie), ("Cookie", "session=garbage")],
        [("Cookie", "session=garbage"), ("Cookie", cookie)],
        [("Cookie", "x=1"), ("Cookie", cookie)],
        [("Cookie", f"{cookie}; {cookie}")],
    ):
        TRIED["valid cookie among duplicates"] += 1
        outcome = eio.poll_connect(app_proc.url, headers)
        assert outcome.kind == "connected" or outcome.refusal == NO_COOKIE, outcome


# -- forged, truncated and re-signed cookies ----------------------------------------


def test_truncated_cookies_are_no_cookie(app_proc, alice, control):
    cookie = t.cast(str, alice.cookie)

    @PROPERTY
    @given(cut=st.integers(min_value=0, max_value=len(cookie) - 1))
    def check(cut: int) -> None:
        TRIED["truncated cookie"] += 1
        outcome = eio.poll_connect(app_proc.url, [("Cookie", f"session={cookie[:cut]}")])
        assert outcome.refusal == NO_COOKIE

    check()


def test_altered_cookies_never_name_another_session(app_proc, alice, env, control):
    """Changing one character breaks the signature, except in base64 bits that decode to the same bytes."""
    cookie = t.cast(str, alice.cookie)
    read = cookie_reader(env["SECRET_KEY"])
    original = read(cookie)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."

    @PROPERTY
    @given(position=st.integers(min_value=0, max_value=len(cookie) - 1), char=st.sampled_from(alphabet))
    def check(position: int, char: str) -> None:
        altered = cookie[:position] + char + cookie[position + 1 :]
        TRIED["altered cookie"] += 1
        outcome = eio.poll_connect(app_proc.url, [("Cookie", f"session={altered}")])
        if outcome.kind == "connected":
            assert read(altered) == original  # the same signed bytes: still only alice's own session
        else:
            assert outcome.refusal == NO_COOKIE

    check()


def _timed_serializer(key: str, *, salt: str = "cookie-session", digest: t.Any = hashlib.sha1, age: float = 0):
    """Flask's cookie serializer, optionally back-dated by ``age`` seconds."""

    class BackDated(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age)

    return itsdangerous.URLSafeTimedSerializer(
        key,
        salt=salt,
        serializer=TaggedJSONSerializer(),
        signer=BackDated,
        signer_kwargs={"key_derivation": "hmac", "digest_method": digest},
    )


def test_forged_and_resigned_cookies_are_no_cookie(app_proc, alice, env, control):
    key = env["SECRET_KEY"]
    payload = cookie_reader(key)(t.cast(str, alice.cookie))
    bob_like = {"sid": new_session_id()}
    unsigned = itsdangerous.encoding.base64_encode(json.dumps(payload).encode()).decode()
    forged = {
        "wrong key": _timed_serializer("not-the-key-" + "x" * 40).dumps(payload),
        "key with one more character": _timed_serializer(key + "!").dumps(payload),
        "right key, other salt": _timed_serializer(key, salt="itsdangerous").dumps(payload),
        "right key, sha256": _timed_serializer(key, digest=hashlib.sha256).dumps(payload),
        "right key, signed 32 days ago (past PERMANENT_SESSION_LIFETIME)": _timed_serializer(key, age=32 * 86400).dumps(
            payload
        ),
        "payload swapped, old signature": unsigned + "." + t.cast(str, alice.cookie).split(".", 1)[1],
        "unsigned payload": unsigned,
        "someone else's sid, wrong key": _timed_serializer("k" * 40).dumps(bob_like),
        "signature only": t.cast(str, alice.cookie).split(".", 1)[1],
    }
    for name, cookie in forged.items():
        TRIED["forged/re-signed cookie"] += 1
        assert eio.poll_connect(app_proc.url, [("Cookie", f"session={cookie}")]).refusal == NO_COOKIE, name
    # Control: the back-dating helper makes cookies the server accepts when fresh.
    assert eio.poll_connect(app_proc.url, [("Cookie", f"session={_timed_serializer(key).dumps(payload)}")]).kind == (
        "connected"
    )


# -- validly signed cookies with a sid we never issued ------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=200),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)


def explicit_sids(real: str) -> dict[str, t.Any]:
    return {
        "int": 12345,
        "negative int": -1,
        "float": 1.5,
        "true": True,
        "list": [real],
        "dict": {"sid": real},
        "tagged tuple": {" t": [real]},
        "null": None,
        "empty": "",
        "10 kB": "a" * 10_240,
        "slash": real[:40] + "/x",
        "path to another record": f"../sessions/{real}",
        "query": real + "?x=1",
        "fragment": real + "#",
        "percent-encoded": "%41" * 15,
        "dot-dot": real[:40] + "..",
        "space": real[:21] + " " + real[21:],
        "leading space": " " + real,
        "non-ASCII": real[:40] + "é",
        "emoji": "🙂" * 20,
        "newline": real + "\n",
        "NUL": real + "\x00",
        "too short": real[:31],
        "too long": "a" * 129,
        "AQL-ish": '" || true || "',
    }


def test_signed_cookies_with_malformed_sids_never_reach_the_database(
    app_proc, alice, sign, env, arango_server, control
):
    real = cookie_reader(env["SECRET_KEY"])(t.cast(str, alice.cookie))["sid"]
    before = session_documents(env)
    arango_server.reset_stats()
    for name, sid in explicit_sids(real).items():
        TRIED["signed cookie, malformed sid (explicit)"] += 1
        outcome = eio.poll_connect(app_proc.url, [("Cookie", f"session={sign({'sid': sid})}")])
        assert outcome.refusal == (NO_COOKIE if sid in (None, "") else UNKNOWN), name
    assert arango_server.stats()["total"] == 0
    assert session_documents(env) == before


def test_signed_cookies_with_any_sid_value(app_proc, sign, env, arango_server, control):
    before = session_documents(env)
    arango_server.reset_stats()
    shaped = 0

    @PROPERTY
    @given(sid=json_values)
    def check(sid: t.Any) -> None:
        nonlocal shaped
        TRIED["signed cookie, any sid value (property)"] += 1
        shaped += is_valid_session_id(sid)
        outcome = eio.poll_connect(app_proc.url, [("Cookie", f"session={sign({'sid': sid})}")])
        assert outcome.refusal == (NO_COOKIE if sid in (None, "") else UNKNOWN), sid

    check()
    # Only ids shaped like ours cost a database read: one each.
    assert arango_server.stats()["total"] == shaped
    assert session_documents(env) == before


def test_signed_cookies_with_other_payloads(app_proc, sign, control):
    for payload in ({}, {"uid": "alice"}, {"SID": new_session_id()}, {"sid ": new_session_id()}, {"_fresh": True}):
        TRIED["signed cookie, other payload"] += 1
        assert eio.poll_connect(app_proc.url, [("Cookie", f"session={sign(payload)}")]).refusal == NO_COOKIE


# -- stored records of surprising shape ------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"uid": 0}, ANONYMOUS),
        ({"uid": ""}, ANONYMOUS),
        ({"uid": []}, ANONYMOUS),
        ({"uid": {}}, ANONYMOUS),
        ({"uid": None}, ANONYMOUS),
        ({"uid": True}, ANONYMOUS),
        ({"uid": 3.5}, ANONYMOUS),
        ({"uid": -4}, ANONYMOUS),
        ({"uid": "   "}, ANONYMOUS),
        ({"uid": ["alice"]}, ANONYMOUS),
        ({"uid": {"$ne": None}}, ANONYMOUS),
        ({"uid": "x" * 257}, ANONYMOUS),
        ({}, ANONYMOUS),
        ({"uid": "alice", "expires_at": "9999999999"}, UNKNOWN),
        ({"uid": "alice", "expires_at": None}, UNKNOWN),
        ({"uid": "alice", "expires_at": [9999999999]}, UNKNOWN),
        ({"uid": "alice", "expires_at": True}, UNKNOWN),
        ({"uid": "alice", "expires_at": 1}, UNKNOWN),
    ],
)
def test_records_of_surprising_shape_let_nobody_in(app_proc, env, sign, control, fields, expected):
    sid = new_session_id()
    now = time.time()
    insert_session(env, {"_key": sid, "created_at": now, "expires_at": now + 600, **fields})
    before = session_documents(env)
    TRIED["stored record of surprising shape"] += 1
    assert eio.poll_connect(app_proc.url, [("Cookie", f"session={sign({'sid': sid})}")]).refusal == expected
    assert session_documents(env) == before  # refusing changed nothing, this record included


# -- Engine.IO / Socket.IO packets --------------------------------------------------


@pytest.mark.parametrize(
    ("method", "query", "status"),
    [
        ("GET", "?EIO=3&transport=polling", 400),
        ("GET", "?EIO=4&transport=carrier-pigeon", 400),
        ("GET", "?EIO=4&transport=polling&sid=not-a-session", 403),
        ("POST", "?EIO=4&transport=polling&sid=not-a-session", 403),
        ("GET", "?EIO=4&transport=polling&j=x", 400),
        ("GET", "?EIO=4&transport=websocket", 400),  # no Upgrade header
        ("GET", "?" + "EIO=4&" * 800 + "transport=polling", 414),
        ("PUT", "?EIO=4&transport=polling", 405),
        ("DELETE", "?EIO=4&transport=polling", 405),
    ],
)
def test_malformed_engineio_requests(app_proc, control, method, query, status):
    TRIED["malformed Engine.IO request"] += 1
    assert eio.http_request(app_proc.url, method, eio.PATH + query).status in (status, 400)


@contextlib.contextmanager
def authenticated_ws(app_proc, cookie: str) -> t.Iterator[websocket.WebSocket]:
    ws = eio.ws_open(app_proc.url, [f"Cookie: {cookie}"])
    ws.send("40")
    assert eio.ws_recv_socketio(ws).startswith("40")
    try:
        yield ws
    finally:
        eio.ws_close(ws)


def after_frame(ws: websocket.WebSocket, probe_timeout: float = 2.0) -> str:
    """What became of a socket after a hostile frame: "echoes", "closed", or "silent" (still open, ignoring us)."""
    try:
        ws.send('4299["echo",{"probe":1}]')
        ws.settimeout(probe_timeout)
        deadline = time.monotonic() + probe_timeout
        while time.monotonic() < deadline:
            data = ws.recv()
            if data == "2":
                ws.send("3")
            elif isinstance(data, str) and data.startswith("4399"):
                return "echoes"
        return "silent"
    except (websocket.WebSocketConnectionClosedException, BrokenPipeError, ConnectionResetError):
        return "closed"
    except websocket.WebSocketTimeoutException:
        return "silent"
    except websocket.WebSocketProtocolException:
        return "closed"


DEEP = "[" * 50_000 + "]" * 50_000

MALFORMED_FRAMES = {
    "empty event": ("42", {"echoes"}),
    "truncated JSON": ("42[", {"echoes"}),
    "no event name": ("42[]", {"echoes"}),
    "numeric event name": ("42[123]", {"echoes"}),
    "NaN": ('42["echo",NaN]', {"echoes"}),
    "deep nesting (RecursionError)": ('42["echo",' + DEEP[:25_000] + DEEP[-25_000:] + "]", {"echoes"}),
    "ack without id": ("43", {"echoes"}),
    "ack for nothing": ("431[]", {"echoes"}),
    "CONNECT_ERROR from a client": ('44{"message":"x"}', {"echoes"}),
    "unknown Socket.IO type": ("49", {"echoes"}),
    "bare Engine.IO message": ("4", {"echoes"}),
    "unknown Engine.IO type": ("9", {"echoes", "closed"}),
    "unknown namespace event": ('42/nope,["echo",1]', {"echoes"}),
    "event named connect": ('42["connect"]', {"echoes"}),
    "event named disconnect": ('42["disconnect"]', {"echoes"}),
    "second CONNECT": ("40", {"echoes"}),
    "binary event, attachments never sent": ('451-["echo",{"_placeholder":true,"num":0}]', {"echoes", "silent"}),
    "upgrade packet again": ("5", {"echoes"}),
    # Frames Engine.IO cannot decode at all: closed cleanly (realtime.transport), not a 500.
    "empty text frame": ("", {"closed"}),
    "NUL bytes": ("\x00\x00\x00", {"closed"}),
    "not a packet type": ("x42[]", {"closed"}),
    "binary frame": (b"\x00\xff\xfe\x01", {"echoes", "closed"}),
    "message just over REALTIME_MAX_MESSAGE_BYTES": ('42["echo","' + "x" * 65_536 + '"]', {"closed"}),
    "1 MB message": ('42["echo","' + "y" * 1_048_576 + '"]', {"closed"}),
}


@pytest.mark.parametrize("name", MALFORMED_FRAMES)
def test_malformed_socketio_frames_over_websocket(app_proc, alice, control, name):
    frame, allowed = MALFORMED_FRAMES[name]
    TRIED["malformed Socket.IO frame"] += 1
    errors = len(server_errors(app_proc))
    with authenticated_ws(app_proc, alice.cookie_header["Cookie"]) as ws:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, websocket.WebSocketConnectionClosedException):
            ws.send_binary(frame) if isinstance(frame, bytes) else ws.send(frame)
        assert after_frame(ws) in allowed
    assert server_errors(app_proc)[errors:] == []


def test_a_message_under_the_limit_is_delivered(app_proc, alice, control):
    text = "z" * 60_000
    with authenticated_ws(app_proc, alice.cookie_header["Cookie"]) as ws:
        ws.send(f'421["echo","{text}"]')
        ws.settimeout(5)
        assert ws.recv() == f'431["{text}"]'


def test_random_frames_over_websocket(app_proc, alice, control):
    @PROPERTY
    @given(
        frame=st.one_of(st.text(max_size=400), st.binary(max_size=400), st.text(max_size=200).map(lambda s: "42" + s))
    )
    def check(frame: str | bytes) -> None:
        TRIED["random websocket frame (property)"] += 1
        errors = len(server_errors(app_proc))
        with authenticated_ws(app_proc, alice.cookie_header["Cookie"]) as ws:
            with contextlib.suppress(
                BrokenPipeError, ConnectionResetError, websocket.WebSocketConnectionClosedException
            ):
                ws.send_binary(frame) if isinstance(frame, bytes) else ws.send(frame)
            assert after_frame(ws, probe_timeout=1.0) in {"echoes", "closed", "silent"}
        assert control.call("echo", {"n": 1}, timeout=5) == {"n": 1}
        assert server_errors(app_proc)[errors:] == []

    check()


def connected_polling_session(url: str, cookie: str) -> str:
    """The path of a long-polling session connected to namespace ``/`` (CONNECT answer already read)."""
    opened = eio.http_request(url, "GET", eio.PATH + "?EIO=4&transport=polling", [("Cookie", cookie)])
    sid = json.loads(opened.text[1:])["sid"]
    session = f"{eio.PATH}?EIO=4&transport=polling&sid={sid}"
    assert eio.http_request(url, "POST", session, [("Cookie", cookie)], body=b"40").status == 200
    assert eio.http_request(url, "GET", session, [("Cookie", cookie)]).text.startswith("40")
    return session


def test_random_polling_bodies(app_proc, alice, control):
    """POSTed payloads of a connected polling session: 200 or 400 (403 once ended), the worker unharmed."""

    @PROPERTY
    @given(body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
    def check(body: bytes) -> None:
        TRIED["random polling body (property)"] += 1
        cookie = [("Cookie", alice.cookie_header["Cookie"])]
        session = connected_polling_session(app_proc.url, alice.cookie_header["Cookie"])
        with ThreadPoolExecutor(max_workers=1) as pool:
            # A long-poll stays open throughout, as a browser's would: Engine.IO answers a POST that
            # ends the session only once the close packet has been picked up by a poll.
            poll = pool.submit(eio.http_request, app_proc.url, "GET", session, cookie, timeout=30)
            assert eio.http_request(app_proc.url, "POST", session, cookie, body, timeout=10).status in (200, 400)
            closed = eio.http_request(app_proc.url, "POST", session, cookie, b"1", timeout=10)  # ends the long-poll
            # 403 once a body (b"1") has ended the session: an ended session's sid is answered as unknown.
            assert closed.status in (200, 400, 403)
            assert poll.result().status in (200, 400, 403)

    check()
    assert control.call("echo", {"n": 2}, timeout=5) == {"n": 2}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"6", 400),  # NOOP
        (b"0", 400),  # OPEN
        (b"2", 400),  # PING: servers ping in Engine.IO v4, clients don't
        (b"9", 400),
        (b"4hi\x1e6", 400),
        (b'42["echo","' + b"x" * 70_000 + b'"]', 413),
    ],
)
def test_polling_posts_that_would_hang_engineio_are_answered_at_once(app_proc, control, body, status):
    """Engine.IO would close the session and wait forever for the close to be polled, pinning a worker slot.

    No cookie is needed for that, so each is answered by realtime.transport instead, and the session lives on.
    """
    TRIED["polling POST that would hang Engine.IO"] += 1
    opened = eio.http_request(app_proc.url, "GET", eio.PATH + "?EIO=4&transport=polling")
    session = f"{eio.PATH}?EIO=4&transport=polling&sid={json.loads(opened.text[1:])['sid']}"
    assert eio.http_request(app_proc.url, "POST", session, body=body, timeout=5).status == status
    assert eio.http_request(app_proc.url, "POST", session, body=b"40", timeout=5).status == 200
    assert eio.http_request(app_proc.url, "GET", session, timeout=5).text.startswith("44")  # still served


def test_refused_sessions_cannot_send_events(app_proc, control):
    """After CONNECT_ERROR (or before any CONNECT) no event handler runs for the client."""
    for cookie in ("session=forged", None):
        TRIED["events without an accepted CONNECT"] += 1
        ws = eio.ws_open(app_proc.url, [f"Cookie: {cookie}"] if cookie else [])
        try:
            ws.send('421["echo",{"sneaky":1}]')  # before CONNECT
            ws.send("40")
            assert eio.ws_recv_socketio(ws).startswith("44")
            ws.send('422["echo",{"sneaky":2}]')  # after the refusal
            ws.settimeout(1.5)
            with contextlib.suppress(websocket.WebSocketTimeoutException, websocket.WebSocketConnectionClosedException):
                while True:
                    data = ws.recv()
                    assert not (isinstance(data, str) and data.startswith("43")), data
        finally:
            eio.ws_close(ws)


def test_no_cookie_or_sid_in_the_log(app_proc, alice, env):
    """Every credential the module used, scanned for in the whole server log."""
    sid = cookie_reader(env["SECRET_KEY"])(t.cast(str, alice.cookie))["sid"]
    documents = session_documents(env)
    assert leaked(app_proc, [t.cast(str, alice.cookie), sid, *documents]) == []


# -- driver debug logs ----------------------------------------------------------------


def test_driver_debug_logs_never_show_a_session_id(env, arango_server, tmp_path):
    """An operator turns the root logger to DEBUG: urllib3 and python-arango log request URLs, which hold sids."""
    config = {  # merged over gunicorn's own logging defaults, whose loggers use these two handler names
        "version": 1,
        "root": {"level": "DEBUG", "handlers": ["error_console"]},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
            "error_console": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        },
    }
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config))
    with running(env, command=[*procfile_command("web"), "--log-config-json", str(path)]) as proc:
        browser = login(proc.url, "alice")  # deletes the anonymous record: DELETE .../sessions/<sid>
        sid = cookie_reader(env["SECRET_KEY"])(t.cast(str, browser.cookie))["sid"]
        hang_up(connect(proc.url, browser.cookie_header))  # GET .../sessions/<sid>
        arango_server.stop()
        try:
            with pytest.raises(Exception):  # noqa: B017 - refused, how exactly is tested elsewhere
                connect(proc.url, browser.cookie_header, timeout=10)  # python-arango: "ConnectionError: <url>"
        finally:
            arango_server.start()
        hang_up_http(browser)
    assert leaked(proc, [sid, t.cast(str, browser.cookie)]) == []
    # The driver lines are there (so the test shows something), without the id.
    assert "/_api/document/sessions/[redacted]" in proc.output()
