"""Clients that never authenticate, and namespaces the guard must cover, against the real process.

The Procfile's gunicorn + eventlet worker, hand-made Engine.IO clients
(``tests.support.eio``) and ``psutil`` for the worker's memory:

- Engine.IO sessions without an accepted CONNECT (fat handshakes, no CONNECT
  at all) are closed after ``REALTIME_CONNECT_TIMEOUT``, and the worker's
  memory stays bounded while a client keeps opening them;
- a refused CONNECT still brings the client its ``CONNECT_ERROR`` with the
  reason, and then the transport closes;
- one client address holds at most ``REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS``
  such sessions (the address as ``REALTIME_TRUSTED_PROXIES`` decides it);
- a namespace added while the server runs, over a websocket opened before it
  existed, and a push-only namespace listed in ``SocketIO(namespaces=...)``,
  refuse a cookie-less client and end a logged-in one at logout.
"""

from __future__ import annotations

import json
import select
import threading
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests
import socketio
import websocket

from tests.support import eio
from tests.support.hardening import hang_up_http, login, running
from tests.support.procs import Refused, connect, hang_up, procfile_command

#: gunicorn's own limits: 100 header fields of at most 8190 bytes. The
#: handshake's own headers leave room for this many padding fields.
FAT_FIELDS = 90
FAT_FIELD = "a" * 8000


def fat_headers() -> list[tuple[str, str]]:
    return [(f"X-Pad-{i}", FAT_FIELD) for i in range(FAT_FIELDS)]


def ws_lines(headers: t.Iterable[tuple[str, str]]) -> list[str]:
    return [f"{name}: {value}" for name, value in headers]


def socketio_packets(ws: websocket.WebSocket, seconds: float) -> t.Iterator[str]:
    """Socket.IO packets from ``ws`` for up to ``seconds`` (pings answered); stops at a close."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ws.settimeout(left)
        try:
            data = ws.recv()
        except websocket.WebSocketTimeoutException:
            return
        except (websocket.WebSocketConnectionClosedException, OSError):
            yield "<closed>"
            return
        if data == "2":
            ws.send("3")
        elif data == "":
            yield "<closed>"
            return
        else:
            yield data


def poll_open(url: str, headers: t.Sequence[tuple[str, str]] = ()) -> str:
    """A long-polling Engine.IO handshake; returns its sid (the session is left open)."""
    answer = eio.http_request(url, "GET", eio.PATH + "?EIO=4&transport=polling", headers)
    assert answer.status == 200 and answer.text.startswith("0"), (answer.status, answer.text[:200])
    return json.loads(answer.text[1:])["sid"]


def poll_path(sid: str) -> str:
    return f"{eio.PATH}?EIO=4&transport=polling&sid={sid}"


def polling_session_open(url: str, sid: str, wait: float = 1.5) -> bool:
    """Whether the server still serves polling session ``sid`` (a poll waits for packets, or gets some)."""
    try:
        answer = eio.http_request(url, "GET", poll_path(sid), timeout=wait)
    except TimeoutError:
        return True  # waiting for packets: alive
    return answer.status == 200 and "1" not in answer.text.split(eio.RECORD_SEPARATOR)


class RssSampler:
    """The worker's resident memory, sampled in a thread; :attr:`peak` is the highest sample."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def settled_rss(pid: int, seconds: float = 2.0) -> int:
    samples = []
    for _ in range(int(seconds / 0.1)):
        samples.append(psutil.Process(pid).memory_info().rss)
        time.sleep(0.1)
    return min(samples)


MiB = 1024 * 1024


# -- finding 3: sessions that never authenticate --------------------------------------


@pytest.fixture(scope="module")
def timeout_proc(request):
    """The app with a short connect timeout and no per-address cap (the timeout alone is under test)."""
    env = request.getfixturevalue("e2e_env")(
        REALTIME_CONNECT_TIMEOUT="2",
        REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS="0",
        REALTIME_RATE_LIMIT="0",
        REALTIME_REVALIDATE_INTERVAL="0",
    )
    with running(env) as proc:
        yield proc


#: The held-session attack: fat handshakes opened at a steady pace, half websockets, half polling.
ATTACK_SESSIONS = 160
ATTACK_PACE = 20  # per second, so the attack lasts several connect timeouts
#: Worker memory the attack may add. Each fat handshake carries ~0.7 MiB of
#: headers: held for the whole attack, 160 of them are over 100 MiB; closed
#: after the 2 s timeout, no more than ~2 s worth (~40) are alive at once.
ATTACK_RSS_BUDGET = 64 * MiB


def test_fat_sessions_that_never_connect_are_closed_and_memory_stays_bounded(timeout_proc):
    url = timeout_proc.url
    worker = timeout_proc.pid_of_worker()
    # Warm up the paths the attack uses (first-use growth is not what we measure).
    warm = eio.ws_open(url, ws_lines(fat_headers()))
    poll_open(url, fat_headers())
    eio.ws_close(warm)
    time.sleep(2.5)
    before = settled_rss(worker)

    sockets: list[websocket.WebSocket] = []
    polling: list[str] = []
    with RssSampler(worker) as sampler:
        started = time.monotonic()
        for i in range(ATTACK_SESSIONS):
            time.sleep(max(0.0, started + i / ATTACK_PACE - time.monotonic()))
            if i % 2:
                polling.append(poll_open(url, fat_headers()))
            else:
                sockets.append(eio.ws_open(url, ws_lines(fat_headers())))
        last_opened = time.monotonic()
        # The attacker keeps every session (answering pings) until the server closes them.
        deadline = last_opened + 2 + 15
        open_ws = list(sockets)
        while open_ws and time.monotonic() < deadline:
            readable, _, _ = select.select([ws.sock for ws in open_ws], [], [], 0.5)
            for ws in [ws for ws in open_ws if ws.sock in readable]:
                if "<closed>" in socketio_packets(ws, 0.5) or ws.sock is None:
                    open_ws.remove(ws)
        with ThreadPoolExecutor(max_workers=20) as pool:
            open_polling = [sid for sid, alive in zip(polling, pool.map(lambda s: polling_session_open(url, s), polling)) if alive]
    for ws in sockets:
        eio.ws_close(ws)
    after = settled_rss(worker)
    print(
        f"\nworker RSS under the held-session attack ({ATTACK_SESSIONS} fat handshakes at {ATTACK_PACE}/s):"
        f" before {before / MiB:.1f} MiB, peak {sampler.peak / MiB:.1f} MiB (+{(sampler.peak - before) / MiB:.1f}),"
        f" after {after / MiB:.1f} MiB; still open: {len(open_ws)} websockets, {len(open_polling)} polling"
    )
    assert open_ws == [] and open_polling == []
    assert sampler.peak - before < ATTACK_RSS_BUDGET


#: Socket.IO packets no client sends: not JSON, not a packet type, a server's CONNECT_ERROR, a binary header
#: outside any namespace. python-socketio raises ValueError on each.
MALFORMED_PACKETS = ["4x", "x", "2[bad", "9", "0{", "51-[\"e\",{\"_placeholder\":true,\"num\":0}]"]


def test_packets_socket_io_cannot_decode_cost_one_log_line_not_a_traceback_each(request):
    env = request.getfixturevalue("e2e_env")(REALTIME_CONNECT_TIMEOUT="30", REALTIME_RATE_LIMIT="0")
    with running(env) as proc:
        ws = eio.ws_open(proc.url)
        try:
            for garbage in MALFORMED_PACKETS * 5:
                ws.send("4" + garbage)  # an Engine.IO MESSAGE carrying the Socket.IO packet
            ws.send("40")  # dropped, not fatal: the session still answers, here with the refusal
            packets = list(socketio_packets(ws, 10))
        finally:
            eio.ws_close(ws)
        assert packets[0].startswith("44") and "no_cookie" in packets[0], packets
        # A logged-in client is not affected by any of it.
        browser = login(proc.url)
        client = connect(proc.url, browser.cookie_header)
        try:
            assert client.call("echo", {"n": 1}, timeout=10) == {"n": 1}
        finally:
            hang_up(client)
            hang_up_http(browser)
        output = proc.output()
    assert "message handler error" not in output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if "Socket.IO cannot decode" in line]
    assert len(lines) == 1, lines  # 30 packets within the minute: one line


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_refused_connect_gets_its_reason_then_the_transport_closes(request, transport):
    env = request.getfixturevalue("e2e_env")(REALTIME_CONNECT_TIMEOUT="30", REALTIME_RATE_LIMIT="0")
    with running(env) as proc:
        url = proc.url
        if transport == "websocket":
            ws = eio.ws_open(url)
            try:
                ws.send("40")
                packets = list(socketio_packets(ws, 10))
            finally:
                eio.ws_close(ws)
            assert packets[0].startswith("44")
            assert json.loads(packets[0][2:]) == {"message": "Cookie not found", "data": {"reason": "no_cookie"}}
            assert packets[-1] == "<closed>"
            assert set(packets[1:-1]) <= {"1"}
        else:
            sid = poll_open(url)
            assert eio.http_request(url, "POST", poll_path(sid), body=b"40").status == 200
            first = eio.http_request(url, "GET", poll_path(sid))
            refusal = first.text.split(eio.RECORD_SEPARATOR)[0]
            assert json.loads(refusal[2:]) == {"message": "Cookie not found", "data": {"reason": "no_cookie"}}
            # Then the session is gone: a close packet, or the session is unknown.
            answers = [first]
            while answers[-1].status == 200 and "1" not in answers[-1].text.split(eio.RECORD_SEPARATOR):
                assert len(answers) < 3, [a.text for a in answers]
                answers.append(eio.http_request(url, "GET", poll_path(sid), timeout=10))
            # An unknown sid gets the session binding's 403 (realtime.binding), as one opened by someone else would.
            assert eio.http_request(url, "GET", poll_path(sid), timeout=10).status == 403
        # A python-socketio client sees the same refusal, as README's contract says.
        with pytest.raises(Refused) as info:
            connect(url, transports=[transport] if transport == "websocket" else ["polling"])
        assert (info.value.message, info.value.reason) == ("Cookie not found", "no_cookie")


def test_unauthenticated_sessions_per_address_are_capped(request):
    env = request.getfixturevalue("e2e_env")(
        REALTIME_CONNECT_TIMEOUT="30",
        REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS="3",
        REALTIME_TRUSTED_PROXIES="1",
        REALTIME_RATE_LIMIT="0",
    )
    # Behind one trusted proxy the address is the X-Forwarded-For entry it wrote.
    attacker = ("X-Forwarded-For", "198.51.100.1, 203.0.113.7")
    other = ("X-Forwarded-For", "198.51.100.1, 203.0.113.8")
    with running(env) as proc:
        url = proc.url
        held = [eio.ws_open(url, ws_lines([attacker])) for _ in range(3)]
        try:
            with pytest.raises(websocket.WebSocketBadStatusException) as info:
                eio.ws_open(url, ws_lines([attacker]))
            assert info.value.status_code == 429
            refused = eio.http_request(url, "GET", eio.PATH + "?EIO=4&transport=polling", [attacker])
            assert refused.status == 429
            assert json.loads(refused.text)["reason"] == "too_many_unauthenticated"
            # The left-most entry is the client's own claim and changes nothing.
            spoofed = ("X-Forwarded-For", "192.0.2.99, 203.0.113.7")
            assert eio.http_request(url, "GET", eio.PATH + "?EIO=4&transport=polling", [spoofed]).status == 429
            # Another address is not affected.
            eio.ws_close(eio.ws_open(url, ws_lines([other])))
            # A logged-in user from the capped address still gets in once the
            # attacker's sessions are refused (each refusal closes its session).
            for ws in held:
                ws.send("40")
                assert next(socketio_packets(ws, 10)).startswith("44")
            browser = login(url)
            deadline = time.monotonic() + 10
            while True:
                try:
                    client = connect(url, {**browser.cookie_header, "X-Forwarded-For": attacker[1]})
                    break
                except socketio.exceptions.ConnectionError:
                    assert time.monotonic() < deadline, "the refused sessions still count against the address"
                    time.sleep(0.1)
            client.disconnect()
            hang_up_http(browser)
        finally:
            for ws in held:
                eio.ws_close(ws)
        assert "REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS" in proc.output()


# -- finding 5: namespaces the guard must cover --------------------------------------


@pytest.fixture(scope="module")
def namespaces_proc(request):
    env = request.getfixturevalue("e2e_env")(REALTIME_CONNECT_TIMEOUT="30", REALTIME_RATE_LIMIT="0")
    command = procfile_command("web")
    assert command[-1] == "wsgi:app"
    with running(env, command=[*command[:-1], "tests.support.namespaces_wsgi:app"]) as proc:
        yield proc


def add_namespace(url: str, name: str) -> None:
    assert requests.post(f"{url}/_test/namespaces/{name}", timeout=10).status_code == 200


def first_packet(ws: websocket.WebSocket, prefix: str) -> str:
    for data in socketio_packets(ws, 10):
        if data.startswith(prefix):
            return data
    raise AssertionError(f"no packet starting with {prefix!r}")


def refusal_reason(packet: str) -> str:
    return json.loads(packet.split(",", 1)[1])["data"]["reason"]


def test_namespace_added_while_running_refuses_a_cookieless_socket_opened_before_it(namespaces_proc):
    url = namespaces_proc.url
    ws = eio.ws_open(url)  # no cookie; opened before the namespace exists
    try:
        add_namespace(url, "late1")
        ws.send("40/late1,")
        answer = first_packet(ws, "4")
        assert answer.startswith("44/late1,"), answer
        assert refusal_reason(answer) == "no_cookie"
    finally:
        eio.ws_close(ws)


def test_namespace_added_while_running_admits_a_logged_in_socket_and_logout_ends_it(namespaces_proc):
    url = namespaces_proc.url
    browser = login(url)
    ws = eio.ws_open(url, [f"Cookie: session={browser.cookie}"])
    try:
        ws.send("40")
        assert first_packet(ws, "4").startswith("40{")
        add_namespace(url, "late2")
        ws.send("40/late2,")
        assert first_packet(ws, "4").startswith("40/late2,")
        ws.send('42/late2,1["ping"]')
        assert first_packet(ws, "43/late2,") == '43/late2,1["pong"]'
        browser.logout()
        first_packet(ws, "41/late2,")  # ended with the session, like the "/" socket
    finally:
        eio.ws_close(ws)
        hang_up_http(browser)


def test_listed_push_only_namespace_refuses_without_a_session(namespaces_proc):
    url = namespaces_proc.url
    ws = eio.ws_open(url)
    try:
        ws.send("40/dashboard,")
        answer = first_packet(ws, "4")
        assert answer.startswith("44/dashboard,"), answer
        assert refusal_reason(answer) == "no_cookie"
    finally:
        eio.ws_close(ws)

    browser = login(url)
    ws = eio.ws_open(url, [f"Cookie: session={browser.cookie}"])
    try:
        ws.send("40/dashboard,")
        assert first_packet(ws, "4").startswith("40/dashboard,")
        browser.logout()
        first_packet(ws, "41/dashboard,")
    finally:
        eio.ws_close(ws)
        hang_up_http(browser)

