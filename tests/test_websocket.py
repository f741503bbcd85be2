"""realtime/websocket.py in-process: the unmask function, and which websocket app each async mode gets.

The frame reader itself runs only under eventlet, so it is tested against the
real server (tests/test_hardening_websocket.py); this process never imports
eventlet.
"""

from __future__ import annotations

import logging
import subprocess
import sys

from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI
from hypothesis import given
from hypothesis import strategies as st

from realtime.websocket import limited_websocket_factory, unmask


def unmask_per_byte(data: bytes, mask: bytes) -> bytes:
    """RFC 6455 section 5.3, word for word: octet i XOR octet i MOD 4 of the key."""
    return bytes(octet ^ mask[i % 4] for i, octet in enumerate(data))


@given(data=st.binary(max_size=5000), mask=st.binary(min_size=4, max_size=4))
def test_unmask_is_the_per_byte_xor(data, mask):
    assert unmask(data, mask) == unmask_per_byte(data, mask)


@given(data=st.binary(max_size=300), mask=st.binary(min_size=4, max_size=4))
def test_unmask_undoes_itself(data, mask):
    assert unmask(unmask(data, mask), mask) == data


def test_unmask_keeps_leading_and_trailing_zero_bytes():
    # An integer drops high zero bytes; the result must keep the payload's length.
    assert unmask(b"\x00" * 9, b"\x00\x00\x00\x00") == b"\x00" * 9
    assert unmask(b"\x01\x02\x03\x04\x01", b"\x01\x02\x03\x04") == b"\x00" * 5
    assert unmask(b"", b"abcd") == b""


class Server:
    max_http_buffer_size = 1234


def test_simple_websocket_gets_the_message_limit():
    app = limited_websocket_factory(SimpleWebSocketWSGI, "threading")(handler=print, server=Server())
    assert isinstance(app, SimpleWebSocketWSGI)
    assert app.server_args == {"max_message_size": 1234}


def test_an_unknown_driver_is_left_alone_with_a_warning(caplog):
    def other_driver(handler, server):
        return None

    # The "realtime" logger may not propagate to the root logger caplog watches (realtime.logs).
    watched = logging.getLogger("realtime.websocket")
    watched.addHandler(caplog.handler)
    try:
        assert limited_websocket_factory(other_driver, "threading") is other_driver
    finally:
        watched.removeHandler(caplog.handler)
    # A set: with the root logger watching too, the record arrives twice.
    [warning] = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert "not limited in size here" in warning and "other_driver" in warning


def test_importing_the_library_imports_no_eventlet():
    code = "import sys, realtime.websocket, realtime.transport; print('eventlet' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"
