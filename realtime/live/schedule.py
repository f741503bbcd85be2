"""Time-keyed bookkeeping of one instance, without I/O: when sockets expire, which sessions just ended.

Both are plain data structures behind a lock; the caller passes the time, so
tests drive them with any clock.
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict

from ..connections import SocketRef
from .control import EXPIRED


class ExpiryQueue:
    """When each socket must end, and why: one heap for the whole instance.

    A timer per socket would cost a greenlet or thread each; the heap costs a
    ``(deadline, ref)`` pair, and the live entry is the deadline alone for
    the usual reason (:data:`EXPIRED`), a ``(deadline, reason)`` pair only
    for others: this is kept for every socket for its whole life. Equal
    deadlines pop in the order of their refs. :meth:`cancel` and
    re-:meth:`schedule` leave stale heap entries behind (removing from the
    middle of a heap is O(n)); they are skipped when popped and compacted
    away once they outnumber the live ones.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heap: list[tuple[float, SocketRef]] = []
        self._entries: dict[SocketRef, float | tuple[float, str]] = {}

    def schedule(self, ref: SocketRef, deadline: float, reason: str = EXPIRED) -> None:
        """End ``ref`` at ``deadline`` with ``reason`` (replacing an earlier schedule)."""
        with self._lock:
            self._entries[ref] = deadline if reason == EXPIRED else (deadline, reason)
            heapq.heappush(self._heap, (deadline, ref))
            if len(self._heap) > 2 * len(self._entries) + 64:
                self._compact()

    def cancel(self, ref: SocketRef) -> None:
        with self._lock:
            self._entries.pop(ref, None)

    def entry(self, ref: SocketRef) -> tuple[float, str] | None:
        """``(deadline, reason)`` scheduled for ``ref``, if any."""
        return _unpack(self._entries.get(ref))

    def pop_due(self, now: float) -> list[tuple[SocketRef, str]]:
        """Remove and return ``(ref, reason)`` of every socket due at ``now``, earliest first."""
        due = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                deadline, ref = heapq.heappop(self._heap)
                entry = _unpack(self._entries.get(ref))
                if entry is not None and entry[0] == deadline:
                    del self._entries[ref]
                    due.append((ref, entry[1]))
        return due

    def next_deadline(self) -> float | None:
        """The earliest deadline still scheduled, or ``None``."""
        with self._lock:
            while self._heap:
                deadline, ref = self._heap[0]
                entry = _unpack(self._entries.get(ref))
                if entry is not None and entry[0] == deadline:
                    return deadline
                heapq.heappop(self._heap)
            return None

    def _compact(self) -> None:
        self._heap = [(_deadline(entry), ref) for ref, entry in self._entries.items()]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._entries)


def _unpack(entry: float | tuple[float, str] | None) -> tuple[float, str] | None:
    if entry is None or isinstance(entry, tuple):
        return entry
    return entry, EXPIRED


def _deadline(entry: float | tuple[float, str]) -> float:
    return entry[0] if isinstance(entry, tuple) else entry


class RecentlyEnded:
    """Sessions ended in the last ``keep`` seconds, and why.

    A socket whose connect check read its record just before a revocation
    deleted it would otherwise be registered after the revocation passed by,
    and live until the next revalidation. Session ids are never reused, so
    remembering them briefly is enough to end such latecomers at once.
    """

    def __init__(self, keep: float = 60.0) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._ended: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def add(self, session_ids: tuple[str, ...] | list[str], reason: str, now: float) -> None:
        with self._lock:
            for session_id in session_ids:
                self._ended.pop(session_id, None)
                self._ended[session_id] = (now, reason)
            self._forget_before(now - self.keep)

    def reason_for(self, session_id: str, now: float) -> str | None:
        """Why ``session_id`` ended, if it ended in the last ``keep`` seconds."""
        with self._lock:
            self._forget_before(now - self.keep)
            entry = self._ended.get(session_id)
            return entry[1] if entry else None

    def _forget_before(self, cutoff: float) -> None:
        while self._ended:
            session_id, (when, _) = next(iter(self._ended.items()))
            if when >= cutoff:
                return
            del self._ended[session_id]

    def __len__(self) -> int:
        return len(self._ended)
