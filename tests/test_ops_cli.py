"""`flask realtime sessions ...` and `purge-expired` as an operator runs them, on the ArangoDB test server."""

from __future__ import annotations

import re
import threading
import time
import uuid

import pytest

from realtime.extension import get_state
from realtime.health import get_readiness
from realtime.sessions import SessionRecord, new_session_id
from tests.support.procs import AppProcess, Browser, base_env, connect, free_port, hang_up, run_flask, run_release

FLASK = ["--app", "wsgi", "realtime"]


@pytest.fixture(scope="module")
def cli_arango(tmp_path_factory):
    """A server of this module's own whose TTL sweep is off, so only `purge-expired` removes expired records."""
    from tests.arangodb.fixtures import ArangoServerProcess

    server = ArangoServerProcess(tmp_path_factory.mktemp("cli-arango"), ttl_frequency=0).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env(cli_arango):
    """One fresh database for the module (schema only); each test uses uids of its own."""
    env = base_env(
        ARANGO_URL=cli_arango.url,
        ARANGO_USERNAME=cli_arango.username,
        ARANGO_PASSWORD=cli_arango.password,
        ARANGO_DB="cli_" + uuid.uuid4().hex[:12],
    )
    result = run_release(env)
    assert result.returncode == 0, result.stdout + result.stderr
    return env


@pytest.fixture
def uid() -> str:
    return "user-" + uuid.uuid4().hex[:8]


@pytest.fixture
def store(env, make_app):
    """The same session store the commands use, to set up records and check them."""
    app = make_app(
        ARANGO_URL=env["ARANGO_URL"],
        ARANGO_DB=env["ARANGO_DB"],
        ARANGO_USERNAME=env["ARANGO_USERNAME"],
        ARANGO_PASSWORD=env["ARANGO_PASSWORD"],
    )
    yield get_state(app).store
    get_readiness(app).stop()


def realtime(env, *args: str):
    result = run_flask([*FLASK, *args], env)
    return result.returncode, result.stdout + result.stderr


def expired(store, uid: str | None) -> SessionRecord:
    record = SessionRecord(new_session_id(), uid, time.time() - 100, time.time() - 10)
    store.save(record)
    return record


def test_list_shows_live_sessions_newest_first_by_prefix(env, store, uid):
    first = store.create(uid, 3600)
    time.sleep(0.01)
    second = store.create(uid, 3600)
    other = store.create(uid + "-other", 3600)
    anonymous = store.create(None, 3600)
    gone = expired(store, uid)

    code, out = realtime(env, "sessions", "list")
    assert code == 0, out
    ours = {record.sid[:8] for record in (first, second, other, anonymous)}
    rows = [line for line in out.splitlines() if line[:8] in ours]
    assert [row[:8] for row in rows] == [anonymous.sid[:8], other.sid[:8], second.sid[:8], first.sid[:8]]
    assert "(anonymous)" in rows[0] and uid in rows[2] and "expires" in rows[2]
    assert "Revoke one: flask realtime sessions revoke --user UID PREFIX" in out
    for record in (first, second, other, anonymous, gone):
        assert record.sid not in out  # a prefix only, never a full session id
    assert gone.sid[:8] not in out

    code, out = realtime(env, "sessions", "list", "--user", uid)
    assert code == 0 and f"2 session(s) of user {uid}" in out
    assert other.sid[:8] not in out

    code, out = realtime(env, "sessions", "list", "--limit", "2")
    assert "2 session(s) (the newest 2; --limit N shows more)" in out


def test_revoke_one_session_by_full_id_or_by_the_prefix_list_shows(env, store, uid):
    one, two, three = store.create(uid, 3600), store.create(uid, 3600), store.create(uid, 3600)

    code, out = realtime(env, "sessions", "revoke", one.sid)
    assert code == 0, out
    assert f"Revoked session {one.sid[:8]}…." in out
    assert "No message queue is configured" in out and "within 30 s" in out
    assert store.get(one.sid) is None and store.get(two.sid) is not None

    code, out = realtime(env, "sessions", "revoke", "--user", uid, two.sid[:8] + "…")
    assert code == 0 and f"Revoked session {two.sid[:8]}… of user {uid}." in out
    assert store.get(two.sid) is None and store.get(three.sid) is not None

    code, out = realtime(env, "sessions", "revoke", one.sid)
    assert code == 0 and "nothing to revoke" in out


@pytest.mark.parametrize("lead", ["-", "--"])
def test_revoke_a_session_whose_id_starts_with_a_dash(env, store, uid, lead):
    # token_urlsafe's alphabet holds "-": click must not read such an id as an option.
    def dashed() -> SessionRecord:
        record = SessionRecord(lead + new_session_id()[len(lead) :], uid, time.time(), time.time() + 3600)
        store.save(record)
        return record

    by_prefix, by_full_id = dashed(), dashed()
    code, out = realtime(env, "sessions", "revoke", "--user", uid, by_prefix.sid[:8] + "…")
    assert code == 0 and f"Revoked session {by_prefix.sid[:8]}… of user {uid}." in out, out
    code, out = realtime(env, "sessions", "revoke", by_full_id.sid)
    assert code == 0 and f"Revoked session {by_full_id.sid[:8]}…." in out, out
    assert store.get(by_prefix.sid) is None and store.get(by_full_id.sid) is None


def test_revoke_every_session_of_a_user(env, store, uid):
    for _ in range(3):
        store.create(uid, 3600)
    other = store.create(uid + "-other", 3600)
    code, out = realtime(env, "sessions", "revoke", "--user", uid)
    assert code == 0 and f"Revoked 3 session(s) of user {uid}." in out
    assert store.sessions_of_user(uid) == [] and store.get(other.sid) is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Give a SID, --user UID, or both"),
        (("abc",), "not a full session id. To revoke by the prefix that `sessions list` shows, add --user UID."),
        (("--user", "alice", "zzzzzzzz"), "user alice has no session starting with 'zzzzzzzz'"),
        (("--user", "alice", "ab"), "give at least 4 characters"),
    ],
)
def test_revoke_mistakes_say_what_to_do(env, store, args, message):
    store.create("alice", 3600)
    code, out = realtime(env, "sessions", "revoke", *args)
    assert code == 2, out
    assert message in out


def test_purge_expired_deletes_only_expired_records(env, store, uid):
    old = [expired(store, uid), expired(store, None)]
    live = store.create(uid, 3600)
    stored = lambda: {record.sid for record in store.recent(10_000)}  # noqa: E731 - expired ones included
    assert {record.sid for record in old} <= stored()
    code, out = realtime(env, "purge-expired")
    assert code == 0, out
    assert int(re.search(r"Deleted (\d+) expired session\(s\)\.", out).group(1)) >= 2
    assert not {record.sid for record in old} & stored() and live.sid in stored()
    assert "Deleted 0 expired session(s)." in realtime(env, "purge-expired")[1]


def test_an_unreachable_database_is_a_clear_error(env):
    broken = {**env, "ARANGO_URL": f"http://127.0.0.1:{free_port()}", "ARANGO_TIMEOUT": "1"}
    for args in (("sessions", "list"), ("sessions", "revoke", "--user", "alice"), ("purge-expired",)):
        code, out = realtime(broken, *args)
        assert code == 1, out
        assert "Check ARANGO_URL and that the database is reachable." in out
        assert "Traceback" not in out


def test_revoke_from_the_cli_ends_the_sockets_on_the_running_instance(e2e_env):
    # Through the message queue (the Redis on this machine), on a channel of this test's own.
    env = e2e_env(REDIS_URL="redis://127.0.0.1:6379/0", REALTIME_CHANNEL="ops-cli-" + uuid.uuid4().hex[:8])
    proc = AppProcess(env).start()
    client = None
    try:
        alice = Browser(proc.url)
        alice.login("alice", "alice-pw")
        client = connect(proc.url, alice.cookie_header)
        ended, gone = [], threading.Event()
        client.on("session_ended", ended.append)
        client.on("disconnect", lambda *reason: gone.set())

        code, out = realtime(env, "sessions", "revoke", "--user", "alice")
        assert code == 0, out
        assert "Revoked 1 session(s) of user alice." in out
        assert "disconnected on every instance (through the message queue)" in out
        assert gone.wait(5), proc.output()
        assert ended == [{"reason": "revoked"}]
    finally:
        if client is not None:
            hang_up(client)
        proc.stop()
