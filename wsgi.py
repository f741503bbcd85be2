"""The WSGI entry point: ``gunicorn --worker-class eventlet -w 1 wsgi:app``.

eventlet must patch the standard library before anything else imports it:
python-arango talks to ArangoDB through requests/urllib3 sockets and the
Redis message queue through redis-py, and both must yield to other
greenlets instead of blocking the whole worker. This is the only module that
patches; the ``realtime`` package never imports eventlet.
"""

import os
import sys
import warnings

if "flask" in sys.modules:
    # Imported by the flask CLI (`flask --app wsgi realtime init-db`): Flask is
    # already loaded, so patching now would be too late, and a command runs
    # one request at a time anyway. Run it in plain threading mode.
    os.environ.setdefault("REALTIME_ASYNC_MODE", "threading")
else:
    # Deprecated upstream (gunicorn 26 dropped its worker); we pin both
    # deliberately, see README "Why eventlet, and the way off it".
    warnings.filterwarnings("ignore", message="\\s*Eventlet is deprecated", category=Warning)
    import eventlet

    eventlet.monkey_patch()

from realtime.web import create_app  # noqa: E402

app = create_app()

if __name__ == "__main__":
    # Development server: `python wsgi.py` (REALTIME_ENV=development for a
    # generated SECRET_KEY; without ARANGO_URL, the embedded store).
    socketio = app.extensions["socketio"]
    socketio.run(app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
