"""Signals (blinker, as Flask's own) for what happens to sockets and sessions.

Metrics, audit logs, presence and the live-session machinery subscribe here
instead of wrapping the guard. Receivers get the app as sender.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A socket passed the guard: ``identity``, ``ref`` (sid, namespace).
socket_connected = _signals.signal("realtime.socket-connected")
#: A socket was refused: ``reason`` (the code the client sees), ``remote_addr``.
socket_refused = _signals.signal("realtime.socket-refused")
#: An authenticated socket left: ``identity``, ``ref``, ``reason``.
socket_disconnected = _signals.signal("realtime.socket-disconnected")
#: Sessions were ended by the server: ``sids`` (may be empty for ``uid``), ``uid``, ``reason``.
sessions_ended = _signals.signal("realtime.sessions-ended")
#: The connect guard decided about a socket: ``outcome`` (``"accepted"`` or ``"refused"``),
#: ``reason`` (the refusal code the client sees, ``"ok"`` when accepted) and ``seconds``
#: the decision took (gates, the session read, connect hooks). Sent for every attempt.
connect_checked = _signals.signal("realtime.connect-checked")
#: A session store request failed: ``operation`` (``"connect"``, ``"http_session"``, ...).
store_failed = _signals.signal("realtime.store-failed")
#: A message on the control channel was dropped: ``reason`` (``"unsigned"``, ``"bad_signature"``,
#: ``"malformed"``, ``"stale"`` or ``"replayed"``; see :mod:`realtime.live.signing`).
control_message_dropped = _signals.signal("realtime.control-message-dropped")
