"""``wsgi:app`` with a push-only namespace listed, and a test route that adds a namespace while it runs.

Run by ``tests/test_hardening_unauthenticated.py`` as
``gunicorn ... tests.support.namespaces_wsgi:app`` with the Procfile's options.
"""

from wsgi import app  # noqa: I001 - first: wsgi monkey-patches before anything else loads

from flask import Blueprint, jsonify
from flask_socketio import SocketIO

from tests.support.live import add_test_routes

socketio: SocketIO = app.extensions["socketio"]
# What SocketIO(namespaces=["/", "/dashboard"]) builds (the reference app makes
# its own SocketIO()): a push-only namespace, listed, with no handlers at all.
socketio.server.namespaces = ["/", "/dashboard"]

bp = Blueprint("namespaces_test", __name__, url_prefix="/_test")


@bp.post("/namespaces/<name>")
def add_namespace(name: str):
    """An app registering handlers of a new namespace after start (e.g. a plugin loaded on demand)."""

    @socketio.on("ping", namespace=f"/{name}")
    def ping():
        return "pong"

    return jsonify(ok=True)


app.register_blueprint(bp)
add_test_routes(app)
