"""``wsgi:app`` (eventlet patched, built from the environment) plus the live-session test routes.

Run by the multi-instance tests as ``gunicorn ... tests.support.live_wsgi:app``
with the Procfile's options.
"""

from wsgi import app  # noqa: I001 - first: wsgi monkey-patches before anything else loads

from tests.support.live import add_test_routes

add_test_routes(app)
