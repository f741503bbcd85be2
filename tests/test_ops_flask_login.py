"""Drop-in: an existing Flask-Login app gains authenticated sockets by adding the extension.

The app (``tests/dropin_app``) has its own users and views and calls
``login_user``/``logout_user`` as it always did. Served for real (werkzeug,
threading mode) against the ArangoDB test server, with real Socket.IO clients.
"""

from __future__ import annotations

import logging
import re
import textwrap
import threading
from pathlib import Path

import pytest
import requests

from realtime import revoke_user
from realtime.extension import get_state
from realtime.health import get_readiness
from tests.dropin_app.app import create_app
from tests.support.procs import Browser, Refused, connect, hang_up

ROOT = Path(__file__).resolve().parents[1]
SECRET = "dropin-secret-" + "d" * 32


@pytest.fixture
def dropin(arango_config, serve):
    app = create_app(
        {
            "SECRET_KEY": SECRET,
            "REALTIME_ASYNC_MODE": "threading",
            "REALTIME_ENV": "development",
            **arango_config,
        }
    )
    with app.app_context():
        get_state(app).extension.init_db()
    yield serve(app)
    get_readiness(app).stop()


def log_in(url: str, name: str, remember: bool = False) -> Browser:
    browser = Browser(url)
    browser.request("GET", "/login")
    data = {"name": name, "password": f"{name}-pw", **({"remember": "yes"} if remember else {})}
    response = browser.request("POST", "/login", data=data)
    assert response.status_code == 302, response.text
    return browser


def cookie_payload(app, browser: Browser) -> dict:
    return app.session_interface.get_signing_serializer(app).loads(browser.cookie)


def test_the_apps_own_login_authenticates_its_sockets(dropin):
    ada = log_in(dropin.url, "ada")
    assert ada.request("GET", "/").text == "Hello, ada"
    client = connect(dropin.url, ada.cookie_header)
    try:
        # current_user works in socket handlers: the user of the socket's session record.
        assert client.call("whoami", timeout=5) == {"id": "17", "name": "ada"}
    finally:
        hang_up(client)


def test_the_cookie_names_the_record_and_the_record_holds_the_uid(dropin):
    anonymous = Browser(dropin.url)
    anonymous.request("GET", "/login")
    before = cookie_payload(dropin.app, anonymous)["sid"]
    ada = anonymous
    ada.request("POST", "/login", data={"name": "ada", "password": "ada-pw"})
    payload = cookie_payload(dropin.app, ada)
    # A new session id at login (no fixation); Flask-Login's bookkeeping keys sit next to it.
    assert payload["sid"] != before
    assert set(payload) <= {"sid", "_user_id", "_fresh", "_id", "_permanent"}
    with dropin.app.app_context():
        record = get_state(dropin.app).store.get(payload["sid"])
        assert record.uid == "17"
        assert get_state(dropin.app).store.get(before) is None


def test_visitors_who_did_not_log_in_are_refused(dropin):
    visitor = Browser(dropin.url)
    assert visitor.request("GET", "/login").status_code == 200
    assert visitor.request("GET", "/login").status_code == 200  # back with its session id: the record is written
    with pytest.raises(Refused) as info:
        connect(dropin.url, visitor.cookie_header)
    assert info.value.reason == "anonymous"
    with pytest.raises(Refused) as info:
        connect(dropin.url)
    assert info.value.reason == "no_cookie"


def test_logout_user_ends_the_sockets_of_that_session_only(dropin):
    ada_laptop, ada_phone = log_in(dropin.url, "ada"), log_in(dropin.url, "ada")
    laptop = connect(dropin.url, ada_laptop.cookie_header)
    phone = connect(dropin.url, ada_phone.cookie_header)
    ended: list[object] = []
    gone = threading.Event()
    laptop.on("session_ended", ended.append)
    laptop.on("disconnect", lambda *reason: gone.set())
    stale = ada_laptop.cookie_header
    try:
        assert ada_laptop.request("POST", "/logout").status_code == 302
        assert gone.wait(5)
        assert ended == [{"reason": "logout"}]
        assert phone.call("whoami", timeout=5)["id"] == "17"  # the other session stays
        with pytest.raises(Refused) as info:
            connect(dropin.url, stale)
        assert info.value.reason == "unknown_session"
        assert ada_laptop.request("GET", "/").status_code == 302  # logged out over HTTP too
    finally:
        hang_up(laptop)
        hang_up(phone)


def test_a_revoked_session_ends_the_http_login_too(dropin):
    grace = log_in(dropin.url, "grace")
    assert grace.request("GET", "/").text == "Hello, grace"
    with dropin.app.app_context():
        assert len(revoke_user("42")) == 1
    # The cookie still carries Flask-Login's _user_id, but the record is gone: logged out.
    response = grace.request("GET", "/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_remember_me_is_not_a_way_around_the_record(dropin, caplog):
    with caplog.at_level(logging.WARNING, logger="realtime.flask_login"):
        grace = Browser(dropin.url)
        grace.request("GET", "/login")
        response = grace.request("POST", "/login", data={"name": "grace", "password": "grace-pw", "remember": "yes"})
    assert "remember_token" not in response.headers.get("Set-Cookie", "")
    assert "remember=True) is ignored" in caplog.text

    # A remember cookie Flask-Login issued before (signed for user 42) logs nobody in, and is deleted.
    from flask_login.utils import encode_cookie

    with dropin.app.test_request_context():
        remember = encode_cookie("42")
    response = requests.get(dropin.url + "/", cookies={"remember_token": remember}, allow_redirects=False, timeout=5)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert re.search(r"remember_token=;", response.headers.get("Set-Cookie", ""))


def test_socket_handlers_learn_the_user_without_a_database_request(dropin, arango_server):
    ada = log_in(dropin.url, "ada")
    client = connect(dropin.url, ada.cookie_header)
    try:
        arango_server.reset_stats()
        for _ in range(10):
            assert client.call("whoami", timeout=5)["name"] == "ada"
        assert arango_server.stats()["total"] == 0
    finally:
        hang_up(client)


def test_while_the_store_is_down_nobody_is_logged_in_and_the_login_survives(dropin, arango_server):
    ada = log_in(dropin.url, "ada")
    with arango_server.faults(fail_reads=True, error_num=30):
        response = ada.request("GET", "/")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert ada.request("GET", "/").text == "Hello, ada"


def test_readme_add_to_your_app_is_the_code_the_dropin_app_added():
    source = (ROOT / "tests" / "dropin_app" / "app.py").read_text()
    added = re.findall(r"# realtime: begin\n(.*?)\n\s*# realtime: end", source, re.S)
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Add to your app", 1)[1].split("\n## ", 1)[0]
    shown = [textwrap.dedent(code).strip() for code in re.findall(r"```python\n(.*?)```", section, re.S)]
    assert len(added) == len(shown) == 2
    for block, code in zip(added, shown, strict=True):
        assert textwrap.dedent(block).strip() == code
