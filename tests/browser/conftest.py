"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, the app under gunicorn.

The page loads the official Socket.IO client from ``REALTIME_SOCKETIO_CLIENT_URL``;
here that is the copy npm installed from ``package.json``
(``node_modules/socket.io-client/dist``), served by a small static server on
127.0.0.1 and checked by the browser against the same integrity hash the app
ships for the CDN build. Nothing is fetched from outside the machine.

Every test that fails leaves a screenshot of each of its pages, and the app's
log, in ``test-artifacts/``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import http.server
import os
import re
import shutil
import signal
import threading
import typing as t
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from chat.views import KNOWN_CLIENT_BUILDS
from tests.support.procs import ROOT, AppProcess, free_port

#: Debian's Chromium (``apt-get install chromium``); Playwright's own browser
#: download cannot work here, so it drives this one.
CHROMIUM = Path(os.environ.get("REALTIME_CHROMIUM", "/usr/bin/chromium"))
#: Headless, and no background traffic to hosts this machine cannot reach.
#: Playwright adds ``--headless``, ``--no-sandbox`` and a fresh ``--user-data-dir``.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLIENT_DIST = ROOT / "node_modules" / "socket.io-client" / "dist"
DEFAULT_CLIENT_URL = "https://cdn.socket.io/4.8.1/socket.io.min.js"
ARTIFACTS = ROOT / "test-artifacts"
VIEWPORT = {"width": 1100, "height": 720}

expect.set_options(timeout=10_000)


# -- reports, so teardown knows whether the test failed --------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> t.Generator[None, t.Any, t.Any]:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(node: pytest.Item) -> bool:
    return any(getattr(getattr(node, f"report_{when}", None), "failed", False) for when in ("setup", "call"))


def _artifact_stem(node: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node.nodeid.split("::", 1)[-1])


# -- the Socket.IO client, from npm ------------------------------------------------


class _ClientFiles(http.server.SimpleHTTPRequestHandler):
    """Static files with CORS, as a CDN serves them (``crossorigin="anonymous"`` needs it)."""

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def log_message(self, format: str, *args: t.Any) -> None:
        pass


def sri_of(path: Path) -> str:
    """The ``sha384-...`` Subresource Integrity value of a file."""
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


@pytest.fixture(scope="session")
def socketio_client_url() -> t.Iterator[str]:
    """URL of the npm-installed ``socket.io.min.js``, served on 127.0.0.1."""
    script = CLIENT_DIST / "socket.io.min.js"
    if not script.exists():
        pytest.fail(f"{script} is missing. Run `npm ci` in {ROOT} to install the Socket.IO client from package.json.")
    if sri_of(script) != KNOWN_CLIENT_BUILDS[DEFAULT_CLIENT_URL]:
        pytest.fail(
            f"{script} is not the build the app loads from {DEFAULT_CLIENT_URL} (its sha384 differs). Pin"
            " socket.io-client in package.json to that version and run `npm ci`."
        )
    handler = functools.partial(_ClientFiles, directory=str(CLIENT_DIST))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/socket.io.min.js"
    server.shutdown()
    server.server_close()
    thread.join(5)


# -- the app -----------------------------------------------------------------------


def client_settings(client_url: str) -> dict[str, str]:
    """Environment that makes pages load the Socket.IO client from ``client_url``, checked with the CDN build's SRI."""
    return {
        "REALTIME_SOCKETIO_CLIENT_URL": client_url,
        "REALTIME_SOCKETIO_CLIENT_INTEGRITY": KNOWN_CLIENT_BUILDS[DEFAULT_CLIENT_URL],
    }


class ChatServer:
    """The app as the Procfile runs it (gunicorn, eventlet worker), restartable on the same port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runs: list[AppProcess] = []

    def start(self) -> ChatServer:
        self.runs.append(AppProcess(self.env, port=self.port).start())
        return self

    def kill(self) -> None:
        """End the server at once, as a crash or a dyno restart does: every socket drops."""
        self.runs[-1].stop(signal.SIGKILL)

    def restart(self, graceful: bool = False) -> None:
        """Kill and start again; ``graceful``: SIGTERM instead, as a deploy does (the sockets are drained first)."""
        if graceful:
            self.runs[-1].stop(signal.SIGTERM)
        else:
            self.kill()
        self.start()

    def stop(self) -> None:
        if self.runs:
            self.runs[-1].stop()

    def output(self) -> str:
        return "\n".join(f"--- run {n} ---\n{run.output()}" for n, run in enumerate(self.runs, 1))


@pytest.fixture
def start_chat_server(request, e2e_env, socketio_client_url) -> t.Iterator[t.Callable[..., ChatServer]]:
    """Factory for app servers of this test (fresh database each); keyword args become environment variables."""
    servers: list[ChatServer] = []

    def start(**overrides: str) -> ChatServer:
        server = ChatServer(e2e_env(**{**client_settings(socketio_client_url), **overrides}))
        servers.append(server)
        return server.start()

    yield start
    for index, server in enumerate(servers):
        server.stop()
        if _failed(request.node):
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / f"{_artifact_stem(request.node)}-app{index}.log").write_text(server.output())


@pytest.fixture(scope="module")
def chat_server(request, socketio_client_url) -> t.Iterator[ChatServer]:
    """One app server shared by the tests of a module that neither restart nor reconfigure it."""
    env = request.getfixturevalue("e2e_env")(**client_settings(socketio_client_url))
    server = ChatServer(env).start()
    yield server
    server.stop()


@pytest.fixture
def shared_server(request, chat_server) -> t.Iterator[ChatServer]:
    """``chat_server`` for one test; its log goes to test-artifacts/ if the test fails."""
    yield chat_server
    if _failed(request.node):
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"{_artifact_stem(request.node)}-app.log").write_text(chat_server.output())


# -- Chromium ----------------------------------------------------------------------


# Module scope: the Playwright driver (and its event loop) is gone before the
# rest of the suite runs.
@pytest.fixture(scope="module")
def playwright() -> t.Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> t.Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}. Install Debian's build with `apt-get install -y chromium`"
            " (or set REALTIME_CHROMIUM to another Chromium binary)."
        )
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
    yield chromium
    chromium.close()


@pytest.fixture
def new_context(request, browser: Browser) -> t.Iterator[t.Callable[..., BrowserContext]]:
    """Factory for browser contexts (separate cookie jars: separate people).

    After a failed test, every page still open is saved as
    ``test-artifacts/<test>-<n>.png``.
    """
    contexts: list[BrowserContext] = []

    def open_context(base_url: str, **options: t.Any) -> BrowserContext:
        settings = {"base_url": base_url, "viewport": VIEWPORT, "locale": "en-GB", "timezone_id": "UTC"}
        settings.update(options)
        context = browser.new_context(**settings)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield open_context
    if _failed(request.node):
        ARTIFACTS.mkdir(exist_ok=True)
        pages = [page for context in contexts for page in context.pages]
        for index, page in enumerate(pages):
            with contextlib.suppress(Exception):  # a page that crashed still lets the others be saved
                page.screenshot(path=str(ARTIFACTS / f"{_artifact_stem(request.node)}-{index}.png"), full_page=True)
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


def save_screenshot(page: Page, target: Path) -> None:
    """Save a screenshot of ``page`` at ``target`` (written beside it first, so a failure leaves the old one)."""
    partial = target.with_suffix(".partial.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(partial))
    shutil.move(partial, target)
