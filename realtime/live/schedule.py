"""Time-keyed bookkeeping of one instance, without I/O: when sockets expire, which sessions just ended.

Both are plain data structures behind a lock; the caller passes the time, so
tests drive them with any clock.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import OrderedDict

from ..connections import SocketRef
from .control import EXPIRED


class ExpiryQueue:
    """When each socket must end, and why: one heap for the whole instance.

    A timer per socket would cost a greenlet or thread each; the heap costs a
    tuple. :meth:`cancel` and re-:meth:`schedule` leave stale heap entries
    behind (removing from the middle of a heap is O(n)); they are skipped when
    popped and compacted away once they outnumber the live ones.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heap: list[tuple[float, int, SocketRef]] = []
        self._entries: dict[SocketRef, tuple[float, str]] = {}
        self._order = itertools.count()

    def schedule(self, ref: SocketRef, deadline: float, reason: str = EXPIRED) -> None:
        """End ``ref`` at ``deadline`` with ``reason`` (replacing an earlier schedule)."""
        with self._lock:
            self._entries[ref] = (deadline, reason)
            heapq.heappush(self._heap, (deadline, next(self._order), ref))
            if len(self._heap) > 2 * len(self._entries) + 64:
                self._compact()

    def cancel(self, ref: SocketRef) -> None:
        with self._lock:
            self._entries.pop(ref, None)

    def entry(self, ref: SocketRef) -> tuple[float, str] | None:
        """``(deadline, reason)`` scheduled for ``ref``, if any."""
        return self._entries.get(ref)

    def pop_due(self, now: float) -> list[tuple[SocketRef, str]]:
        """Remove and return ``(ref, reason)`` of every socket due at ``now``, earliest first."""
        due = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                deadline, _, ref = heapq.heappop(self._heap)
                entry = self._entries.get(ref)
                if entry is not None and entry[0] == deadline:
                    del self._entries[ref]
                    due.append((ref, entry[1]))
        return due

    def next_deadline(self) -> float | None:
        """The earliest deadline still scheduled, or ``None``."""
        with self._lock:
            while self._heap:
                deadline, _, ref = self._heap[0]
                entry = self._entries.get(ref)
                if entry is not None and entry[0] == deadline:
                    return deadline
                heapq.heappop(self._heap)
            return None

    def _compact(self) -> None:
        self._heap = [(deadline, next(self._order), ref) for ref, (deadline, _) in self._entries.items()]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._entries)


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
