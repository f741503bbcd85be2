"""The drop-in app (tests/dropin_app) served as the Procfile serves ``wsgi:app``, built from the environment.

``DROPIN_FALLBACKS_IN_APP_CONFIG=1`` copies ``SECRET_KEY_FALLBACKS`` from the
environment into ``app.config`` as the comma-separated string it is there,
as an app that follows "comma-separated old keys" too literally would.
"""

import warnings

warnings.filterwarnings("ignore", message="\\s*Eventlet is deprecated", category=Warning)

import eventlet  # noqa: E402 - patch before anything else loads

eventlet.monkey_patch()

import os  # noqa: E402

from tests.dropin_app.app import create_app  # noqa: E402

config = {}
if os.environ.get("DROPIN_FALLBACKS_IN_APP_CONFIG"):
    config["SECRET_KEY_FALLBACKS"] = os.environ["SECRET_KEY_FALLBACKS"]
app = create_app(config)
