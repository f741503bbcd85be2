"""``ARANGO_HTTP_CLIENT``: python-arango over kept-alive http.client connections (the default) or over requests.

Everything here goes over real HTTP (and real TLS) to the ArangoDB test
server. The store contract suite also runs the ArangoDB store with both
clients (``tests/test_store_contract.py``).
"""

from __future__ import annotations

import socket
import time
import warnings

import pytest
from arango.http import DefaultHTTPClient

from realtime.errors import ConfigError, StoreError
from realtime.sessions import SessionRecord, new_session_id
from realtime.stores.arango import ArangoSessionStore, connect
from realtime.stores.arango.client import PooledHTTPClient, encode_body, request_bytes, request_target
from tests.support.tls import TLSFront, make_test_ca


def _store(url: str, server, **options) -> ArangoSessionStore:
    client, db = connect(url, "realtime", server.username, server.password, **options)
    store = ArangoSessionStore(client, db, username=server.username, password=server.password)
    store.init_schema()
    return store


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_default_client_is_the_pooled_one(arango_server):
    store = _store(arango_server.url, arango_server)
    assert isinstance(store.client._http, PooledHTTPClient)
    requests_store = _store(arango_server.url, arango_server, http_client="requests")
    assert isinstance(requests_store.client._http, DefaultHTTPClient)


def test_unknown_client_name_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match="ARANGO_HTTP_CLIENT='curl'.*lean, requests"):
        connect("http://127.0.0.1:1", "realtime", "root", "", http_client="curl")


def test_both_clients_write_what_the_other_reads(arango_server):
    pooled = _store(arango_server.url, arango_server)
    plain = _store(arango_server.url, arango_server, http_client="requests")
    record = SessionRecord(
        sid=new_session_id(), uid="ünïcode-user", created_at=time.time(), expires_at=time.time() + 60
    )
    pooled.save(record)
    assert plain.get(record.sid) == record
    assert plain.delete(record.sid) is True
    assert pooled.get(record.sid) is None


def test_pooled_client_keeps_one_connection_alive_across_requests(start_arango_server):
    server = start_arango_server()
    store = _store(server.url, server)
    server.reset_stats()
    for _ in range(20):
        store.get(new_session_id())
    stats = server.stats()
    assert stats["total"] == 20
    assert stats["connections"] <= 2  # the reads share a kept-alive connection


def test_read_timeout_refuses_within_the_timeout_and_says_so(start_arango_server):
    server = start_arango_server()
    store = _store(server.url, server, timeout=0.5)
    with server.faults(latency_ms=3000):
        started = time.monotonic()
        with pytest.raises(StoreError, match="no answer within the timeout"):
            store.get(new_session_id())
        assert time.monotonic() - started < 1.5
    assert store.get(new_session_id()) is None  # the pool recovers


def test_the_timeout_is_one_deadline_for_the_whole_request(start_arango_server):
    """A database dripping its answer a byte at a time never lets one read wait long; the request still ends."""
    server = start_arango_server()
    store = _store(server.url, server, timeout=0.5)
    with server.faults(drip_ms=100):  # over 10 s for the shortest answer; every byte well within 0.5 s
        with pytest.raises(StoreError, match="no answer within the timeout"):
            store.get(new_session_id())
    assert store.get(new_session_id()) is None  # the pool recovers


def test_connection_reset_is_a_store_error(start_arango_server):
    server = start_arango_server()
    store = _store(server.url, server)
    with server.faults(reset=True, times=2):  # the request and its one resend on a new connection
        with pytest.raises(StoreError, match="could not read a session"):
            store.get(new_session_id())
    assert store.get(new_session_id()) is None


def test_a_kept_alive_connection_closed_by_the_server_is_replaced_once(start_arango_server):
    server = start_arango_server()
    store = _store(server.url, server)
    store.get(new_session_id())  # one kept-alive connection in the pool
    server.reset_stats()
    with server.faults(reset=True, times=1):
        assert store.get(new_session_id()) is None
    assert server.stats()["faults"]["reset"] == 1


def test_second_host_answers_when_the_first_refuses_connections(arango_server):
    """Connect failures go to the next host of a multi-host ARANGO_URL (requests' errors never did)."""
    url = f"http://127.0.0.1:{_closed_port()},{arango_server.url}"
    store = _store(arango_server.url, arango_server)
    record = SessionRecord(sid=new_session_id(), uid="u1", created_at=time.time(), expires_at=time.time() + 60)
    store.save(record)
    client, db = connect(url, "realtime", arango_server.username, arango_server.password)
    failover = ArangoSessionStore(client, db)
    for _ in range(4):  # round robin: half of these start on the dead host
        assert failover.get(record.sid) == record


def test_no_host_reachable_says_cannot_connect():
    client, db = connect(f"http://127.0.0.1:{_closed_port()},http://127.0.0.1:{_closed_port()}", "realtime", "root", "")
    with pytest.raises(StoreError, match="cannot connect"):
        ArangoSessionStore(client, db).get(new_session_id())


@pytest.fixture(scope="module")
def tls_arango(arango_server, tmp_path_factory):
    files = make_test_ca(tmp_path_factory.mktemp("arango-tls"))
    front = TLSFront(("127.0.0.1", int(arango_server.url.rsplit(":", 1)[1])), files["cert"], files["key"])
    yield front.url, str(files["ca"])
    front.stop()


def test_tls_verifies_against_the_given_ca_bundle(tls_arango, arango_server):
    url, ca = tls_arango
    store = _store(url, arango_server, verify=ca)
    assert store.get(new_session_id()) is None


def test_tls_refuses_a_certificate_from_an_unknown_ca_by_default(tls_arango, arango_server):
    url, _ = tls_arango
    client, db = connect(url, "realtime", arango_server.username, arango_server.password)
    with pytest.raises(StoreError, match="CERTIFICATE_VERIFY_FAILED.*set ARANGO_VERIFY to that CA's PEM file"):
        ArangoSessionStore(client, db).get(new_session_id())


def test_tls_without_verification_when_asked(tls_arango, arango_server):
    url, _ = tls_arango
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning noise from the lean client
        store = _store(url, arango_server, verify=False)
        assert store.get(new_session_id()) is None


def test_request_target_encodes_params_like_requests():
    assert request_target("http://h:1/_db/x/_api/document/s/k", None) == "/_db/x/_api/document/s/k"
    assert (
        request_target("http://h:1/_api/document/c?a=1", {"silent": True, "rev": None, "x": "a b&c"})
        == "/_api/document/c?a=1&silent=True&x=a+b%26c"
    )


def test_bodies_are_utf8_and_unknown_bodies_are_refused_clearly():
    assert encode_body('{"uid":"ü"}') == '{"uid":"ü"}'.encode()
    assert encode_body(None) is None
    with pytest.raises(TypeError, match="ARANGO_HTTP_CLIENT=requests"):
        encode_body(object())


def test_request_is_written_whole_and_header_injection_is_refused():
    request = request_bytes("PUT", "/_api/document/s/k", "db:8529", {"x-arango-driver": "d"}, ("root", "pw"), b"{}")
    assert request == (
        b"PUT /_api/document/s/k HTTP/1.1\r\nHost: db:8529\r\nx-arango-driver: d\r\n"
        b"Authorization: Basic cm9vdDpwdw==\r\nContent-Length: 2\r\n\r\n{}"
    )
    assert b"Content-Length: 0" in request_bytes("POST", "/x", "h", {}, None, None)
    assert b"Content-Length" not in request_bytes("GET", "/x", "h", {}, None, None)
    with pytest.raises(ValueError, match="line breaks"):
        request_bytes("GET", "/x", "h", {"x-evil": "a\r\nHost: other"}, None, None)
