"""Fixtures shared by the suite: apps in threading mode, live servers, e2e environments."""

from __future__ import annotations

import logging
import threading
import typing as t
import uuid

import pytest
from werkzeug.serving import make_server

from chat import create_app
from realtime.extension import get_state
from tests.support.live import Clients, add_test_routes, running
from tests.support.procs import base_env, free_port, run_flask, run_release

pytest_plugins = ["tests.arangodb.fixtures"]

TEST_SECRET = "test-secret-key-" + "k" * 32


def pytest_configure(config: pytest.Config) -> None:
    # Every reference app's realtime.logs.configure_logging stops the "realtime"
    # logger from propagating. pytest's log capture (caplog and the report) hooks
    # into a non-propagating logger only when a test phase starts, so a test
    # that built the process's first app saw none of that app's records, and
    # caplog assertions passed or failed with the test order. Start in the state
    # every app leaves the logger in.
    logging.getLogger("realtime").propagate = False


@pytest.fixture
def make_app(tmp_path):
    """Build the reference app in threading mode; keyword args become config."""

    def factory(**config: t.Any):
        settings = {
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET,
            "REALTIME_ASYNC_MODE": "threading",
            "REALTIME_ENV": "development",
        }
        settings.update(config)
        return create_app(settings, instance_path=str(tmp_path / "instance"))

    return factory


@pytest.fixture
def arango_config(arango_server) -> dict[str, t.Any]:
    """Config for a fresh database on the ArangoDB test server, schema created."""
    config = {
        "ARANGO_URL": arango_server.url,
        "ARANGO_USERNAME": arango_server.username,
        "ARANGO_PASSWORD": arango_server.password,
        "ARANGO_DB": "t_" + uuid.uuid4().hex[:12],
    }
    return config


class LiveServer:
    """A Flask app served by werkzeug in a thread (threading mode), on a free port."""

    def __init__(self, app) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


@pytest.fixture
def serve():
    servers: list[LiveServer] = []

    def start(app) -> LiveServer:
        server = LiveServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def live_app(make_app, arango_config, serve):
    """Start an app on a fresh ArangoDB database with alice and bob and the test routes; returns (app, server)."""
    started = []

    def start(**config):
        app = make_app(**arango_config, **config)
        with app.app_context():
            get_state(app).extension.init_db()
        users = app.extensions["realtime.users"]
        users.set_password("alice", "alice-pw")
        users.set_password("bob", "bob-pw")
        add_test_routes(app)
        started.append(app)
        return app, serve(app)

    yield start
    for app in started:
        get_state(app).live.stop()


@pytest.fixture(scope="module")
def instances(env):
    """Two instances (tests.support.live.running) on the ``env`` fixture of the module that asks for them."""
    with running(env) as (a, b, _):
        yield a, b


@pytest.fixture
def sessions_collection(arango_server, env):
    """The ``sessions`` collection of the database named by the module's ``env``, read directly."""
    client = arango_server.client()
    yield arango_server.db(client, env["ARANGO_DB"]).collection("sessions")
    client.close()


@pytest.fixture
def clients():
    """Watched python-socketio clients, hung up after the test (tests.support.live.Clients)."""
    pool = Clients()
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def e2e_env(arango_server):
    """Environment for app subprocesses on a fresh database, schema and users created."""

    def factory(**overrides: str) -> dict[str, str]:
        env = base_env(
            ARANGO_URL=arango_server.url,
            ARANGO_USERNAME=arango_server.username,
            ARANGO_PASSWORD=arango_server.password,
            ARANGO_DB="e2e_" + uuid.uuid4().hex[:12],
            **overrides,
        )
        result = run_release(env)
        assert result.returncode == 0, result.stdout + result.stderr
        for name in ("alice", "bob"):
            result = run_flask(["--app", "wsgi", "realtime", "create-user", name, "--password", f"{name}-pw"], env)
            assert result.returncode == 0, result.stdout + result.stderr
        return env

    return factory
