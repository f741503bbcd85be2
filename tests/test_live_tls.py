"""The message queue over TLS (``rediss://``): a redis-server with a certificate of our own CA, started by the test.

The provider case (a self-signed certificate, as Heroku Redis has) is
``REALTIME_REDIS_SSL_VERIFY=false``; a provider CA file is
``REALTIME_REDIS_CA_CERTS``. Verification stays on by default.
"""

from __future__ import annotations

import shutil
import time
import uuid

import pytest
import redis

from realtime.emitter import Emitter
from realtime.live.control import control_channel
from tests.support.live import RedisServer, login, queue_env, running, session_info
from tests.support.tls import make_test_ca

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    """A redis-server speaking only TLS on a free port, its certificate signed by a throwaway CA."""
    folder = tmp_path_factory.mktemp("redis-tls")
    make_test_ca(folder)
    server = RedisServer(folder, tls=(folder / "server.crt", folder / "server.key", folder / "ca.crt")).start()
    yield server.url, str(folder / "ca.crt")
    server.stop()


def test_certificate_is_verified_by_default(tls_redis):
    url, _ = tls_redis
    with Emitter({"REDIS_URL": url}) as emitter:
        with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            emitter.bus.publish("{}")


def test_provider_ca_file_keeps_verification_on(tls_redis):
    url, ca_file = tls_redis
    channel = "tls-" + uuid.uuid4().hex
    listener = redis.Redis.from_url(url, ssl_ca_certs=ca_file).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(control_channel(channel))
    try:
        with Emitter({"REDIS_URL": url, "REALTIME_CHANNEL": channel, "REALTIME_REDIS_CA_CERTS": ca_file}) as emitter:
            assert emitter.bus.publish('{"v": 1}') == 1
        deadline, message = time.monotonic() + 5, None
        while message is None and time.monotonic() < deadline:
            message = listener.get_message(timeout=1)  # None also for the (ignored) subscribe confirmation
        assert message is not None and message["data"] == b'{"v": 1}'
    finally:
        listener.close()


def test_two_instances_share_a_self_signed_tls_queue(tls_redis, e2e_env):
    """Logout and push cross instances through rediss:// with REALTIME_REDIS_SSL_VERIFY=false (eventlet's green TLS)."""
    url, _ = tls_redis
    env = queue_env(e2e_env, REDIS_URL=url, REALTIME_REDIS_SSL_VERIFY="false")
    with running(env) as (a, b, clients):
        browser, other = login(a), login(b)
        on_a, on_b, other_on_b = clients(a, browser), clients(b, browser), clients(b, other)
        other_on_b.listen("news")
        settings = {"REDIS_URL": url, "REALTIME_CHANNEL": env["REALTIME_CHANNEL"], "REALTIME_REDIS_SSL_VERIFY": False}
        with Emitter(settings) as emitter:
            emitter.emit_to_session(session_info(other)["sid"], "news", "over tls")
        assert other_on_b.wait_for("news") == ["over tls"]

        started = time.monotonic()
        browser.logout()
        assert on_a.wait_ended(1.0) and on_b.wait_ended(1.0)
        assert on_b.ended_by_server("logout") and on_b.time_of("disconnect") - started < 1.0
        assert other_on_b.alive()
        assert "CERTIFICATE_VERIFY_FAILED" not in a.output() + b.output()
