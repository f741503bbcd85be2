"""The reference app in Chromium: login, live conversations, presence, connection states.

The app runs as the Procfile runs it (gunicorn, eventlet worker) on the
ArangoDB test server; each person is a separate browser context (own cookies),
each tab a page. Assertions are about what the page shows.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.chat_page import ChatPage, log_in
from tests.browser.conftest import save_screenshot
from tests.support.procs import ROOT, run_flask

pytestmark = pytest.mark.browser

SCREENSHOT = ROOT / "docs" / "screenshot-chat.png"


def test_login_shows_errors_inline_and_works_from_the_keyboard(shared_server, new_context):
    context = new_context(shared_server.url)
    page = ChatPage.open(context, "/chat").page
    expect(page).to_have_url(re.compile(r"/login\?next=/chat$"))

    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type("not-her-password")
    page.keyboard.press("Enter")

    error = page.get_by_role("alert")
    expect(error).to_have_text("Wrong username or password.")
    username, password = page.get_by_label("Username"), page.get_by_label("Password")
    expect(username).to_have_value("alice")
    expect(username).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_attribute("aria-describedby", "login-error")
    expect(password).to_be_focused()

    page.keyboard.type("alice-pw")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/chat$"))
    chat = ChatPage(page)
    chat.expect_connected()
    expect(page.locator("#me")).to_have_text("alice")
    chat.expect_online("alice")


def test_two_people_chat_both_ways(shared_server, new_context):
    alice = log_in(new_context(shared_server.url), "alice", "alice-pw", "general")
    bob = log_in(new_context(shared_server.url), "bob", "bob-pw", "general")
    alice.expect_online("alice", "bob")
    bob.expect_online("alice", "bob")

    alice.send("Hi Bob! The deploy went out at noon.")
    expect(alice.message_box).to_have_value("")
    for chat in (alice, bob):
        chat.expect_message(0, "alice", "Hi Bob! The deploy went out at noon.")
    expect(alice.messages.nth(0)).to_have_class(re.compile(r"\bmessage-mine\b"))
    expect(bob.messages.nth(0)).not_to_have_class(re.compile(r"\bmessage-mine\b"))

    # Shift+Enter is a new line, Enter sends.
    bob.message_box.focus()
    bob.page.keyboard.type("Great, thanks!")
    bob.page.keyboard.press("Shift+Enter")
    bob.page.keyboard.type("Dashboards look healthy.")
    bob.page.keyboard.press("Enter")
    for chat in (alice, bob):
        chat.expect_message(1, "bob", "Great, thanks!\nDashboards look healthy.")

    alice.send("See you at the retro.")
    bob.expect_message(2, "alice", "See you at the retro.")
    save_screenshot(alice.page, SCREENSHOT)

    # Text is text: markup someone types is shown, never run.
    markup = "<img src=x onerror=\"document.title='owned'\"> <b>not bold</b>"
    bob.send(markup)
    alice.expect_message(3, "bob", markup)
    expect(alice.log.locator("img, b")).to_have_count(0)
    expect(alice.page).to_have_title("#general · realtime")
    expect(bob.messages).to_have_count(4)


def test_presence_updates_when_someone_leaves(shared_server, new_context):
    alice = log_in(new_context(shared_server.url), "alice", "alice-pw", "random")
    bob = log_in(new_context(shared_server.url), "bob", "bob-pw", "random")
    alice.expect_online("alice", "bob")
    expect(alice.page.locator("#online-count")).to_have_text("2")

    # Bob switches conversation from the keyboard: the link, then Enter.
    bob.conversation_link("help").focus()
    bob.page.keyboard.press("Enter")
    expect(bob.page.locator("#conversation-title")).to_have_text("help")
    expect(bob.conversation_link("help")).to_have_attribute("aria-current", "page")
    bob.expect_online("bob")
    alice.expect_online("alice")

    bob.conversation_link("random").click()
    alice.expect_online("alice", "bob")

    # Closing the tab ends the socket: the server drops bob from the room.
    bob.page.close()
    alice.expect_online("alice")
    expect(alice.page.locator("#online-count")).to_have_text("1")


def test_logging_out_in_one_tab_ends_the_socket_in_another(shared_server, new_context):
    context = new_context(shared_server.url)
    first = log_in(context, "alice", "alice-pw", "help")
    second = ChatPage.open(context, "/chat#help")
    second.expect_connected()
    bob = log_in(new_context(shared_server.url), "bob", "bob-pw", "help")
    bob.expect_online("alice", "bob")
    second.record_states()

    first.page.get_by_role("button", name="Log out").click()
    expect(first.page).to_have_url(re.compile(r"/login$"))
    # Back does not bring the conversation page back from a cache.
    first.page.go_back()
    expect(first.page).to_have_url(re.compile(r"/login\?next=/chat(#help)?$"))

    second.expect_state("ended", "You were logged out in another tab or window.")
    expect(second.notice).to_be_visible()
    expect(second.notice).to_contain_text("You were logged out in another tab or window.")
    expect(second.message_box).to_be_disabled()
    expect(second.online).to_have_count(0)
    expect(second.page.get_by_role("button", name="Send")).to_be_disabled()
    # The server disconnected that tab: bob sees alice go.
    bob.expect_online("bob")
    # ... and the tab does not try again on its own.
    second.page.wait_for_timeout(1500)
    second.expect_state("ended")
    assert "reconnecting" not in second.states_seen()

    second.notice.get_by_role("link", name="Log in again").click()
    expect(second.page).to_have_url(re.compile(r"/login\?next=/chat$"))
    second.log_in("alice", "alice-pw")
    second.expect_connected()


def test_revocation_from_the_command_line_ends_the_open_tab(start_chat_server, new_context):
    # The CLI is another process: the revocation reaches the app over Redis.
    server = start_chat_server(REDIS_URL="redis://127.0.0.1:6379/0", REALTIME_CHANNEL=f"browser-{uuid.uuid4().hex}")
    chat = log_in(new_context(server.url), "alice", "alice-pw", "general")

    result = run_flask(["--app", "wsgi", "realtime", "sessions", "revoke", "--user", "alice"], server.env)
    assert result.returncode == 0, result.stdout + result.stderr

    chat.expect_state("ended", "Your session was ended on the server.")
    chat.notice.get_by_role("link", name="Log in again").click()
    expect(chat.page).to_have_url(re.compile(r"/login\?next=/chat$"))


@pytest.mark.parametrize(
    ("visitor", "refusal"),
    [("without a cookie", "Cookie not found"), ("with an anonymous session", "Session is not authenticated")],
)
def test_anonymous_visitor_sees_the_refusal_and_is_led_to_login(start_chat_server, new_context, visitor, refusal):
    server = start_chat_server()
    context = new_context(server.url)
    chat = log_in(context, "alice", "alice-pw", "general")
    chat.record_states()

    # The tab stays open while its visitor becomes anonymous (cookies cleared,
    # or replaced by a fresh visit's anonymous session), and the server restarts.
    context.clear_cookies()
    if visitor == "with an anonymous session":
        other_tab = context.new_page()
        other_tab.goto("/login")
        assert [c["name"] for c in context.cookies()] == ["session"]
        other_tab.close()
    server.restart()

    chat.expect_state("refused", f"Not connected — {refusal}. Log in to continue.")
    assert "reconnecting" in chat.states_seen()
    expect(chat.notice).to_contain_text(refusal)
    expect(chat.message_box).to_be_disabled()

    chat.notice.get_by_role("link", name="Log in").click()
    expect(chat.page).to_have_url(re.compile(r"/login\?next=/chat$"))
    chat.log_in("alice", "alice-pw")
    chat.expect_connected()


def test_unavailable_session_store_is_retried_with_backoff(start_chat_server, new_context, arango_server):
    server = start_chat_server()
    alice = log_in(new_context(server.url), "alice", "alice-pw", "general")

    with arango_server.faults(fail_reads=True):
        server.restart()
        alice.expect_state("unavailable", "Not connected — Session store unavailable. Retrying in 1 s (attempt 1).")
        expect(alice.notice.get_by_role("link", name="Retry now")).to_be_visible()
        # Still failing: the next retry waits longer.
        alice.expect_state("unavailable", "Retrying in 2 s (attempt 2).")
        expect(alice.message_box).to_be_enabled()
        alice.send("Written while the store is down")
        expect(alice.page.locator("#composer-error")).to_contain_text("Not sent: you are not connected.")
        expect(alice.message_box).to_have_value("Written while the store is down")

    alice.expect_connected()
    expect(alice.notice).to_be_hidden()
    alice.page.get_by_role("button", name="Send").click()
    alice.expect_message(0, "alice", "Written while the store is down")


def test_a_deploy_moves_the_open_tab_to_the_new_server_without_a_reload(start_chat_server, new_context):
    server = start_chat_server(REALTIME_SHUTDOWN_JITTER="1")
    alice = log_in(new_context(server.url), "alice", "alice-pw", "random")
    alice.record_states()

    # SIGTERM: the server sends server_shutdown, then disconnects the tab.
    server.restart(graceful=True)

    alice.expect_connected()
    alice.expect_online("alice")
    seen = alice.states_seen()
    assert "reconnecting" in seen, seen
    assert not {"disconnected", "refused", "ended", "unavailable"} & set(seen), seen
    alice.send("Back after the deploy")
    alice.expect_message(0, "alice", "Back after the deploy")


def test_page_says_so_when_the_client_script_fails_its_integrity_check(start_chat_server, new_context):
    server = start_chat_server(REALTIME_SOCKETIO_CLIENT_INTEGRITY="sha384-" + "A" * 64)
    chat = ChatPage.open(new_context(server.url), "/login")
    chat.log_in("alice", "alice-pw")
    chat.expect_state("failed", "The realtime client could not be loaded")
    expect(chat.message_box).to_be_disabled()
