"""An existing Flask app: users, Flask-Login views, a page only members see."""

# ruff: noqa: I001 - the imports realtime added stay together, as added (README "Add to your app").

from __future__ import annotations

import os

from flask import Flask, redirect, render_template_string, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

# realtime: begin
from flask_socketio import SocketIO

from realtime import Realtime

# realtime: end


class User(UserMixin):
    def __init__(self, user_id: str, name: str, password: str) -> None:
        self.id = user_id
        self.name = name
        self.password_hash = generate_password_hash(password)


#: The app's own user table (ids are not usernames, as in most apps).
USERS = {user.id: user for user in (User("17", "ada", "ada-pw"), User("42", "grace", "grace-pw"))}

LOGIN_PAGE = """<form method="post"><input name="name"><input name="password" type="password">
<button>Log in</button></form>{% if error %}<p>{{ error }}</p>{% endif %}"""


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(SECRET_KEY=os.environ.get("SECRET_KEY"))
    app.config.update(config or {})

    login_manager = LoginManager(app)
    login_manager.login_view = "login"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return USERS.get(user_id)

    @app.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "POST":
            user = next((u for u in USERS.values() if u.name == request.form.get("name")), None)
            if user is None or not check_password_hash(user.password_hash, request.form.get("password", "")):
                return render_template_string(LOGIN_PAGE, error="Wrong name or password."), 401
            login_user(user, remember=request.form.get("remember") == "yes")
            return redirect(url_for("home"))
        return render_template_string(LOGIN_PAGE)

    @app.post("/logout")
    @login_required
    def logout():
        logout_user()
        return redirect(url_for("login"))

    @app.get("/")
    @login_required
    def home():
        return f"Hello, {current_user.name}"

    # realtime: begin
    socketio = SocketIO()
    Realtime(app, socketio)

    @socketio.on("whoami")
    def whoami():
        return {"id": current_user.get_id(), "name": current_user.name}

    # realtime: end
    return app
