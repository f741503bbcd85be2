"""The websocket receive path against the real server: RFC 6455 cases and a fragment flood (realtime/websocket.py).

Hand-built frames (``tests.support.frames``) go to the Procfile's gunicorn +
eventlet worker: every payload-length encoding, masks, fragments with control
frames between them, text and binary, and the close codes the server answers
with. The attack: sockets with no cookie and no Socket.IO CONNECT send one
endless message as continuation frames while a logged-in user echoes; the
flooders are cut off with 1009 at ``REALTIME_MAX_MESSAGE_BYTES`` and the user
gets every answer. The same limit under the gevent and threaded workers
(simple-websocket) is checked at the end.
"""

from __future__ import annotations

import json
import os
import threading
import time
import zlib

import pytest

from tests.support.frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Flooder,
    Frame,
    HandshakeRefused,
    MessageFlooder,
    RawWebSocket,
    frame,
    opened,
)
from tests.support.hardening import hang_up_http, login, running, server_errors
from tests.support.procs import connect, hang_up, web_command

#: REALTIME_MAX_MESSAGE_BYTES (its default).
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def env(request) -> dict[str, str]:
    return request.getfixturevalue("e2e_env")(REALTIME_RATE_LIMIT="0")


@pytest.fixture(scope="module")
def app_proc(env):
    with running(env) as proc:
        yield proc
    assert server_errors(proc) == []


@pytest.fixture(scope="module")
def cookie(app_proc) -> str:
    alice = login(app_proc.url, "alice")
    yield alice.cookie_header["Cookie"]
    hang_up_http(alice)


@pytest.fixture
def ws(app_proc, cookie):
    """alice's socket, connected to namespace ``/``."""
    sock = opened(app_proc.url, cookie)
    sock.send_text("40")
    assert sock.recv_data().text.startswith("40")
    yield sock
    sock.close()


def echo_event(size: int, ack: int = 1) -> tuple[bytes, str]:
    """An ``echo`` event of exactly ``size`` bytes, and the ack text it must bring back."""
    head, tail = f'42{ack}["echo","'.encode(), b'"]'
    text = "x" * (size - len(head) - len(tail))
    return head + text.encode() + tail, f'43{ack}["{text}"]'


# -- RFC 6455: what a well-behaved client sends --------------------------------------


@pytest.mark.parametrize(
    ("size", "length_bytes"),
    [(20, 0), (125, 0), (126, 2), (65_535, 2), (LIMIT, 8)],
    ids=["7-bit", "7-bit max", "16-bit min", "16-bit max", "64-bit, the limit exactly"],
)
@pytest.mark.parametrize(
    "mask", [b"\x00\x00\x00\x00", b"\xff\x00\xa5\x5a", os.urandom(4)], ids=["zero", "fixed", "random"]
)
def test_every_payload_length_class_is_read_and_unmasked(ws, size, length_bytes, mask):
    event, ack = echo_event(size)
    ws.send(frame(TEXT, event, mask=mask, length_bytes=length_bytes))
    assert ws.recv_data().text == ack


def test_a_fragmented_text_message_with_control_frames_between_fragments(ws):
    # The split falls inside a two-byte UTF-8 character, which only the whole message decodes.
    event = '421["echo",{"text":"crème brûlée"}]'.encode()
    cut = event.index("è".encode()) + 1
    ws.send(frame(TEXT, event[:cut], fin=False))
    ws.send(frame(PING, b"are you there?"))
    ws.send(frame(CONTINUATION, event[cut:-5], fin=False))
    ws.send(frame(PONG, b"unsolicited"))  # allowed, and ignored
    ws.send(frame(CONTINUATION, b"", fin=False))
    ws.send(frame(CONTINUATION, event[-5:]))
    pong = ws.recv_frame()
    assert (pong.opcode, pong.payload) == (PONG, b"are you there?")
    assert json.loads(ws.recv_data().text[3:]) == [{"text": "crème brûlée"}]


def test_a_fragmented_binary_message_with_a_ping_between_fragments(ws):
    attachment = bytes(range(256)) * 40
    ws.send_text('451-1["echo",{"_placeholder":true,"num":0}]')
    ws.send(frame(BINARY, attachment[:1000], fin=False))
    ws.send(frame(CONTINUATION, attachment[1000:5000], fin=False))
    ws.send(frame(PING, b""))
    ws.send(frame(CONTINUATION, attachment[5000:]))
    assert ws.recv_frame().opcode == PONG
    assert ws.recv_data().text == '461-1[{"_placeholder":true,"num":0}]'
    answer = ws.recv_data()
    assert (answer.opcode, answer.payload) == (BINARY, attachment)


def test_a_fragmented_message_of_exactly_the_limit_is_delivered(ws):
    event, ack = echo_event(LIMIT)
    ws.send(frame(TEXT, event[:30_000], fin=False))
    ws.send(frame(CONTINUATION, event[30_000:60_000], fin=False))
    ws.send(frame(CONTINUATION, event[60_000:]))
    assert ws.recv_data().text == ack


@pytest.mark.parametrize("code", [1000, 1001, 3000, 4999])
def test_a_close_from_the_client_is_answered_with_its_code(ws, code):
    ws.send(frame(CLOSE, code.to_bytes(2, "big") + b"bye"))
    assert ws.close_code() == code


# -- RFC 6455: what the server closes the connection for ---------------------------


def over_the_limit_in_fragments() -> list[bytes]:
    return [frame(TEXT, b"4" * 30_000, fin=False), frame(CONTINUATION, b"x" * 30_000, fin=False)] + [
        frame(CONTINUATION, b"y" * 10_000, fin=False)
    ]


PROTOCOL_ERRORS = {
    "unmasked client frame": [frame(TEXT, b"42[]", mask=None)],
    "reserved opcode 3": [frame(3, b"x")],
    "reserved control opcode 0xB": [frame(0xB, b"")],
    "RSV1 without permessage-deflate": [frame(TEXT, b"42[]", rsv=4)],
    "RSV2": [frame(TEXT, b"42[]", rsv=2)],
    "continuation with nothing to continue": [frame(CONTINUATION, b"x")],
    "a new message inside a fragmented one": [frame(TEXT, b"42", fin=False), frame(TEXT, b"[]")],
    "fragmented ping": [frame(PING, b"x", fin=False)],
    "ping over 125 bytes": [frame(PING, b"p" * 126)],
    "close with a code that is never sent": [frame(CLOSE, (1005).to_bytes(2, "big"))],
}


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        *[pytest.param(frames, 1002, id=name) for name, frames in PROTOCOL_ERRORS.items()],
        pytest.param([frame(TEXT, b"42\xff\xfe")], 1007, id="text that is not UTF-8"),
        pytest.param([frame(TEXT, b"42\xc3", fin=False), frame(CONTINUATION, b"(")], 1007, id="not UTF-8 across"),
        pytest.param(over_the_limit_in_fragments(), 1009, id="fragments adding up to over the limit"),
        pytest.param([frame(TEXT, b"4" * (LIMIT + 1))], 1009, id="one frame over the limit"),
        pytest.param([frame(BINARY, b"", declared_length=2**63 - 1)], 1009, id="a 64-bit length, no payload"),
    ],
)
def test_the_server_closes_with_the_rfc_6455_code(app_proc, cookie, frames, code):
    errors = len(server_errors(app_proc))
    ws = opened(app_proc.url, cookie)
    try:
        for data in frames:
            ws.send(data)
        assert ws.close_code() == code
    finally:
        ws.close()
    assert server_errors(app_proc)[errors:] == []


def test_pre_rfc_6455_handshakes_are_refused(app_proc):
    """The hixie-75/76 drafts' reader buffers up to a 0xFF byte without limit; every browser speaks RFC 6455."""
    try:
        ws = RawWebSocket.open(app_proc.url, headers=[f"Origin: {app_proc.url}"], version=None)
    except HandshakeRefused as refused:
        assert refused.status == 400
    else:
        ws.close()
        pytest.fail("a hixie-75 handshake was answered 101")


def deflated(data: bytes) -> bytes:
    """``data`` as a permessage-deflate payload (RFC 7692: raw deflate, sync flush, its last 4 bytes dropped)."""
    compressor = zlib.compressobj(wbits=-15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def test_compressed_messages_with_permessage_deflate_on(e2e_env):
    """REALTIME_WEBSOCKET_COMPRESSION=true: compressed fragments are read; what inflates past the limit is 1009."""
    with running(e2e_env(REALTIME_RATE_LIMIT="0", REALTIME_WEBSOCKET_COMPRESSION="true")) as proc:
        alice = login(proc.url, "alice")
        offer = ["Sec-WebSocket-Extensions: permessage-deflate", f"Cookie: {alice.cookie_header['Cookie']}"]
        try:
            ws = RawWebSocket.open(proc.url, headers=offer)
            # The server's messages share one compression context, in order.
            inflater = zlib.decompressobj(wbits=-15)

            def inflate(received: Frame) -> bytes:
                return inflater.decompress(received.payload + b"\x00\x00\xff\xff")

            assert inflate(ws.recv_frame()).startswith(b"0")
            ws.send_text("40")
            assert inflate(ws.recv_frame()).startswith(b"40")
            event = deflated('421["echo","squeeze me"]'.encode())
            ws.send(frame(TEXT, event[:5], fin=False, rsv=4))
            ws.send(frame(CONTINUATION, event[5:]))
            assert inflate(ws.recv_frame()) == b'431["squeeze me"]'
            ws.send(frame(TEXT, deflated(b"4" + b"z" * (4 * LIMIT)), rsv=4))
            assert ws.close_code() == 1009
            ws.close()
        finally:
            hang_up_http(alice)


# -- the attack -------------------------------------------------------------------


#: Echo calls the logged-in user makes during a flood.
ECHOES = 40


def echo_during_flood(app_proc, cookie: str, flooder: type[Flooder], count: int) -> list[Flooder]:
    """alice makes :data:`ECHOES` echo calls while ``count`` flooders run, and gets every answer; the flooders, done."""
    victim = connect(app_proc.url, {"Cookie": cookie})
    stop = threading.Event()
    flooders = [flooder(app_proc.url, stop) for _ in range(count)]
    try:
        for thread in flooders:
            thread.start()
        time.sleep(0.5)  # the flood is under way
        answers = [victim.call("echo", {"n": n}, timeout=15) for n in range(ECHOES)]
    finally:
        stop.set()
        for thread in flooders:
            thread.join(15)
        hang_up(victim)
    assert answers == [{"n": n} for n in range(ECHOES)]
    assert not any(thread.is_alive() for thread in flooders)
    return flooders


def test_a_fragment_flood_without_a_cookie_is_cut_off_while_a_user_keeps_echoing(app_proc, cookie):
    errors = len(server_errors(app_proc))
    for flooder in echo_during_flood(app_proc, cookie, Flooder, 4):
        assert flooder.close_codes and set(flooder.close_codes) == {1009}, flooder.close_codes
    assert "a message of more than 65536 bytes (REALTIME_MAX_MESSAGE_BYTES)" in app_proc.output()
    assert server_errors(app_proc)[errors:] == []


def test_a_flood_of_small_messages_without_a_cookie_does_not_hold_the_worker(app_proc, cookie):
    """eventlet switches green threads only when a read would block; a client that keeps data waiting must not win."""
    errors = len(server_errors(app_proc))
    flooders = echo_during_flood(app_proc, cookie, MessageFlooder, 2)
    # The flood did flow: at least 5,000 messages each (sent in batches of 50), more than the worker took.
    assert all(flooder.frames_sent >= 100 for flooder in flooders)
    assert "WORKER TIMEOUT" not in app_proc.output()
    assert server_errors(app_proc)[errors:] == []


# -- the other workers ---------------------------------------------------------------


@pytest.mark.parametrize("worker", ["gevent", "threads"])
def test_the_message_limit_holds_under_the_gevent_and_threaded_workers(e2e_env, worker):
    env = e2e_env(REALTIME_WORKER=worker, REALTIME_RATE_LIMIT="0", REALTIME_SHUTDOWN_JITTER="1")
    with running(env, command=web_command(worker)) as proc:
        alice = login(proc.url, "alice")
        ws = opened(proc.url, alice.cookie_header["Cookie"])
        try:
            ws.send_text("40")
            assert ws.recv_data().text.startswith("40")
            event, ack = echo_event(LIMIT - 10)
            ws.send(frame(TEXT, event[:30_000], fin=False))
            ws.send(frame(CONTINUATION, event[30_000:]))
            assert ws.recv_data().text == ack
            for data in over_the_limit_in_fragments():
                ws.send(data)
            assert ws.close_code() == 1009
        finally:
            ws.close()
            hang_up_http(alice)
