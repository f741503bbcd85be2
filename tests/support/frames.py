"""A raw RFC 6455 client over a plain socket: hand-built frames, and exactly what the server sends back.

websocket-client builds well-formed frames only; these tests (and
``bench.fragment_flood``) need every length encoding, unmasked frames,
fragments with control frames between them, reserved bits and opcodes, and
the server's close code. Standard library only.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import struct
import threading
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
ENGINEIO_WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    mask: bytes | None = b"\x9a\x0b\x3c\xd4",
    rsv: int = 0,
    length_bytes: int | None = None,
    declared_length: int | None = None,
) -> bytes:
    """One client frame. ``mask=None`` sends it unmasked.

    ``length_bytes`` forces the length encoding: 0 (7-bit), 2 (16-bit after
    126) or 8 (64-bit after 127); by default the shortest that fits.
    ``declared_length`` puts another length in the header than the payload's.
    """
    length = len(payload) if declared_length is None else declared_length
    if length_bytes is None:
        length_bytes = 0 if length <= 125 else 2 if length <= 0xFFFF else 8
    first = (0x80 if fin else 0) | (rsv & 7) << 4 | opcode
    mask_bit = 0x80 if mask is not None else 0
    if length_bytes == 0:
        header = bytes([first, mask_bit | length])
    elif length_bytes == 2:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    if mask is None:
        return header + payload
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@dataclass
class Frame:
    opcode: int
    payload: bytes
    fin: bool = True

    @property
    def close_code(self) -> int | None:
        return struct.unpack("!H", self.payload[:2])[0] if self.opcode == CLOSE and len(self.payload) >= 2 else None

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")


class HandshakeRefused(Exception):
    def __init__(self, status: int, head: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.head = head


class RawWebSocket:
    """A websocket connection whose frames the caller builds with :func:`frame`."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._pending = b""

    @classmethod
    def open(
        cls,
        url: str,
        path: str = ENGINEIO_WEBSOCKET,
        headers: t.Sequence[str] = (),
        *,
        version: str | None = "13",
        timeout: float = 10,
    ) -> RawWebSocket:
        """Upgrade ``path`` on ``url`` (``http://host:port``); :class:`HandshakeRefused` if not answered 101.

        ``version=None`` leaves out ``Sec-WebSocket-Version`` and the key: a
        pre-RFC 6455 (hixie-75) handshake.
        """
        parts = urlsplit(url)
        sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket", "Connection: Upgrade"]
        if version is not None:
            key = base64.b64encode(os.urandom(16)).decode()
            lines += [f"Sec-WebSocket-Key: {key}", f"Sec-WebSocket-Version: {version}"]
        lines += list(headers)
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        ws = cls(sock)
        head = ws._read_until(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            with contextlib.suppress(OSError):
                sock.close()
            raise HandshakeRefused(status, head)
        return ws

    def _read_until(self, marker: bytes, limit: int = 65536) -> bytes:
        while marker not in self._pending:
            if len(self._pending) > limit:
                raise AssertionError(f"no {marker!r} in the first {limit} bytes")
            self._fill()
        head, _, self._pending = self._pending.partition(marker)
        return head

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._pending += chunk

    def _read(self, size: int) -> bytes:
        while len(self._pending) < size:
            self._fill()
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_text(self, text: str) -> None:
        self.send(frame(TEXT, text.encode()))

    def recv_frame(self) -> Frame:
        """The next frame from the server (servers do not mask)."""
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        assert not second & 0x80, "the server masked a frame"
        return Frame(first & 0x0F, self._read(length), bool(first & 0x80))

    def recv_data(self) -> Frame:
        """The next data frame, answering Engine.IO pings (``"2"``) and skipping pongs on the way (bounded)."""
        for _ in range(20):
            got = self.recv_frame()
            if got.opcode == TEXT and got.payload == b"2":
                self.send_text("3")
                continue
            if got.opcode == PONG:
                continue
            return got
        raise AssertionError("only pings arrived")

    def close_code(self) -> int | None:
        """Read until the server's close frame and return its code; ``None`` if the connection ends without one."""
        try:
            for _ in range(1000):
                got = self.recv_frame()
                if got.opcode == CLOSE:
                    return got.close_code
        except (ConnectionError, OSError):
            return None
        raise AssertionError("no close frame in 1000 frames")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def opened(url: str, cookie: str | None = None) -> RawWebSocket:
    """An Engine.IO websocket whose open packet has been read; no Socket.IO CONNECT sent."""
    ws = RawWebSocket.open(url, headers=[f"Cookie: {cookie}"] if cookie else [])
    assert ws.recv_data().text.startswith("0")
    return ws


class Flooder(threading.Thread):
    """A client with no cookie that never sends CONNECT: one endless text message, 60 KiB per frame, on a loop.

    When the server closes the connection it reconnects and starts over, as an
    attacker would; it stops when told to or after ``max_connections``.
    """

    FRAGMENT = 60 * 1024

    def __init__(self, url: str, stop: threading.Event, max_connections: int = 50) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.max_connections = url, stop, max_connections
        #: The close code the server ended each connection with (None: closed without one).
        self.close_codes: list[int | None] = []
        self.frames_sent = 0

    def frames(self) -> tuple[bytes, bytes]:
        """What to send first on a connection, and then again and again (each counted as one frame)."""
        first, rest = b"4" + b"f" * (self.FRAGMENT - 1), b"f" * self.FRAGMENT
        return frame(TEXT, first, fin=False), frame(CONTINUATION, rest, fin=False)

    def run(self) -> None:
        first, rest = self.frames()
        for _ in range(self.max_connections):
            if self.stop.is_set():
                return
            ws = opened(self.url)
            ws.sock.settimeout(5)
            try:
                if self.flood(ws, first, rest):
                    self.close_codes.append(ws.close_code())
            finally:
                ws.close()

    def flood(self, ws: RawWebSocket, first: bytes, rest: bytes) -> bool:
        """Send frames until the server stops taking them (True) or the test ends the flood (False)."""
        try:
            ws.send(first)
            self.frames_sent += 1
            while not self.stop.is_set():
                ws.send(rest)
                self.frames_sent += 1
        except OSError:
            return True
        return False


class MessageFlooder(Flooder):
    """The same client sending complete small messages (Socket.IO events for a namespace it never joined)."""

    def frames(self) -> tuple[bytes, bytes]:
        message = frame(TEXT, b'42["flood","' + b"m" * 100 + b'"]')
        return message, message * 50
