"""The session binding's decision in-process: which later Engine.IO requests the cookie of the handshake lets through.

The attacks against the real gunicorn + eventlet worker (JSONP, a leaked sid
used without the cookie, a websocket upgrade by another session) are in
``tests/test_hardening_binding.py``; this checks every kind of cookie a
handshake can carry, fast enough for a mutation run (docs/mutation-2026-12-03.md).
"""

from __future__ import annotations

import typing as t
from types import SimpleNamespace

import pytest
from flask import Flask

from realtime import auth
from realtime.binding import SessionBinding
from realtime.sessions import new_session_id

PATH = "/socket.io/"


@pytest.fixture(scope="module")
def app() -> Flask:
    app = Flask(__name__)
    app.secret_key = "binding-units-" + "k" * 32
    return app


def signed(app: Flask, data: dict[str, t.Any]) -> str:
    return "session=" + app.session_interface.get_signing_serializer(app).dumps(data)  # type: ignore[union-attr]


def engineio(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b"ok"]


def request(binding: SessionBinding, query: str, cookie: str | None) -> tuple[str, dict[str, t.Any]]:
    """``(status, environ)`` of a polling GET through the binding (Engine.IO behind it answers 200)."""
    answered: dict[str, str] = {}
    environ: dict[str, t.Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": PATH, "QUERY_STRING": query}
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: t.Any = None) -> None:
        answered["status"] = status

    binding(environ, start_response)
    return answered["status"], environ


# Every kind of cookie a handshake can carry; latin-1 text as WSGI servers hand headers over.
COOKIES = {
    "a session of ours": lambda app: signed(app, {auth.SESSION_KEY: new_session_id()}),
    "a cookie Flask would not open": lambda app: "session=not.signed.by-us",
    "a signed cookie without a session id": lambda app: signed(app, {"theme": "dark"}),
    "a header that is not UTF-8": lambda app: "session=\xff\xfe",
    "no cookie": lambda app: None,
}


@pytest.mark.parametrize("kind", COOKIES)
def test_later_requests_pass_with_the_handshakes_cookie_and_no_other(app, kind):
    server = SimpleNamespace(environ={})
    binding = SessionBinding(engineio, app, server, PATH)
    cookie = COOKIES[kind](app)
    status, handshake = request(binding, "EIO=4&transport=polling", cookie)
    assert status == "200 OK"
    server.environ["abc"] = handshake
    assert request(binding, "EIO=4&transport=polling&sid=abc", cookie)[0] == "200 OK"
    for other_kind, other in COOKIES.items():
        if other_kind != kind:
            assert request(binding, "EIO=4&transport=polling&sid=abc", other(app))[0] == "403 FORBIDDEN", other_kind
