"""Pages of the reference app: login, logout and the conversation page."""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from realtime import ConfigError, StoreError, check_csrf, current_session, login_session, logout_session

bp = Blueprint("web", __name__)

#: Subresource Integrity of the official Socket.IO client builds we know, by
#: URL: the sha384 of ``dist/socket.io.min.js`` in the npm package of the same
#: version (package.json pins it; the browser tests load that file with this hash).
KNOWN_CLIENT_BUILDS = {
    "https://cdn.socket.io/4.8.1/socket.io.min.js": (
        "sha384-mkQ3/7FUtcGyoppY6bz/PORYoGqOl7/aSUMn2ymDOJcapfS6PHqxhRTMh1RR0Q6+"
    ),
}

# A browser ignores malformed integrity metadata and runs the script unchecked,
# so a typo must fail at startup instead.
_INTEGRITY = re.compile(r"(sha256|sha384|sha512)-[A-Za-z0-9+/]+={0,2}(\s+(sha256|sha384|sha512)-[A-Za-z0-9+/]+={0,2})*")


@dataclass(frozen=True)
class ClientScript:
    """The ``<script>`` that loads the Socket.IO client: its URL and integrity hash (None: unchecked)."""

    url: str
    integrity: str | None


def socketio_client(config: t.Mapping[str, t.Any]) -> ClientScript:
    """Where pages load the Socket.IO client from, from ``REALTIME_SOCKETIO_CLIENT_*``."""
    url = config["REALTIME_SOCKETIO_CLIENT_URL"]
    integrity = config.get("REALTIME_SOCKETIO_CLIENT_INTEGRITY")
    if integrity is None:
        integrity = KNOWN_CLIENT_BUILDS.get(url)
    integrity = (integrity or "").strip() or None
    if integrity is not None and not _INTEGRITY.fullmatch(integrity):
        raise ConfigError(
            f"REALTIME_SOCKETIO_CLIENT_INTEGRITY={integrity!r} is not Subresource Integrity metadata. Set it to"
            " 'sha384-' followed by the base64 SHA-384 of the file (openssl dgst -sha384 -binary FILE | openssl base64"
            " -A), or to an empty string to load the client unchecked."
        )
    return ClientScript(url, integrity)


def _users():
    return current_app.extensions["realtime.users"]


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so ``?next=`` cannot send a user elsewhere."""
    if not target:
        return url_for("web.chat")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("web.chat")
    return target


@bp.get("/")
def index() -> Response:
    record = current_session()
    return redirect(url_for("web.chat" if record and record.is_authenticated else "web.login"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    next_url = request.values.get("next")
    if request.method == "GET":
        return render_template("login.html", next=next_url)
    if not check_csrf(request.form.get("csrf_token")):
        return render_template("login.html", next=next_url, error="Your form expired. Please try again."), 400
    user = _users().authenticate(request.form.get("username"), request.form.get("password"))
    if user is None:
        username = request.form.get("username", "")
        return render_template("login.html", next=next_url, error="Wrong username or password.", username=username), 401
    login_session(user.uid)
    current_app.logger.info("User %s logged in", user.uid)
    return redirect(_safe_next(next_url))


@bp.post("/logout")
def logout() -> Response | tuple[str, int]:
    if not check_csrf(request.form.get("csrf_token")):
        return render_template("login.html", error="Your form expired. Please log out again."), 400
    logout_session("logout")
    return redirect(url_for("web.login"))


@bp.get("/chat")
def chat() -> Response:
    record = current_session()
    if record is None or not record.is_authenticated:
        return redirect(url_for("web.login", next=request.path))
    page = render_template(
        "chat.html",
        uid=record.uid,
        conversations=current_app.config["CHAT_CONVERSATIONS"],
        expires_at=record.expires_at,
        socketio_client=socketio_client(current_app.config),
    )
    response = make_response(page)
    # After a logout, Back must ask the server again rather than show the
    # conversation page (and its CSRF token) from the cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_errorhandler(StoreError)
def store_unavailable(exc: StoreError) -> tuple[str, int]:
    current_app.logger.error("Session store unavailable for %s: %s", request.path, exc)
    return render_template("unavailable.html"), 503
