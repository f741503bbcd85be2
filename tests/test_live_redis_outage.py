"""Redis goes away between two instances: logout still works, and the other instance catches up when Redis returns.

A private redis-server (stopped and restarted by the test) so no other
test run on the machine's Redis is disturbed.
"""

from __future__ import annotations

import shutil
import time

import pytest

from tests.support.live import RedisServer, login, queue_env, running

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def test_revocation_during_a_redis_outage_reaches_the_other_instance_when_redis_returns(redis_server, e2e_env):
    # Revalidation far away: only the pass run on resubscribing can end the socket on B in time.
    env = queue_env(e2e_env, REDIS_URL=redis_server.url, REALTIME_REVALIDATE_INTERVAL="600")
    with running(env) as (a, b, clients):
        browser, other = login(a), login(b)
        on_a, on_b, other_on_b = clients(a, browser), clients(b, browser), clients(b, other)

        redis_server.stop()
        assert browser.logout().status_code == 302  # a Redis outage does not break logout
        assert on_a.wait_ended(1.0) and on_a.ended_by_server("logout")  # this instance needs no Redis
        assert not on_b.wait_ended(1.0), "precondition: B cannot have heard of the logout"

        redis_server.start()
        restarted = time.monotonic()
        assert on_b.wait_ended(20), "B never caught the revocation after Redis returned"
        assert on_b.ended_by_server("revoked")
        assert on_b.time_of("disconnect") - restarted < 20
        assert other_on_b.alive()
        assert "Could not publish to the control channel" in a.output()
        assert "Lost the control channel" in b.output()
