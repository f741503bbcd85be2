"""Configuration keys, their defaults, reading them from the environment, and checking their types.

Every key can be set in ``app.config`` (which wins) or as an environment
variable of the same name. :func:`load_environ` is pure: it takes the
environment as a mapping, so it is tested without touching ``os.environ``.
:func:`settle` fills an app's config from both and :func:`validate` refuses
values of the wrong type at startup, naming the key and the fix.
"""

from __future__ import annotations

import logging
import math
import typing as t
from collections.abc import Mapping, MutableMapping

from .errors import ConfigError

logger = logging.getLogger(__name__)

#: Documented defaults. The README's configuration table mirrors this mapping.
DEFAULTS: dict[str, t.Any] = {
    # Flask's own keys, read like every other key (app.config, then the
    # environment). SECRET_KEY signs the cookie and the control messages; the
    # fallbacks are old keys still accepted during a rotation: a list in
    # app.config, comma-separated in the environment.
    "SECRET_KEY": None,
    "SECRET_KEY_FALLBACKS": [],
    # "production" (default) or "development". Development allows a generated
    # SECRET_KEY (kept in the instance folder) and cookies without ``Secure``.
    "REALTIME_ENV": "production",
    # ArangoDB. Without ARANGO_URL the embedded SQLite store is used.
    "ARANGO_URL": None,
    "ARANGO_DB": "realtime",
    "ARANGO_USERNAME": "root",
    "ARANGO_PASSWORD": "",
    # Seconds before a database request gives up, so a slow database cannot
    # hang a worker; a connect is refused with "Session store unavailable".
    # The lean client holds the whole request to it, not each read.
    "ARANGO_TIMEOUT": 2.0,
    # Verify TLS certificates of an https:// ARANGO_URL (path to a CA bundle
    # is also accepted).
    "ARANGO_VERIFY": True,
    # How python-arango talks HTTP: "lean" (kept-alive sockets, about a fifth
    # of the CPU per request) or "requests" (python-arango's own client).
    "ARANGO_HTTP_CLIENT": "lean",
    "REALTIME_SESSION_COLLECTION": "sessions",
    # Lifetime of a logged-in session record, and of an anonymous one (those
    # are created for every visitor, so they are short-lived).
    "REALTIME_SESSION_LIFETIME": 14 * 24 * 3600,
    "REALTIME_ANONYMOUS_LIFETIME": 3600,
    # Give page visits a session id, and write an anonymous record for a
    # browser that comes back with it (realtime/anonymous.py) ...
    "REALTIME_ANONYMOUS_SESSIONS": True,
    # ... at most this many records per client address and minute.
    "REALTIME_ANONYMOUS_RATE": 30,
    # The SQLite file of the embedded store, relative to the instance folder.
    "REALTIME_EMBEDDED_DB": "realtime.sqlite3",
    # Flask-SocketIO async mode; None picks eventlet under the eventlet worker.
    "REALTIME_ASYNC_MODE": None,
    # Largest Socket.IO message accepted, in bytes (Engine.IO default: 1 MB).
    "REALTIME_MAX_MESSAGE_BYTES": 64 * 1024,
    # Seconds a request has to deliver its body (form posts, long-polling
    # POSTs); a late one is answered 408 and its connection closed, so a
    # client that never sends the body it announced cannot hold a connection.
    "REALTIME_BODY_TIMEOUT": 10.0,
    # Performance options (realtime/perf.py, README "Performance"). Accept
    # permessage-deflate on Socket.IO websockets (about 90 KiB more per socket).
    "REALTIME_WEBSOCKET_COMPRESSION": False,
    # Under gunicorn + eventlet, hand websockets their socket in one shared
    # wrapper class, not a class engineio defines per request (about 2.5 KiB
    # per socket).
    "REALTIME_SHARED_SOCKET_INPUT": True,
    # Flask-SocketIO's middleware adds flask.app to the environ it is given
    # instead of to a copy, so a websocket keeps one environ dict, not two.
    "REALTIME_SHARED_ENVIRON": True,
    # Socket.IO events reuse the session copy made at connect instead of
    # verifying the cookie again; and build the URL adapter only for url_for.
    "REALTIME_REUSE_SOCKET_SESSION": True,
    "REALTIME_LAZY_URL_ADAPTER": True,
    # Drop the traceback of the routing NotFound a Socket.IO request context
    # keeps, which ties each context into a cycle only the GC can free.
    "REALTIME_RELEASE_ROUTING_TRACEBACKS": True,
    # Run the connect's session lookup in a short-lived task, so the socket's
    # long-lived reader keeps a shallow stack (about 4 KiB less per socket).
    "REALTIME_SESSION_LOOKUP_IN_TASK": True,
    # The user:/session: rooms are answered from the registry of live sockets
    # instead of python-socketio room entries (about 1 KiB less per socket
    # with a session and user of its own; cheaper connects and disconnects).
    "REALTIME_REGISTRY_ROOMS": True,
    # Rooms one socket may be in (its own and the user:/session: rooms do not
    # count); a join beyond is refused (TooManyRooms). Each room costs memory
    # while the socket stays, and its disconnect walks them all. 0: no cap.
    "REALTIME_MAX_ROOMS_PER_SOCKET": 100,
    # HTML responses get X-Frame-Options: DENY and Content-Security-Policy:
    # frame-ancestors 'none' (unless the app sets its own), so no other site
    # can frame the app's pages (clickjacking).
    "REALTIME_DENY_FRAMING": True,
    # Once the worker has loaded the app (gunicorn.conf.py), take the objects
    # alive at that moment out of the garbage collector's walks (gc.freeze):
    # less CPU per event and per fan-out delivery.
    "REALTIME_GC_FREEZE": True,
    # Operations (README "Operations"). Prometheus metrics of this process at
    # this path; "" turns the endpoint off. With a token set, a scrape must
    # send "Authorization: Bearer <token>".
    "REALTIME_METRICS_PATH": "/metrics",
    "REALTIME_METRICS_TOKEN": None,
    # Log lines on stderr: "text" or "json" (one object per line, with the
    # record's extras such as tags and reason; never a cookie or session id).
    "REALTIME_LOG_FORMAT": "text",
    # On SIGTERM, connected sockets are told to reconnect at moments spread
    # over this many seconds (no thundering herd on the other instances).
    # Must end inside gunicorn's --graceful-timeout (the PaaS kills at 30 s).
    "REALTIME_SHUTDOWN_JITTER": 10.0,
    # With Flask-Login installed, login_user/logout_user start and end
    # session records, and current_user follows the record.
    "REALTIME_FLASK_LOGIN": True,
    # Origins (scheme://host[:port], comma-separated) whose pages may open
    # sockets besides the app's own. "*" is refused: any website could then
    # open sockets with its visitors' cookies. See README "Security".
    "REALTIME_ALLOWED_ORIGINS": "",
    # Count X-Forwarded-Proto/-Host as the app's own origin (behind a TLS
    # proxy). Pages cannot set these headers, so this lets no site in.
    "REALTIME_TRUST_FORWARDED_ORIGIN": True,
    # Let sockets without an Origin header (non-browser clients) reach the
    # session check. Off: they are refused with "Origin header required".
    "REALTIME_ALLOW_MISSING_ORIGIN": True,
    # Refused connects allowed per client address in a burst, refilled over
    # REALTIME_RATE_LIMIT_WINDOW seconds; beyond that, "Too many attempts"
    # without a database request. 0 turns the limit off. Valid sessions never
    # count; store failures do (slowing the database must not switch it off).
    "REALTIME_RATE_LIMIT": 100,
    "REALTIME_RATE_LIMIT_WINDOW": 60.0,
    # Proxies in front that append the client address to X-Forwarded-For
    # (Heroku: 1). 0 trusts no such header: the peer address is the client.
    "REALTIME_TRUSTED_PROXIES": 0,
    # Seconds an Engine.IO session may stay without an accepted Socket.IO
    # connect on any namespace before it is closed (node: connectTimeout). A
    # refused session is closed as soon as its refusal has reached it.
    "REALTIME_CONNECT_TIMEOUT": 10.0,
    # Such sessions one client address (as REALTIME_TRUSTED_PROXIES decides
    # it) may hold at once; more handshakes get 429. 0 turns the cap off.
    "REALTIME_MAX_UNAUTHENTICATED_PER_ADDRESS": 50,
    # Request headers (comma-separated names) a socket keeps from its
    # handshake for handlers, besides Cookie, Host, Origin, User-Agent,
    # Accept-Language, Authorization and the forwarding headers.
    "REALTIME_HANDSHAKE_HEADERS": "",
    # /healthz and /readyz. /readyz answers from the last probe, run every
    # REALTIME_HEALTH_INTERVAL s; a probe running longer than
    # REALTIME_HEALTH_TIMEOUT s counts as failing.
    "REALTIME_HEALTH_ENDPOINTS": True,
    "REALTIME_HEALTH_INTERVAL": 5.0,
    "REALTIME_HEALTH_TIMEOUT": 1.0,
    # Message queue between instances: REALTIME_MESSAGE_QUEUE, else REDIS_URL.
    "REALTIME_MESSAGE_QUEUE": None,
    "REDIS_URL": None,
    # Redis pub/sub channel of the Socket.IO queue (Flask-SocketIO's default);
    # every instance and Emitter must agree. Revocations travel on
    # "<channel>:realtime-control". Pub/sub ignores the Redis db number, so
    # apps sharing a Redis need different channels.
    "REALTIME_CHANNEL": "flask-socketio",
    # rediss:// only: verify the server certificate. false for a provider's
    # self-signed certificate (e.g. Heroku Redis): still encrypted, not
    # authenticated. Better, when the provider publishes its CA: set
    # REALTIME_REDIS_CA_CERTS to that PEM file and keep verifying.
    "REALTIME_REDIS_SSL_VERIFY": True,
    "REALTIME_REDIS_CA_CERTS": None,
    # Seconds between batched re-reads of the records behind live sockets
    # (catches records deleted or stripped of their uid directly in the
    # database). 0 turns it off. A failing store never disconnects anyone.
    "REALTIME_REVALIDATE_INTERVAL": 30.0,
    # Extend a logged-in session's expires_at on HTTP activity (rewritten at
    # most once per 10% of REALTIME_SESSION_LIFETIME); live sockets follow.
    "REALTIME_SLIDING_SESSIONS": False,
    # The official Socket.IO JS client (v4) that the reference app's pages
    # load. To self-host it, point this at your copy of
    # socket.io-client/dist/socket.io.min.js.
    "REALTIME_SOCKETIO_CLIENT_URL": "https://cdn.socket.io/4.8.1/socket.io.min.js",
    # Its Subresource Integrity value ("sha384-..."). Unset: the pinned hash
    # when the URL is the default CDN build, no check for another URL. "" turns
    # the check off.
    "REALTIME_SOCKETIO_CLIENT_INTEGRITY": None,
}

_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off", ""}


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _BOOL_TRUE:
        return True
    if value in _BOOL_FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean. Use one of: 1, 0, true, false, yes, no.")


def parse_number(name: str, raw: str, kind: type = float) -> t.Any:
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number. Set it to a {kind.__name__}, e.g. {kind(2)}.") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative.")
    return value


#: Keys whose value is a boolean or, instead, a file path (a CA bundle).
_BOOL_OR_PATH = {"ARANGO_VERIFY"}


def coerce(name: str, raw: str, default: t.Any) -> t.Any:
    """Turn the string ``raw`` from the environment into the type of ``default``."""
    if name in _BOOL_OR_PATH and raw.strip().lower() not in _BOOL_TRUE | _BOOL_FALSE:
        return raw
    if isinstance(default, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    types = expected_types(name, default)
    if bool in types:
        return parse_bool(name, raw)
    if float in types:
        return parse_number(name, raw, float)
    if int in types:
        return parse_number(name, raw, int)
    return raw


def load_environ(environ: Mapping[str, str], defaults: Mapping[str, t.Any] = DEFAULTS) -> dict[str, t.Any]:
    """Return the keys of ``defaults`` that are set in ``environ``, typed like their defaults."""
    return {name: coerce(name, environ[name], default) for name, default in defaults.items() if name in environ}


#: Flask presets these to ``None``: there, ``None`` in ``app.config`` means "not set".
_FLASK_PRESET = ("SECRET_KEY", "SECRET_KEY_FALLBACKS")
#: Credentials: a disagreement between app.config and the environment is
#: worth a warning (it decides which cookies are valid), never their values.
_SECRETS = ("SECRET_KEY", "SECRET_KEY_FALLBACKS")


def settle(config: MutableMapping[str, t.Any], environ: Mapping[str, str]) -> None:
    """Give every key of :data:`DEFAULTS` a value in ``config``: its own, else the environment's, else the default.

    When a secret key is set in both places and they disagree, a warning
    says which one is used (``config``'s).
    """
    from_environ = load_environ(environ)
    for name, default in DEFAULTS.items():
        unset = name not in config or (name in _FLASK_PRESET and config[name] is None)
        if unset:
            config[name] = from_environ.get(name, default)
        elif name in _SECRETS and name in from_environ and _as_keys(config[name]) != _as_keys(from_environ[name]):
            logger.warning(
                "%s is set both in app.config and in the environment, to different values; app.config's is used"
                " and the environment's is ignored. Set it in one place.",
                name,
            )


def _as_keys(value: t.Any) -> t.Any:
    return list(value) if isinstance(value, (list, tuple)) else value


#: The types a key accepts where its default does not tell (``None``), or
#: where it takes more than one. ``None`` is always accepted for keys whose
#: default is ``None``.
_TYPES: dict[str, tuple[type, ...]] = {
    "SECRET_KEY": (str, bytes),
    # Durations in seconds: whole by default, fractions allowed.
    "REALTIME_SESSION_LIFETIME": (int, float),
    "REALTIME_ANONYMOUS_LIFETIME": (int, float),
    "ARANGO_VERIFY": (bool, str),
    "REALTIME_ALLOWED_ORIGINS": (str, list, tuple),
    "REALTIME_HANDSHAKE_HEADERS": (str, list, tuple),
}

_TYPE_NAMES = {
    bool: "True or False",
    int: "a whole number",
    float: "a number",
    str: "a string",
    bytes: "bytes",
    list: "a list",
    tuple: "a tuple",
}


def expected_types(name: str, default: t.Any) -> tuple[type, ...]:
    """What ``name`` accepts in ``app.config``, from :data:`_TYPES` or the type of its default."""
    if name in _TYPES:
        return _TYPES[name]
    if default is None or isinstance(default, str):
        return (str,)
    if isinstance(default, bool):
        return (bool,)
    if isinstance(default, int):
        return (int,)
    if isinstance(default, float):
        return (int, float)
    if isinstance(default, (list, tuple)):
        return (list, tuple)
    raise TypeError(f"DEFAULTS[{name!r}] has a type realtime.config cannot check: add it to _TYPES")


#: Durations for which 0 cannot work (a probe, a deadline); the modules that read them check too.
_SECONDS_ABOVE_ZERO = {
    "REALTIME_BODY_TIMEOUT",
    "REALTIME_CONNECT_TIMEOUT",
    "REALTIME_HEALTH_INTERVAL",
    "REALTIME_HEALTH_TIMEOUT",
}


def validate(config: Mapping[str, t.Any]) -> None:
    """Refuse, with a :class:`ConfigError` naming the key and the fix, values of the wrong type.

    A value that would work by accident is refused too: the string
    ``"false"`` is true in Python, and a string of keys where a list is
    expected makes each of its characters a key.
    """
    for name, default in DEFAULTS.items():
        value = config.get(name)
        if value is None and default is None:
            continue
        types = expected_types(name, default)
        # bool is an int in Python, but True is no lifetime and 1 no switch.
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise ConfigError(_wrong_type(name, value, types))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if name in _SECONDS_ABOVE_ZERO and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}={value!r} in app.config cannot work: set it to more than 0 seconds.")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name}={value!r} in app.config cannot work: set a finite number, not negative.")
    _validate_fallbacks(config.get("SECRET_KEY_FALLBACKS") or [])


def _wrong_type(name: str, value: t.Any, types: tuple[type, ...]) -> str:
    # A float key takes ints too; "a number" says both.
    wanted = " or ".join(_TYPE_NAMES[t_] for t_ in types if not (t_ is int and float in types))
    # Never echo a secret's value; other values help find the line that set them.
    kind = type(value).__name__
    if name in _SECRETS:
        shown = {"str": "a string", "bytes": "bytes"}.get(kind, f"of type {kind}")
    else:
        shown = f"{value!r} ({kind})"
    message = f"{name} in app.config is {shown}; it must be {wanted}."
    if name == "SECRET_KEY_FALLBACKS" and isinstance(value, (str, bytes)):
        message += (
            " Flask would use each character of a string as a signing key. Set a list of the old keys, e.g."
            ' app.config["SECRET_KEY_FALLBACKS"] = ["old-key"]; the comma-separated form is for the environment'
            " variable only."
        )
    elif types == (bool,) and isinstance(value, str):
        message += f" A string is always true in Python: set {name} = {value.strip().lower() in _BOOL_TRUE}."
    elif isinstance(value, str) and any(t_ in types for t_ in (int, float)):
        message += f" Set a number, e.g. {name} = {value.strip() or 0}, or put the string in the environment."
    return message


def _validate_fallbacks(keys: t.Any) -> None:
    for key in keys:
        if not isinstance(key, (str, bytes)) or not key:
            raise ConfigError(
                "SECRET_KEY_FALLBACKS has an entry that is not a non-empty string; each entry is one old SECRET_KEY"
                " (an empty key would let anyone sign cookies). Remove it."
            )


def message_queue_url(config: Mapping[str, t.Any]) -> str | None:
    """The message queue URL: ``REALTIME_MESSAGE_QUEUE`` wins over ``REDIS_URL``."""
    return config.get("REALTIME_MESSAGE_QUEUE") or config.get("REDIS_URL") or None


def is_development(config: Mapping[str, t.Any]) -> bool:
    env = str(config.get("REALTIME_ENV") or "production").lower()
    if env not in ("production", "development"):
        raise ConfigError(f"REALTIME_ENV={env!r} is not known. Use 'production' (the default) or 'development'.")
    return env == "development"
