"""Another site frames the app's pages (clickjacking): Chromium must refuse to show them.

The framing page is served from another port of 127.0.0.1: a sibling origin
of the same site, so the browser even sends the ``SameSite=Lax`` session
cookie with the framed requests. The app runs as the Procfile runs it.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import typing as t

import pytest

from tests.browser.chat_page import log_in

pytestmark = pytest.mark.browser


@contextlib.contextmanager
def framing_site(html: str) -> t.Iterator[str]:
    """A page at ``http://127.0.0.1:<another port>/`` with ``html`` as its body."""
    body = html.encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: t.Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_page_of_another_origin_cannot_frame_the_login_or_the_conversation_page(shared_server, new_context):
    context = new_context(shared_server.url)
    log_in(context, "alice", "alice-pw", "general")
    frames = "".join(f'<iframe name="{p}" src="{shared_server.url}/{p}"></iframe>' for p in ("login", "chat"))
    with framing_site(f"<!doctype html><title>decoy</title>{frames}") as decoy:
        page = context.new_page()
        page.goto(decoy, wait_until="load")
        for name in ("login", "chat"):
            frame = page.frame(name=name)
            assert frame is not None
            # Chromium replaces a refused frame by its own error document.
            assert not frame.url.startswith(shared_server.url), f"/{name} was shown inside another site's frame"
            assert frame.locator("input, textarea, button").count() == 0
