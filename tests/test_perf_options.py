"""The performance options in ``realtime.perf``: same behaviour, less work.

Each option is checked for what a user can observe: what a real server
answers to a websocket upgrade, what Socket.IO handlers see in ``session`` and
``url_for``, what HTTP requests and cookies look like, and that each option
can be switched off by configuration.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import time

import pytest
from flask import Flask, current_app, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_socketio import SocketIO
from werkzeug.exceptions import NotFound

from realtime import perf
from tests.support.live import SERVER_ENVIRON_ID, stamp_server_environ

SECRET = "perf-test-secret-" + "s" * 32


# -- helpers --------------------------------------------------------------------


def bare_app(**config) -> tuple[Flask, SocketIO]:
    """A small Flask-SocketIO app (threading mode) with the options installed from ``config``."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TESTING=True, **config)
    socketio = SocketIO(app, async_mode="threading", manage_session=True)
    seen: list[dict] = []
    app.extensions["seen"] = seen

    @app.get("/login/<uid>")
    def login(uid: str) -> str:
        session["uid"] = uid
        return "ok"

    @app.get("/whoami")
    def whoami() -> str:
        return session.get("uid", "nobody")

    @socketio.on("connect")
    def on_connect(auth=None) -> None:
        session["seen_at_connect"] = True

    @socketio.on("probe")
    def on_probe(_data=None) -> dict:
        seen.append(
            {
                "session": dict(session),
                "url_rule": request.url_rule,
                "routing_exception": type(request.routing_exception).__name__,
                "whoami_url": url_for("whoami"),
                "external": url_for("whoami", _external=True),
            }
        )
        return {"ok": True}

    @socketio.on("environ_facts")
    def environ_facts(_data=None) -> dict:
        return {
            "flask_app": request.environ.get("flask.app") is current_app._get_current_object(),
            "servers_own": request.environ.get(SERVER_ENVIRON_ID) == id(request.environ),
        }

    perf.install(app, socketio, app.config)
    return app, socketio


def connected_client(app: Flask, socketio: SocketIO, uid: str = "ada"):
    http = app.test_client()
    assert http.get(f"/login/{uid}").status_code == 200
    client = socketio.test_client(app, flask_test_client=http)
    assert client.is_connected()
    return client


def handshake(port: int, extensions: str, path: str = "/socket.io/?EIO=4&transport=websocket") -> str:
    """Send a websocket upgrade offering ``extensions``; return the response head."""
    key = base64.b64encode(os.urandom(16)).decode()
    request_head = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Extensions: {extensions}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request_head.encode())
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    return head.split(b"\r\n\r\n", 1)[0].decode("latin-1")


# -- permessage-deflate -----------------------------------------------------------


@pytest.mark.parametrize(
    ("offer", "forwarded"),
    [
        ("permessage-deflate; client_max_window_bits", None),
        ("permessage-deflate, permessage-deflate; server_no_context_takeover", None),
        ("permessage-deflate; client_max_window_bits, x-custom; a=1", "x-custom; a=1"),
        ("x-custom", "x-custom"),
    ],
)
def test_socketio_upgrade_loses_only_the_deflate_offer(offer, forwarded):
    seen = {}

    def inner(environ, start_response):
        seen.update(environ)
        return [b""]

    middleware = perf.RefuseWebSocketCompression(inner, "/socket.io/")
    middleware({"PATH_INFO": "/socket.io/", "HTTP_SEC_WEBSOCKET_EXTENSIONS": offer}, None)
    assert seen.get("HTTP_SEC_WEBSOCKET_EXTENSIONS") == forwarded


def test_other_paths_keep_their_extensions():
    seen = {}

    def inner(environ, start_response):
        seen.update(environ)
        return [b""]

    middleware = perf.RefuseWebSocketCompression(inner, "/socket.io/")
    offer = "permessage-deflate"
    middleware({"PATH_INFO": "/other-websocket", "HTTP_SEC_WEBSOCKET_EXTENSIONS": offer}, None)
    assert seen["HTTP_SEC_WEBSOCKET_EXTENSIONS"] == offer


@pytest.mark.parametrize(("compression", "negotiated"), [(False, False), (True, True)])
def test_real_server_negotiates_deflate_only_when_configured(serve, compression, negotiated):
    app, _ = bare_app(REALTIME_WEBSOCKET_COMPRESSION=compression)
    server = serve(app)
    head = handshake(server.port, "permessage-deflate; client_max_window_bits")
    assert head.startswith("HTTP/1.1 101"), head
    assert ("permessage-deflate" in head.lower()) is negotiated, head


def test_reference_app_refuses_deflate_by_default(make_app, serve):
    app = make_app()
    server = serve(app)
    head = handshake(server.port, "permessage-deflate; client_max_window_bits")
    # The upgrade itself is answered (the socket is refused later, at CONNECT,
    # for want of a session); what matters here is the extension list.
    assert "permessage-deflate" not in head.lower(), head


# -- the handshake environ ------------------------------------------------------


@pytest.mark.parametrize(
    ("shared", "transports"), [(True, ["websocket"]), (True, ["polling"]), (False, ["websocket"]), (False, ["polling"])]
)
def test_handlers_see_the_servers_own_environ_with_flask_app_in_it(serve, shared, transports):
    from tests.support.procs import connect, hang_up

    app, socketio = bare_app(REALTIME_SHARED_ENVIRON=shared)
    assert isinstance(socketio.sockio_mw, perf.SocketIOMiddleware) is shared
    # Flask-SocketIO's run() inserts its debug middleware in front of Flask through this attribute.
    assert socketio.sockio_mw.wsgi_app.__func__ is Flask.wsgi_app
    stamp_server_environ(app)
    server = serve(app)
    client = connect(server.url, transports=transports)
    try:
        assert client.call("environ_facts", timeout=5) == {"flask_app": True, "servers_own": shared}
    finally:
        hang_up(client)
    http = app.test_client()
    assert http.get("/login/ada").status_code == 200
    assert http.get("/whoami").get_data(as_text=True) == "ada"
    assert http.get("/nowhere").status_code == 404


def test_a_wrapped_socketio_middleware_is_left_alone_with_a_log_line(caplog):
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = Flask(__name__)
    app.config["SECRET_KEY"] = SECRET
    socketio = SocketIO(app, async_mode="threading")
    original = socketio.sockio_mw
    app.wsgi_app = ProxyFix(app.wsgi_app)
    with caplog.at_level(logging.INFO, logger="realtime.perf"):
        installed = perf.install(app, socketio, {})
    assert "REALTIME_SHARED_ENVIRON" not in installed
    assert socketio.sockio_mw is original
    assert "each websocket keeps two copies of its environ" in caplog.text
    assert "REALTIME_SHARED_ENVIRON" not in perf.install(app, socketio, {})
    assert caplog.text.count("each websocket keeps two copies of its environ") == 1


def test_the_shared_environ_is_installed_once():
    app, socketio = bare_app()
    middleware = socketio.sockio_mw
    assert "REALTIME_SHARED_ENVIRON" in perf.install(app, socketio, {})
    assert socketio.sockio_mw is middleware


# -- the managed session --------------------------------------------------------


def test_events_see_the_connect_time_session():
    app, socketio = bare_app()
    client = connected_client(app, socketio, "ada")
    client.emit("probe", callback=True)
    client.emit("probe", callback=True)
    seen = app.extensions["seen"]
    assert [s["session"] for s in seen] == [{"uid": "ada", "seen_at_connect": True}] * 2
    client.disconnect()


def test_saved_session_is_returned_without_reading_the_cookie():
    app, _ = bare_app()
    interface = app.session_interface
    assert isinstance(interface, perf.SocketSessionInterface)
    saved = {"uid": "ada"}
    from flask_socketio import _ManagedSession

    managed = _ManagedSession(saved)
    # A cookie no key signed: verifying it would give an empty session.
    environ_extra = {"HTTP_COOKIE": "session=forged.cookie.value", perf.SAVED_SESSION_KEY: managed}
    with app.test_request_context("/socket.io/", environ_base=environ_extra):
        assert interface.open_session(app, request) is managed


def test_http_requests_still_verify_the_cookie():
    app, _ = bare_app()
    http = app.test_client()
    http.get("/login/ada")
    assert http.get("/whoami").text == "ada"
    forged = app.test_client()
    forged.set_cookie("session", "eyJ1aWQiOiJldmUifQ.forged.signature")
    assert forged.get("/whoami").text == "nobody"


def test_the_signing_serializer_is_reused_until_the_keys_change():
    app, _ = bare_app()
    http = app.test_client()
    http.get("/login/ada")
    interface = app.session_interface
    first = interface.get_signing_serializer(app)
    assert http.get("/whoami").text == "ada"
    assert interface.get_signing_serializer(app) is first

    # A key rotated at run time applies to the next request: the old key
    # still reads the cookie while it is a fallback, and no longer after.
    app.secret_key = "a-new-secret-key-of-sufficient-length"
    app.config["SECRET_KEY_FALLBACKS"] = [SECRET]
    assert interface.get_signing_serializer(app) is not first
    assert http.get("/whoami").text == "ada"
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert http.get("/whoami").text == "nobody"
    http.get("/login/bob")
    assert http.get("/whoami").text == "bob"


def test_cookie_format_is_flasks_own():
    app, _ = bare_app()
    http = app.test_client()
    http.get("/login/ada")
    cookie = http.get_cookie("session").value
    plain = Flask(__name__)
    plain.secret_key = SECRET
    serializer = SecureCookieSessionInterface().get_signing_serializer(plain)
    assert serializer.loads(cookie) == {"uid": "ada"}


def test_session_reuse_can_be_switched_off():
    app, _ = bare_app(REALTIME_REUSE_SOCKET_SESSION=False)
    assert type(app.session_interface) is SecureCookieSessionInterface


def test_a_custom_session_interface_is_left_alone():
    class ServerSide(SecureCookieSessionInterface):
        pass

    app = Flask(__name__)
    app.secret_key = SECRET
    app.session_interface = ServerSide()
    assert perf.install_socket_session_interface(app) is False
    assert type(app.session_interface) is ServerSide


# -- URL adapter ------------------------------------------------------------------


def test_url_for_and_routing_state_in_events_are_unchanged():
    results = []
    for lazy in (False, True):
        app, socketio = bare_app(REALTIME_LAZY_URL_ADAPTER=lazy)
        client = connected_client(app, socketio)
        client.emit("probe", callback=True)
        client.emit("probe", callback=True)
        seen = app.extensions["seen"]
        assert len(seen) == 2
        results.append([{k: v for k, v in s.items() if k != "session"} for s in seen])
        client.disconnect()
    assert results[0] == results[1]
    first = results[1][0]
    assert first["url_rule"] is None
    assert first["routing_exception"] == "NotFound"
    assert first["whoami_url"] == "/whoami"
    assert first["external"] == "http://localhost/whoami"


def test_lazy_adapter_builds_the_real_one_only_when_needed():
    built = []

    class Real:
        def match(self, return_rule=False):
            raise NotFound()

        def build(self, endpoint, **values):
            return f"/{endpoint}"

    def build_real():
        built.append(1)
        return Real()

    not_found: set = set()
    first = perf.LazyURLAdapter(build_real, not_found, ("/socket.io/", "GET"))
    with pytest.raises(NotFound):
        first.match(return_rule=True)
    assert len(built) == 1
    second = perf.LazyURLAdapter(build_real, not_found, ("/socket.io/", "GET"))
    with pytest.raises(NotFound):
        second.match(return_rule=True)
    assert len(built) == 1, "the remembered NotFound needs no adapter"
    assert second.build("whoami") == "/whoami"
    assert len(built) == 2


def test_http_routing_is_untouched():
    app, _ = bare_app()
    http = app.test_client()
    assert http.get("/login/ada").status_code == 200
    assert http.get("/no-such-page").status_code == 404


@pytest.mark.parametrize("release", [True, False])
def test_event_request_contexts_are_freed_without_the_garbage_collector(release):
    import gc
    import weakref

    app, socketio = bare_app(REALTIME_RELEASE_ROUTING_TRACEBACKS=release)
    requests_seen: list[weakref.ref] = []

    @socketio.on("capture")
    def capture(_data=None) -> None:
        assert isinstance(request.routing_exception, NotFound)  # still there while the handler runs
        requests_seen.append(weakref.ref(request._get_current_object()))

    client = connected_client(app, socketio)
    gc.collect()
    gc.disable()
    try:
        client.emit("capture")
        assert len(requests_seen) == 1
        # With the option, reference counting frees the event's request at
        # once; without it, a cycle through the NotFound's traceback keeps it
        # until the cyclic collector runs.
        assert (requests_seen[0]() is None) is release
        gc.collect()
        assert requests_seen[0]() is None
    finally:
        gc.enable()
        client.disconnect()


def test_http_requests_keep_their_routing_tracebacks():
    app, _ = bare_app()
    seen = []

    @app.teardown_request
    def look(exc=None) -> None:
        seen.append(request.routing_exception and request.routing_exception.__traceback__)

    assert app.test_client().get("/no-such-page").status_code == 404
    assert seen and seen[0] is not None


# -- calls without C levels, the shared socket input ---------------------------------


def test_direct_call_gives_objects_as_bound_methods_and_leaves_functions():
    app, _ = bare_app()
    assert perf.direct_call(app) == app.__call__
    assert perf.direct_call(app.wsgi_app) is app.wsgi_app

    def plain(environ, start_response):
        return []

    assert perf.direct_call(plain) is plain
    builtin = len  # no Python __call__ to bind: left as it is
    assert perf.direct_call(builtin) is builtin


def _upgrade_environ(path: str = "/socket.io/", **extra) -> dict:
    return {
        "PATH_INFO": path,
        "QUERY_STRING": "EIO=4&transport=websocket",
        "HTTP_UPGRADE": "websocket",
        "gunicorn.socket": object(),
        **extra,
    }


def test_shared_socket_input_hands_over_the_socket_and_puts_it_back():
    seen = {}

    def inner(environ, start_response):
        seen.update(environ)
        return []

    middleware = perf.ShareSocketInput(inner, "/socket.io/")
    environ = _upgrade_environ()
    sock = environ["gunicorn.socket"]
    middleware(environ, None)
    assert "gunicorn.socket" not in seen  # what engineio keys its per-request class on
    assert isinstance(seen["eventlet.input"], perf.SocketInput) and seen["eventlet.input"].get_socket() is sock
    perf.restore_gunicorn_socket(environ)
    assert environ["gunicorn.socket"] is sock


@pytest.mark.parametrize(
    "environ",
    [
        _upgrade_environ(HTTP_UPGRADE=""),  # long-polling
        _upgrade_environ(path="/chat"),  # not Socket.IO
        _upgrade_environ(**{"eventlet.input": "eventlet's own"}),  # eventlet.wsgi, not gunicorn
        {"PATH_INFO": "/socket.io/", "HTTP_UPGRADE": "websocket"},  # no gunicorn socket
    ],
)
def test_shared_socket_input_leaves_other_requests_alone(environ):
    before = dict(environ)
    perf.ShareSocketInput(lambda environ, start_response: [], "/socket.io/")(environ, None)
    assert environ == before
    perf.restore_gunicorn_socket(environ)
    assert environ == before


def test_shared_socket_input_is_only_for_eventlet():
    app, socketio = bare_app()  # threading mode
    assert socketio.async_mode == "threading"
    assert "REALTIME_SHARED_SOCKET_INPUT" not in perf.install(app, socketio, app.config)


def test_lazy_adapter_can_be_switched_off():
    app, _ = bare_app(REALTIME_LAZY_URL_ADAPTER=False)
    assert not isinstance(app.create_url_adapter, perf.LazySocketURLAdapters)


def test_reference_app_installs_every_option_by_default(make_app):
    app = make_app()
    assert isinstance(app.session_interface, perf.SocketSessionInterface)
    assert isinstance(app.create_url_adapter, perf.LazySocketURLAdapters)
    assert any(isinstance(f, perf.RoutingTracebackRelease) for f in app.teardown_request_funcs[None])
    assert isinstance(app.extensions["realtime"].socketio.sockio_mw, perf.SocketIOMiddleware)
    assert app.config["REALTIME_WEBSOCKET_COMPRESSION"] is False


def test_options_read_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("REALTIME_REUSE_SOCKET_SESSION", "0")
    monkeypatch.setenv("REALTIME_LAZY_URL_ADAPTER", "false")
    app = make_app()
    assert type(app.session_interface) is SecureCookieSessionInterface
    assert not isinstance(app.create_url_adapter, perf.LazySocketURLAdapters)


# -- session lookup in a task ---------------------------------------------------


@pytest.mark.parametrize("in_task", [True, False])
def test_session_lookup_runs_in_its_own_task_with_the_same_outcome(make_app, serve, in_task):
    import threading

    from realtime.errors import StoreError
    from tests.support.procs import Browser, Refused, connect, hang_up

    app = make_app(REALTIME_SESSION_LOOKUP_IN_TASK=in_task)
    app.extensions["realtime.users"].set_password("alice", "alice-pw")
    state = app.extensions["realtime"]
    threads: dict[str, int] = {}
    real_get = state.store.get
    failing = threading.Event()

    def recording_get(sid):
        threads["lookup"] = threading.get_ident()
        if failing.is_set():
            raise StoreError("store down (test)")
        return real_get(sid)

    state.store.get = recording_get
    state.extension.on_connect(lambda identity: threads.__setitem__("handler", threading.get_ident()))
    live = serve(app)
    browser = Browser(live.url)
    browser.login("alice", "alice-pw")
    client = connect(live.url, browser.cookie_header)
    try:
        assert client.call("echo", {"ok": 1}, timeout=5) == {"ok": 1}
    finally:
        hang_up(client)
    assert (threads["lookup"] != threads["handler"]) is in_task
    failing.set()
    with pytest.raises(Refused) as refused:
        connect(live.url, browser.cookie_header)
    assert refused.value.reason == "unavailable"


def test_call_in_task_returns_the_result_and_reraises_the_same_exception():
    _, socketio = bare_app()
    assert perf.call_in_task(socketio, lambda a, b: a + b, 2, 3) == 5
    error = ValueError("from the task")

    def fail():
        raise error

    with pytest.raises(ValueError) as info:
        perf.call_in_task(socketio, fail)
    assert info.value is error


# -- start-up heap out of the garbage collector's walks ---------------------------


@pytest.fixture
def unfrozen():
    import gc

    gc.unfreeze()
    yield
    gc.unfreeze()  # never leave this test process frozen


def test_freeze_moves_startup_objects_out_of_the_collectors_walks(unfrozen):
    import gc

    app, _ = bare_app()
    assert perf.freeze_startup_heap([app]) is True
    assert gc.get_freeze_count() > 1000


def test_freeze_can_be_switched_off(unfrozen):
    import gc

    app, _ = bare_app(REALTIME_GC_FREEZE=False)
    assert perf.freeze_startup_heap([app]) is False
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(("setting", "frozen"), [(None, True), ("false", False)])
def test_the_procfile_worker_freezes_after_loading_the_app(e2e_env, setting, frozen):
    from tests.support.hardening import running

    env = e2e_env() if setting is None else e2e_env(REALTIME_GC_FREEZE=setting)
    with running(env) as proc:
        assert proc.url
    assert ("start-up objects frozen out of its walks" in proc.output()) is frozen


@pytest.mark.parametrize(
    ("settings", "input_class", "servers_own"),
    [
        ({}, "SocketInput", True),
        ({"REALTIME_SHARED_SOCKET_INPUT": "false"}, "WSGIApp.__call__.<locals>.Input", True),
        ({"REALTIME_SHARED_ENVIRON": "false"}, "SocketInput", False),
    ],
)
def test_procfile_worker_handlers_see_the_same_environ_with_the_shared_input(
    e2e_env, settings, input_class, servers_own
):
    from tests.support.live import live_command, login
    from tests.support.procs import AppProcess, connect, hang_up

    env = e2e_env(**settings)
    with AppProcess(env, command=live_command()) as proc:
        cookie = {"Cookie": f"session={login(proc).cookie}"}
        for transports in (["websocket"], ["polling", "websocket"]):
            client = connect(proc.url, headers=cookie, transports=transports)
            try:
                deadline = time.monotonic() + 5
                while client.transport() != "websocket" and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert client.transport() == "websocket"
                facts = client.call("_test_environ", timeout=5)
            finally:
                hang_up(client)
            # Handlers see gunicorn's socket under both keys, as without the option.
            assert facts["gunicorn_socket"] and facts["same_socket"], (transports, facts)
            # ... and gunicorn's own environ (not Flask-SocketIO's copy of it), with flask.app in it.
            assert facts["flask_app"] and facts["servers_own"] is servers_own, (transports, facts)
            if transports == ["websocket"]:
                # The environ of a websocket from the start no longer keeps a class of its own.
                assert facts["eventlet_input"] == input_class
