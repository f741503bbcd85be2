"""``wsgi:app`` with the test routes, set up in one of the ways the connect guard must refuse or honour.

Run by tests/test_hardening_guard.py as ``gunicorn ... tests.support.guard_wsgi:app``
with the Procfile's options; ``GUARD_VARIANT`` picks the setup. Each variant is
what an app's own code could do with ``Realtime(app, socketio)``; where the
reference app is used, an ``/admin`` namespace whose ``secrets`` event answers
with :data:`SECRET` gives the attacker something worth reading.
"""

import os

from wsgi import app  # noqa: I001 - first: wsgi monkey-patches before anything else loads

from flask import Flask
from flask_socketio import Namespace, SocketIO

from realtime import Realtime
from realtime.extension import get_state
from tests.support.live import add_test_routes

#: What an intruder on ``/admin`` would read.
SECRET = {"payroll": "confidential"}


class AdminNamespace(Namespace):
    """A class-based namespace with its own (open) connect handler."""

    def on_connect(self, auth=None):
        return True

    def on_secrets(self, _data=None):
        return SECRET


def bare_app(**socketio_options):
    """An app of one's own (not the reference app): Flask, ``SocketIO(app, **socketio_options)``, Realtime.

    The server exists before Realtime sees it (given the app), so the options
    are the app's, not overridden by Realtime's own.
    """
    own = Flask("guarded")
    own.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    socketio = SocketIO(own, async_mode=os.environ["REALTIME_ASYNC_MODE"], **socketio_options)
    Realtime(own, socketio)
    return own


def with_hooks(app):
    """Connect hooks: bob is turned away (the hook returns False), carol's hook raises."""
    realtime = get_state(app).extension

    @realtime.on_connect
    def turn_away(identity):
        if identity.uid == "bob":
            return False
        if identity.uid == "carol":
            raise RuntimeError("the hook's own lookup failed")
        return None

    return app


def with_class_namespace(app):
    get_state(app).socketio.on_namespace(AdminNamespace("/admin"))
    return app


def with_own_connect(app):
    """A namespace added after ``Realtime(app, socketio)`` that brings its own open connect handler."""
    socketio = get_state(app).socketio

    @socketio.on("connect", namespace="/admin")
    def open_door(auth=None):
        return True

    @socketio.on("secrets", namespace="/admin")
    def secrets(_data=None):
        return SECRET

    return app


VARIANTS = {
    "hooks": lambda: with_hooks(app),
    "class_namespace": lambda: with_class_namespace(app),
    "own_connect": lambda: with_own_connect(app),
    "all_namespaces": lambda: bare_app(namespaces="*"),
    "unmanaged_session": lambda: bare_app(manage_session=False),
}

app = VARIANTS[os.environ["GUARD_VARIANT"]]()
if app.name != "guarded":
    add_test_routes(app)
