"""What a person sees and does on the reference app's pages, for the browser tests.

Locators go by role and label where the page has them, so a test also fails
when a control loses its accessible name.
"""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Locator, Page, expect

_CHAT_URL = re.compile(r"/chat(#.*)?$")
_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


class ChatPage:
    """One browser tab on the conversation page (or on its way there)."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @classmethod
    def open(cls, context: BrowserContext, path: str = "/chat") -> ChatPage:
        page = context.new_page()
        page.goto(path)
        return cls(page)

    # -- login, with the keyboard only -------------------------------------

    def log_in(self, username: str, password: str) -> None:
        """From the login page: type into the labelled fields and press Enter."""
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_label("Password").press("Enter")

    # -- the parts of the page ---------------------------------------------

    @property
    def connection(self) -> Locator:
        return self.page.locator("#connection")

    @property
    def notice(self) -> Locator:
        return self.page.locator("#notice")

    @property
    def message_box(self) -> Locator:
        return self.page.get_by_role("textbox", name="Message")

    @property
    def log(self) -> Locator:
        return self.page.get_by_role("log")

    @property
    def messages(self) -> Locator:
        return self.log.locator(".message")

    @property
    def online(self) -> Locator:
        return self.page.locator("#online > li")

    def conversation_link(self, name: str) -> Locator:
        return self.page.get_by_role("navigation", name="Conversations").get_by_role("link", name=name)

    # -- actions -------------------------------------------------------------

    def send(self, text: str) -> None:
        """Type into the message box and press Enter, as a keyboard user does."""
        self.message_box.focus()
        self.page.keyboard.type(text)
        self.page.keyboard.press("Enter")

    # -- expectations --------------------------------------------------------

    def expect_state(self, state: str, text: str | None = None) -> None:
        expect(self.connection).to_have_attribute("data-state", state)
        if text is not None:
            expect(self.connection).to_contain_text(text)

    def expect_connected(self) -> None:
        self.expect_state("connected", "Connected")

    def expect_online(self, *uids: str) -> None:
        expect(self.online).to_have_count(len(uids))
        for index, uid in enumerate(uids):
            expect(self.online.nth(index)).to_have_attribute("data-uid", uid)

    def expect_message(self, index: int, sender: str, text: str) -> None:
        message = self.messages.nth(index)
        expect(message.locator(".sender")).to_have_text(sender)
        expect(message.locator(".message-text")).to_have_text(text)
        expect(message.locator("time")).to_have_attribute("datetime", _ISO_TIME)

    def record_states(self) -> None:
        """Start keeping every connection state the page shows, for :meth:`states_seen`."""
        self.page.evaluate(
            """() => {
                const status = document.getElementById("connection");
                window.statesSeen = [status.dataset.state];
                new MutationObserver(() => window.statesSeen.push(status.dataset.state))
                    .observe(status, {attributes: true, attributeFilter: ["data-state"]});
            }"""
        )

    def states_seen(self) -> list[str]:
        return self.page.evaluate("() => window.statesSeen")


def log_in(context: BrowserContext, username: str, password: str, conversation: str | None = None) -> ChatPage:
    """A new tab that logs in and lands on the conversation page, connected."""
    chat = ChatPage.open(context, "/login")
    chat.log_in(username, password)
    expect(chat.page).to_have_url(_CHAT_URL)
    if conversation is not None:
        chat.conversation_link(conversation).click()
    chat.expect_connected()
    return chat
