"""The ArangoDB test server as a process: faults, counters, load, lifecycle, state file."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
import requests
from arango.exceptions import DocumentInsertError
from arango.http import DefaultHTTPClient

from tests.arangodb.fixtures import ROOT, ArangoServerError

# -- faults ------------------------------------------------------------------


@pytest.fixture
def col(arango_database):
    return arango_database.create_collection("sessions")


def no_retry_db(server, client_kwargs, db_name):
    """A client like the app's: no urllib3 retries (a 503 on GET would back off for ~6 s)."""
    client = server.client(http_client=DefaultHTTPClient(retry_attempts=0), **client_kwargs)
    return client, server.db(client, db_name)


def test_latency_fault_delays_requests(arango_server, col):
    with arango_server.faults(latency_ms=200):
        started = time.perf_counter()
        col.insert({"_key": "slow"})
        assert time.perf_counter() - started >= 0.2
        assert arango_server.stats()["faults"]["delayed"] >= 1
    assert col.get("slow")["_key"] == "slow"


def test_failing_writes_makes_the_driver_give_up(arango_server, col):
    """503 with errorNum 503: python-arango treats the host as down and retries it, then gives up."""
    col.insert({"_key": "before"})
    arango_server.reset_stats()
    with arango_server.faults(fail_writes=True):
        with pytest.raises(ConnectionAbortedError):
            col.insert({"_key": "during"})
        assert col.get("before")["_key"] == "before"  # reads still work
        assert col.has("before")
    assert arango_server.stats()["faults"]["failed"] == 3  # one per driver host try
    assert col.get("during") is None
    assert col.insert({"_key": "after"})["_key"] == "after"


def test_failing_writes_with_another_error_num_raise_the_operation_error(arango_server, col):
    with arango_server.faults(fail_writes=True, error_num=30):
        with pytest.raises(DocumentInsertError) as info:
            col.insert({"_key": "x"})
    assert info.value.http_code == 503 and info.value.error_code == 30


def test_fault_limited_by_times_is_absorbed_by_the_driver_retry(arango_server, col):
    arango_server.reset_stats()
    with arango_server.faults(fail_writes=True, times=1):
        assert col.insert({"_key": "retried"})["_key"] == "retried"
    assert arango_server.stats()["faults"]["failed"] == 1


def test_failing_reads(arango_server, arango_database, col):
    col.insert({"_key": "a"})
    client, db = no_retry_db(arango_server, {}, arango_database.name)
    try:
        with arango_server.faults(fail_reads=True):
            with pytest.raises(requests.exceptions.RetryError):
                db.collection("sessions").get("a")
            assert db.collection("sessions").insert({"_key": "b"})["_key"] == "b"  # writes still work
        assert db.collection("sessions").get("a")["_key"] == "a"
    finally:
        client.close()


def test_reset_fault_drops_connections(arango_server, arango_database, col):
    col.insert({"_key": "a"})
    client, db = no_retry_db(arango_server, {}, arango_database.name)
    try:
        with arango_server.faults(reset=True):
            with pytest.raises(ConnectionAbortedError):
                db.collection("sessions").insert({"_key": "b"})
            with pytest.raises(ConnectionAbortedError):
                db.collection("sessions").get("a")
            with pytest.raises(requests.exceptions.ConnectionError):
                requests.get(f"{arango_server.url}/_api/version", timeout=5)
        assert arango_server.stats()["faults"]["reset"] >= 7
        assert db.collection("sessions").get("a")["_key"] == "a"
    finally:
        client.close()


def test_fault_plan_can_be_read_and_cleared(arango_server):
    arango_server.faults(latency_ms=5, fail_writes=True, times=2)
    plan = arango_server.control("GET", "faults")
    assert plan["latency_ms"] == 5 and plan["fail_writes"] is True and plan["times"] == 2
    arango_server.clear_faults()
    assert arango_server.control("GET", "faults") == {
        "latency_ms": 0,
        "fail_reads": False,
        "fail_writes": False,
        "reset": False,
        "error_num": 503,
        "drip_ms": 0,
        "times": None,
    }


def test_unknown_fault_setting_is_rejected(arango_server):
    with pytest.raises(ArangoServerError, match="HTTP 400.*unknown fault setting"):
        arango_server.control("PUT", "faults", {"latency": 5})


# -- request counters --------------------------------------------------------


def test_stats_count_requests_by_method_and_kind(arango_server, arango_database, col):
    arango_server.reset_stats()
    col.insert({"_key": "a", "uid": "u"})  # document_write POST
    col.get("a")  # document_read GET
    col.has("a")  # document_read HEAD
    col.get_many(["a"])  # document_read PUT
    col.update({"_key": "a", "x": 1})  # document_write PATCH
    col.add_index({"type": "persistent", "fields": ["uid"]})  # index POST
    col.indexes()  # index GET
    from realtime.stores.arango import aql

    list(arango_database.aql.execute(aql.SESSIONS_OF_USER, bind_vars={"@collection": "sessions", "uid": "u"}))
    col.count()  # other GET
    stats = arango_server.stats()
    assert stats["by_kind"] == {"document_read": 3, "document_write": 2, "cursor": 1, "index": 2, "other": 1}
    assert stats["by_method"] == {"POST": 3, "GET": 3, "HEAD": 1, "PUT": 1, "PATCH": 1}
    assert stats["connections"] == 0  # python-arango kept the connection it opened before
    assert stats["total"] == 9
    arango_server.reset_stats()
    assert arango_server.stats()["total"] == 0


# -- load --------------------------------------------------------------------


def test_200_concurrent_keep_alive_connections(start_arango_server):
    """200 threads each hold a keep-alive ``requests.Session`` open at the same time."""
    server = start_arango_server(state_file=False)
    clients = 200
    opened = threading.Barrier(clients + 1, timeout=30)
    release = threading.Event()
    results: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        try:
            with requests.Session() as session:
                session.auth = (server.username, server.password)
                statuses = [session.get(f"{server.url}/_api/version", timeout=30).status_code]
                opened.wait()
                release.wait(30)
                for _ in range(3):
                    statuses.append(session.get(f"{server.url}/_api/collection", timeout=30).status_code)
            with lock:
                results.extend(statuses)
        except BaseException as exc:  # reported by the main thread
            with lock:
                errors.append(exc)
            opened.abort()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    opened.wait()
    process = psutil.Process(server.process.pid)
    connections = process.net_connections("tcp") if hasattr(process, "net_connections") else process.connections("tcp")
    established = [c for c in connections if c.status == psutil.CONN_ESTABLISHED]
    release.set()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(established) >= clients
    assert results == [200] * (clients * 4)
    stats = server.stats()
    assert stats["total"] == clients * 4
    assert stats["connections"] == clients  # each session kept its one connection alive


# -- lifecycle ---------------------------------------------------------------


def test_startup_time_and_single_listening_line(tmp_path):
    """``--port 0`` prints one line with the real port; SIGTERM exits 0 with nothing more on stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.arangodb", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = process.stdout.readline().decode()
        startup = time.perf_counter() - started
        match = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)\n", line)
        assert match and int(match.group(1)) > 0
        assert requests.get(f"http://127.0.0.1:{match.group(1)}/_api/version", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    print(f"ArangoDB test server startup: {startup * 1000:.0f} ms")
    assert process.returncode == 0
    assert stdout == b"" and b"Traceback" not in stderr


def test_sigint_exits_cleanly(start_arango_server):
    server = start_arango_server()
    print(f"ArangoDB test server startup (fixture): {server.startup_seconds * 1000:.0f} ms")
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(10) == 0
    assert "Traceback" not in server.log_tail()


def test_state_file_survives_restart(start_arango_server):
    server = start_arango_server()
    client = server.client()
    try:
        sys_db = server.db(client)
        sys_db.create_database("kept", users=[{"username": "carol", "password": "carol-pw"}])
        db = server.db(client, "kept")
        col = db.create_collection("sessions")
        col.add_index({"type": "ttl", "fields": ["expires_at"], "expireAfter": 0, "name": "expiry"})
        before = col.insert({"_key": "s1", "uid": "u", "expires_at": 2**31})
        generated = col.insert({})["_key"]
        jwt_db = client.db("kept", username=server.username, password=server.password, auth_method="jwt")
        assert jwt_db.collection("sessions").count() == 2
        port = server.port

        assert server.stop() == 0
        assert server.state_file.exists()
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"{server.url}/_api/version", timeout=2)
        server.start()

        assert server.port == port
        assert col.get("s1") == {**before, "uid": "u", "expires_at": 2**31}
        assert [i["name"] for i in col.indexes()] == ["primary", "expiry"]
        assert col.insert({})["_key"] not in (generated, "s1")
        assert col.update({"_key": "s1", "x": 1})["_rev"] != before["_rev"]
        carol = client.db("kept", username="carol", password="carol-pw", verify=True)
        assert carol.collection("sessions").has("s1")
        # The token died with the old process; the driver logs in again on 401/11.
        assert jwt_db.collection("sessions").count() == 3
    finally:
        client.close()


def test_corrupt_state_file_is_a_clear_error(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{not json")
    result = subprocess.run(
        [sys.executable, "-m", "tests.arangodb", "--port", "0", "--state-file", str(state)],
        cwd=ROOT,
        capture_output=True,
        timeout=10,
    )
    assert result.returncode == 2
    assert result.stdout == b""
    assert str(state).encode() in result.stderr and b"Delete it" in result.stderr


def test_reset_wipes_data(start_arango_server):
    server = start_arango_server(state_file=False)
    client = server.client()
    try:
        sys_db = server.db(client)
        sys_db.create_database("gone")
        server.reset_data()
        assert sys_db.databases() == ["_system"]
    finally:
        client.close()
