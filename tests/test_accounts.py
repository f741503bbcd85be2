"""Accounts and HTTP sessions of the reference app: login, logout, CSRF, CLI."""

from __future__ import annotations

import re

import pytest

from tests.support.procs import Browser, base_env, run_flask


@pytest.fixture
def live(make_app, serve):
    app = make_app()
    app.extensions["realtime.users"].set_password("alice", "alice-pw")
    return serve(app)


def test_login_form_has_a_csrf_field(live):
    page = Browser(live.url).request("GET", "/login")
    assert page.status_code == 200
    assert re.search(r'<input type="hidden" name="csrf_token" value="[^"]{20,}"', page.text)


def test_login_without_csrf_token_is_rejected(live):
    browser = Browser(live.url)
    browser.request("GET", "/login")
    response = browser.request("POST", "/login", data={"username": "alice", "password": "alice-pw"})
    assert response.status_code == 400
    assert "expired" in response.text


def test_wrong_password_shows_an_inline_error_and_keeps_anonymous(live):
    browser = Browser(live.url)
    response = browser.login("alice", "nope")
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert browser.request("GET", "/chat").headers["Location"].startswith("/login")


def test_unknown_user_gets_the_same_answer(live):
    response = Browser(live.url).login("mallory", "x")
    assert response.status_code == 401 and "Wrong username or password." in response.text


def test_login_redirects_only_to_local_paths(live):
    for target, expected in [("/chat", "/chat"), ("//evil.example/x", "/chat"), ("https://evil.example", "/chat")]:
        browser = Browser(live.url)
        token = browser.csrf(f"/login?next={target}")
        response = browser.request(
            "POST", "/login", data={"username": "alice", "password": "alice-pw", "csrf_token": token, "next": target}
        )
        assert response.headers["Location"] == expected


def test_logout_requires_csrf_and_deletes_the_record(live):
    browser = Browser(live.url)
    browser.login("alice", "alice-pw")
    sid = live.app.session_interface.get_signing_serializer(live.app).loads(browser.cookie)["sid"]
    store = live.app.extensions["realtime"].store
    assert store.get(sid).uid == "alice"
    assert browser.request("POST", "/logout", data={}).status_code == 400
    assert store.get(sid) is not None
    assert browser.logout().status_code == 302
    assert store.get(sid) is None


def test_chat_page_requires_login(live):
    browser = Browser(live.url)
    assert browser.request("GET", "/chat").status_code == 302
    browser.login("alice", "alice-pw")
    page = browser.request("GET", "/chat")
    assert page.status_code == 200 and "alice" in page.text


def test_cli_init_db_is_idempotent_and_create_user_prompts(arango_server, tmp_path):
    env = base_env(
        ARANGO_URL=arango_server.url,
        ARANGO_USERNAME=arango_server.username,
        ARANGO_PASSWORD=arango_server.password,
        ARANGO_DB="cli_test_db",
    )
    first = run_flask(["--app", "wsgi", "realtime", "init-db"], env)
    assert first.returncode == 0, first.stderr
    assert "created database cli_test_db" in first.stdout and "created ttl index on sessions.expires_at" in first.stdout
    again = run_flask(["--app", "wsgi", "realtime", "init-db"], env)
    assert again.returncode == 0 and "already up to date" in again.stdout

    prompted = run_flask(["--app", "wsgi", "realtime", "create-user", "Dora"], env, input="s3cret\ns3cret\n")
    assert prompted.returncode == 0, prompted.stderr
    assert "Created user 'dora'" in prompted.stdout
    twice = run_flask(["--app", "wsgi", "realtime", "create-user", "dora", "--password", "x"], env)
    assert twice.returncode != 0 and "already exists" in twice.stderr and "--exist-ok" in twice.stderr
    bad = run_flask(["--app", "wsgi", "realtime", "create-user", "no/slash", "--password", "x"], env)
    assert bad.returncode != 0 and "Usernames are" in bad.stderr


def test_cli_reports_an_unreachable_database_clearly(tmp_path):
    from tests.support.procs import free_port

    env = base_env(ARANGO_URL=f"http://127.0.0.1:{free_port()}", ARANGO_TIMEOUT="1")
    result = run_flask(["--app", "wsgi", "realtime", "init-db"], env)
    assert result.returncode == 1
    assert "cannot connect" in result.stderr and "Check ARANGO_URL" in result.stderr
    assert "Traceback" not in result.stderr
