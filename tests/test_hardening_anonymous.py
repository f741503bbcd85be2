"""Anonymous session records: a client cannot make the server write to the database at will.

Against the Procfile's gunicorn + eventlet process and the ArangoDB test
server, whose request counters show every write. Every page request without
a cookie used to write an anonymous record (one client: ~950 writes/s). Now:

- a client that keeps no cookies costs no write at all, however fast it asks;
- a client that does return its cookie gets a record, but one address gets
  at most ``REALTIME_ANONYMOUS_RATE`` of them a minute;
- a browser sees what it always did: a session id from its first visit (its
  login form works with it), an anonymous record once it comes back, and a
  socket refused as ``anonymous``.
"""

from __future__ import annotations

import pytest

from realtime.errors import ConfigError
from tests.support.hardening import cookie_reader, running, server_errors, session_documents
from tests.support.procs import Browser, Refused, connect

RATE = 5
FLOOD = 300


@pytest.fixture(scope="module")
def env(request) -> dict[str, str]:
    return request.getfixturevalue("e2e_env")(
        REALTIME_ANONYMOUS_RATE=str(RATE),
        REALTIME_TRUSTED_PROXIES="1",  # each test plays its own client address
        REALTIME_REVALIDATE_INTERVAL="0",
    )


@pytest.fixture(scope="module")
def app_proc(env):
    with running(env) as proc:
        yield proc
    assert server_errors(proc) == []


def writes(arango_server) -> int:
    return int(arango_server.stats()["by_kind"]["document_write"])


def test_a_client_that_keeps_no_cookies_costs_no_write(app_proc, arango_server):
    arango_server.reset_stats()
    browser = Browser(app_proc.url)
    for _ in range(FLOOD):
        browser.cookie = None
        browser.http.cookies.clear()
        page = browser.request("GET", "/login", headers={"X-Forwarded-For": "203.0.113.60"})
        assert page.status_code == 200 and 'name="csrf_token"' in page.text
        assert browser.cookie  # every visit still gets its session id
    assert writes(arango_server) == 0


def test_records_for_returning_clients_are_bounded_per_address(app_proc, arango_server):
    arango_server.reset_stats()
    for _ in range(FLOOD // 3):
        browser = Browser(app_proc.url)  # a new visitor each time, who does return the cookie
        for _ in range(2):
            browser.request("GET", "/login", headers={"X-Forwarded-For": "203.0.113.61"})
    assert writes(arango_server) == RATE
    other = Browser(app_proc.url)
    for _ in range(2):
        other.request("GET", "/login", headers={"X-Forwarded-For": "203.0.113.62"})
    assert writes(arango_server) == RATE + 1  # another address has its own allowance


def test_a_browser_sees_what_it_always_did(app_proc, env):
    read = cookie_reader(env["SECRET_KEY"])
    first_visit = Browser(app_proc.url)
    first_visit.request("GET", "/login", headers={"X-Forwarded-For": "203.0.113.63"})
    sid = read(first_visit.cookie)["sid"]
    assert sid not in session_documents(env)  # no record yet: the id is all the form needs
    assert first_visit.login("alice", "alice-pw").status_code == 302  # CSRF token of the record-less id

    browser = Browser(app_proc.url)
    for _ in range(2):
        browser.request("GET", "/login", headers={"X-Forwarded-For": "203.0.113.64"})
    sid = read(browser.cookie)["sid"]
    assert session_documents(env)[sid].get("uid") is None  # stored under the id the browser has
    with pytest.raises(Refused) as refused:
        connect(app_proc.url, browser.cookie_header)
    assert (refused.value.message, refused.value.reason) == ("Session is not authenticated", "anonymous")


@pytest.mark.parametrize("value", [0, -3, "30", 2.5, True])
def test_an_anonymous_rate_that_cannot_work_is_a_startup_error(make_app, value):
    with pytest.raises(ConfigError, match="REALTIME_ANONYMOUS_RATE"):
        make_app(REALTIME_ANONYMOUS_RATE=value)
