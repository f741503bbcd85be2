"""gunicorn settings of the Procfile's web process: graceful shutdown, and log lines that keep secrets out.

The Procfile passes ``--config gunicorn.conf.py``; its command-line flags
(worker class, ``-w 1``, ...) win over anything set here.

This file runs in gunicorn's master process before a worker patches the
standard library (eventlet, gevent), so it imports neither Flask nor
``realtime`` at module level: ``wsgi.py`` must be the first to import them.
"""

import json
import logging
import os
import re
import time

from gunicorn.glogging import Logger


def post_worker_init(worker):
    """In each worker, once the app is loaded: drain sockets on SIGTERM; keep start-up objects out of GC walks."""
    from realtime.perf import freeze_startup_heap
    from realtime.shutdown import gunicorn_post_worker_init, loaded_apps

    gunicorn_post_worker_init(worker)
    freeze_startup_heap(loaded_apps())  # REALTIME_GC_FREEZE


# gunicorn 25's control socket (for gunicornc) is not used here, and stopping
# it delays the SIGTERM that the master forwards to the worker by ~3 s, which
# the worker would spend still accepting sockets. (Older gunicorn ignores this.)
control_socket_disable = True

# The access log leaves out query strings: Engine.IO's polling URLs carry the
# connection's sid, and whoever reads it can act as that connection.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'

#: ``sid=...`` in a URL that gunicorn writes into an error line ("Error handling request /socket.io/?...").
_SID_PARAMETER = re.compile(r"(\bsid=)[^&\s\"']+")


def _redact(text):
    return _SID_PARAMETER.sub(r"\1[redacted]", text)


class _RedactSids(logging.Filter):
    def filter(self, record):
        message = record.getMessage()
        cleaned = _redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class _JsonLines(logging.Formatter):
    """gunicorn's records as JSON lines shaped like the app's (``realtime.logs.JsonFormatter``)."""

    def format(self, record):
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}+00:00",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "http", {}))
        if record.exc_info:
            entry["exc"] = _redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class RealtimeLogger(Logger):
    """gunicorn's logger, with sids redacted and, with ``REALTIME_LOG_FORMAT=json``, JSON lines."""

    json_lines = os.environ.get("REALTIME_LOG_FORMAT", "text").strip().lower() == "json"

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(_RedactSids())
                if self.json_lines:
                    handler.setFormatter(_JsonLines())

    def access(self, resp, req, environ, request_time):
        if not self.json_lines:
            return super().access(resp, req, environ, request_time)
        if not self.cfg.accesslog:
            return None
        atoms = self.atoms(resp, req, environ, request_time)
        http = {
            "remote_addr": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "status": atoms["s"],
            "bytes": atoms["B"],
            "duration_ms": atoms["M"],
            "user_agent": atoms["a"],
        }
        self.access_log.info("%s %s %s", atoms["m"], atoms["U"], atoms["s"], extra={"http": http})
        return None


logger_class = RealtimeLogger
