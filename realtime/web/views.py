"""Pages of the reference app: login, logout and the conversation page."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import check_csrf, current_session, login_session, logout_session
from ..errors import StoreError

bp = Blueprint("web", __name__)


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
def chat() -> Response | str:
    record = current_session()
    if record is None or not record.is_authenticated:
        return redirect(url_for("web.login", next=request.path))
    return render_template(
        "chat.html",
        uid=record.uid,
        conversations=current_app.config["CHAT_CONVERSATIONS"],
        expires_at=record.expires_at,
    )


@bp.get("/healthz")
def healthz() -> Response:
    """Process liveness: answers without touching any dependency."""
    return jsonify(status="ok")


@bp.app_errorhandler(StoreError)
def store_unavailable(exc: StoreError) -> tuple[str, int]:
    current_app.logger.error("Session store unavailable for %s: %s", request.path, exc)
    return render_template("unavailable.html"), 503
