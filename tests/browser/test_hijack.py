"""Socket hijack from a page of another origin of the same site, in Chromium.

alice is logged in to the app at ``127.0.0.1:PORT``. She opens a page served
from another port of ``127.0.0.1``: another origin, but the same site, so her
``SameSite=Lax`` cookie goes along with whatever that page includes, and a
``<script src>`` sends no ``Origin``. The page tries to learn the Engine.IO
sid of a session opened with her cookie; the test then plays the attacker's
own server, which sends the Socket.IO CONNECT for that sid (no cookie, no
``Origin``) and, if accepted, joins a conversation to see whose socket it got.

Before ``realtime.binding`` the JSONP variant handed the page the sid and the
attacker's server was accepted as alice.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import typing as t

import pytest
from playwright.sync_api import Page

from tests.browser.chat_page import log_in
from tests.support import eio

pytestmark = pytest.mark.browser

RS = eio.RECORD_SEPARATOR


class _AttackerPages(http.server.BaseHTTPRequestHandler):
    """Serves ``pages[path]`` as HTML: the attacker's site on another port."""

    def __init__(self, pages: dict[str, str], *args: t.Any, **kwargs: t.Any) -> None:
        self.pages = pages
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = self.pages.get(self.path.split("?")[0], "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: t.Any) -> None:
        pass


@pytest.fixture
def attacker_site() -> t.Iterator[tuple[str, dict[str, str]]]:
    """(base URL, pages by path) of a tiny site on another port of 127.0.0.1."""
    pages: dict[str, str] = {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_AttackerPages, pages))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", pages
    server.shutdown()
    server.server_close()
    thread.join(5)


def including_page(script_url: str) -> str:
    """A page that includes ``script_url`` as a script, with JSONP callbacks that record what they get."""
    return f"""<!doctype html><title>cute cats</title>
<script>
  window.learned = [];
  window.___eio = Array.from({{length: 10}}, () => (data) => window.learned.push(data));
  window.scriptOutcome = "pending";
</script>
<script src="{script_url}" onload="scriptOutcome = 'ran'" onerror="scriptOutcome = 'blocked'"></script>
"""


def sid_in(learned: list[str]) -> str | None:
    for data in learned:
        for packet in data.split(RS):
            if packet.startswith("0{"):
                return json.loads(packet[1:])["sid"]
    return None


def _poll_for(url: str, session: str, prefixes: tuple[str, ...]) -> str | None:
    """The first packet starting with one of ``prefixes`` in the next few polls (no cookie); None if refused."""
    for _ in range(5):
        polled = eio.http_request(url, "GET", session, timeout=10)
        if polled.status != 200:
            return None
        for packet in polled.text.split(RS):
            if packet.startswith(prefixes):
                return packet
    raise AssertionError(f"none of {prefixes} after 5 polls")


def attackers_server_connects(url: str, sid: str) -> str:
    """Play the attacker's server: CONNECT to ``sid`` with no cookie and no Origin; who did it get in as?

    Returns ``"refused (HTTP <status>)"``, ``"refused (CONNECT_ERROR)"``, or
    ``"accepted as <uids online>"`` after joining a conversation.
    """
    session = f"{eio.PATH}?EIO=4&transport=polling&sid={sid}"
    posted = eio.http_request(url, "POST", session, body=b"40", timeout=10)
    if posted.status != 200:
        return f"refused (HTTP {posted.status})"
    answer = _poll_for(url, session, ("40", "44"))
    if answer is None or answer.startswith("44"):
        return "refused (CONNECT_ERROR)" if answer else "refused (HTTP on poll)"
    join = b'421["join",{"conversation":"general"}]'
    assert eio.http_request(url, "POST", session, body=join, timeout=10).status == 200
    ack = _poll_for(url, session, ("431",))
    assert ack is not None
    return "accepted as " + ",".join(json.loads(ack[3:])[0]["online"])


def alice_visits(server_url: str, new_context: t.Any, attacker_site: tuple[str, dict[str, str]], query: str) -> Page:
    """alice, logged in, opens the attacker's page including ``/socket.io/?<query>``; once the script settled."""
    attacker_url, pages = attacker_site
    alice = new_context(server_url)
    log_in(alice, "alice", "alice-pw")
    pages["/cats"] = including_page(f"{server_url}/socket.io/?{query}")
    page = alice.new_page()
    page.goto(f"{attacker_url}/cats")
    page.wait_for_function("() => window.scriptOutcome !== 'pending'")
    return page


@pytest.mark.parametrize("jsonp", ["j=0", "j=3", "j=0&j=1"])
def test_a_sibling_page_cannot_hijack_a_socket_through_jsonp(shared_server, new_context, attacker_site, jsonp):
    page = alice_visits(shared_server.url, new_context, attacker_site, f"EIO=4&transport=polling&{jsonp}")
    sid = sid_in(page.evaluate("() => window.learned"))

    outcome = attackers_server_connects(shared_server.url, sid) if sid else "nothing learned"
    assert not outcome.startswith("accepted"), outcome
    assert (sid, page.evaluate("() => scriptOutcome")) == (None, "blocked")  # refused with 400: no script ran


def test_a_polling_answer_cannot_be_loaded_as_a_script(shared_server, new_context, attacker_site):
    """Without ``j`` the answer is text/plain; ``nosniff`` keeps the browser from running it at all."""
    page = alice_visits(shared_server.url, new_context, attacker_site, "EIO=4&transport=polling")
    assert page.evaluate("() => [window.learned, scriptOutcome]") == [[], "blocked"]


def test_a_leaked_sid_is_useless_without_the_session_cookie(shared_server, new_context):
    """However the attacker learns a sid (JSONP, a log, a Referer), its session answers only alice's cookie."""
    alice = new_context(shared_server.url)
    chat = log_in(alice, "alice", "alice-pw")
    # The same handshake alice's client makes, from her own page; its sid is what leaks.
    opened = chat.page.evaluate(
        "async () => (await fetch('/socket.io/?EIO=4&transport=polling', {credentials: 'include'})).text()"
    )
    sid = json.loads(opened[1:])["sid"]

    outcome = attackers_server_connects(shared_server.url, sid)
    assert outcome == "refused (HTTP 403)", outcome
    # alice's own page still uses that session (her cookie, her origin).
    session = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    status = chat.page.evaluate(
        "async (path) => (await fetch(path, {method: 'POST', body: '40', credentials: 'include'})).status", session
    )
    assert status == 200
