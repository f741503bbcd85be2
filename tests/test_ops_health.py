"""``/readyz`` with a message queue: Redis must answer PING, and the answer names the dependency."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from realtime.extension import get_state
from realtime.health import get_readiness
from tests.support.procs import free_port


@pytest.fixture
def ready_app(make_app, serve, arango_config):
    apps = []

    def start(**config):
        app = make_app(**arango_config, REALTIME_CHANNEL="ops-health-" + uuid.uuid4().hex[:8], **config)
        apps.append(app)
        with app.app_context():
            get_state(app).extension.init_db()
        return serve(app)

    yield start
    for app in apps:
        get_readiness(app).stop()


def readyz(url: str, check: str, status: str, timeout: float = 5.0) -> requests.Response:
    """``/readyz`` once ``check`` has reached ``status`` (probes run in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(url + "/readyz", timeout=5)
        state = response.json()["checks"].get(check, {}).get("status")
        if state == status or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def test_a_reachable_message_queue_is_ready(ready_app):
    live = ready_app(REDIS_URL="redis://127.0.0.1:6379/0")
    response = readyz(live.url, "message_queue", "ok")
    assert response.status_code == 200, response.json()
    check = response.json()["checks"]["message_queue"]
    assert check["status"] == "ok" and check["critical"] is True and "latency_ms" in check


def test_an_unreachable_message_queue_makes_the_instance_not_ready(ready_app):
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    live = ready_app(REDIS_URL=url, REALTIME_HEALTH_TIMEOUT=0.5)
    response = readyz(live.url, "message_queue", "failing")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["message_queue"]["detail"] == "Redis did not answer PING (ConnectionError)"
    assert body["checks"]["session_store"]["status"] == "ok"
    assert "hunter2" not in response.text and "127.0.0.1" not in response.text
    assert requests.get(live.url + "/healthz", timeout=5).status_code == 200


def test_without_a_message_queue_there_is_no_queue_check(ready_app):
    live = ready_app()
    response = readyz(live.url, "session_store", "ok")
    assert response.status_code == 200
    assert "message_queue" not in response.json()["checks"]
