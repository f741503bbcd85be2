"""The WSGI entry point: ``gunicorn --worker-class eventlet -w 1 wsgi:app`` (see the Procfile).

The async library must patch the standard library before anything else
imports it: python-arango talks to ArangoDB through requests/urllib3 sockets
and the Redis message queue through redis-py, and both must yield to other
green threads instead of blocking the whole worker. This is the only module
that patches; the ``realtime`` package never imports eventlet or gevent.

Which library follows the gunicorn worker that loads this module
(``--worker-class eventlet``, ``gevent`` or ``gthread``), so switching
workers is a change to the Procfile only. ``REALTIME_WORKER`` (``eventlet``,
``gevent`` or ``threads``) names it explicitly: it picks the library for
``python wsgi.py``, and under gunicorn it must match the worker class.
"""

import os
import sys
import warnings

#: REALTIME_WORKER -> Flask-SocketIO async mode.
ASYNC_MODES = {"eventlet": "eventlet", "gevent": "gevent", "threads": "threading"}
#: gunicorn's worker modules (imported by its master before loading us) -> REALTIME_WORKER.
GUNICORN_WORKERS = {
    "gunicorn.workers.geventlet": "eventlet",
    "gunicorn.workers.ggevent": "gevent",
    "gunicorn.workers.gthread": "threads",
}


def choose_worker(configured, running):
    """The worker kind to patch for: ``REALTIME_WORKER`` if set, else gunicorn's, else eventlet."""
    if configured and configured not in ASYNC_MODES:
        raise RuntimeError(f"REALTIME_WORKER={configured!r} is not known. Use one of: {', '.join(ASYNC_MODES)}.")
    if configured and running and configured != running:
        raise RuntimeError(
            f"REALTIME_WORKER={configured} but gunicorn runs its {running} worker. Make them agree: change"
            " --worker-class in the Procfile (eventlet, gevent, or gthread for threads) or REALTIME_WORKER."
        )
    return configured or running or "eventlet"


if "flask" in sys.modules:
    # Imported by the flask CLI (`flask --app wsgi realtime init-db`): Flask is
    # already loaded, so patching now would be too late, and a command runs
    # one request at a time anyway. Run it in plain threading mode.
    os.environ.setdefault("REALTIME_ASYNC_MODE", "threading")
else:
    running = next((kind for module, kind in GUNICORN_WORKERS.items() if module in sys.modules), None)
    worker = choose_worker(os.environ.get("REALTIME_WORKER", "").strip().lower() or None, running)
    if worker == "eventlet":
        # Deprecated upstream (gunicorn 26 dropped its worker); we pin both
        # deliberately, see README "Why eventlet, and the way off it".
        warnings.filterwarnings("ignore", message="\\s*Eventlet is deprecated", category=Warning)
        import eventlet

        eventlet.monkey_patch()
    elif worker == "gevent":
        from gevent import monkey

        monkey.patch_all()  # a no-op under gunicorn's gevent worker, which patched already
    # Explicit: Flask-SocketIO would otherwise pick eventlet whenever it is installed.
    os.environ.setdefault("REALTIME_ASYNC_MODE", ASYNC_MODES[worker])

from chat import create_app  # noqa: E402

app = create_app()

if __name__ == "__main__":
    # Development server: `python wsgi.py` (REALTIME_ENV=development for a
    # generated SECRET_KEY; without ARANGO_URL, the embedded store).
    socketio = app.extensions["socketio"]
    socketio.run(app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
