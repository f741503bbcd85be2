"""The baseline with ``realtime``'s performance options and nothing else: the floor.

Same events, same gunicorn command and no authentication, as in
:mod:`bench.baseline_app`, plus :func:`realtime.perf.install` with its
defaults (no permessage-deflate on Socket.IO upgrades, the managed session
reused in events, lazily built URL adapters) and the start-up heap frozen out
of the garbage collector's walks. What it measures is the best
the safe options reach on this stack with no authentication at all, so
"app ÷ tuned" is what authentication and ``realtime``'s bookkeeping cost,
and "tuned ÷ baseline" is how far the options alone go.
"""

from __future__ import annotations

from bench.baseline_app import create_app
from realtime import perf

app, socketio = create_app()
perf.install(app, socketio, {})
# The app gets this from gunicorn.conf.py's worker hook; the floor gets it at
# import, which happens in the worker too, before it serves.
perf.freeze_startup_heap([app])
