"""Helpers shared by the hardening tests: cookies we sign ourselves, the server log, the stored sessions."""

from __future__ import annotations

import contextlib
import re
import typing as t

from arango import ArangoClient
from flask import Flask

from realtime.stores.arango.aql import LIST_SESSIONS
from tests.support.procs import AppProcess, Browser

#: An access-log line (``--access-logfile -``, any of the usual formats) whose status is a server error.
#: 503 is left out: it is how pages and ``/readyz`` deliberately answer while the store is down.
_SERVER_ERROR = re.compile(r'^.*\] "[A-Z]+ [^"]*" (50[0-24-9]|5[1-9]\d) .*$', re.MULTILINE)


def cookie_signer(secret_key: str, **config: t.Any) -> t.Callable[[t.Any], str]:
    """``sign(payload) -> cookie value``, exactly as a Flask app with ``secret_key`` signs its session."""
    app = Flask("signer")
    app.secret_key = secret_key
    app.config.update(config)
    serializer = app.session_interface.get_signing_serializer(app)
    assert serializer is not None
    return lambda payload: serializer.dumps(payload)


def cookie_reader(secret_key: str, fallbacks: t.Sequence[str] = ()) -> t.Callable[[str], t.Any]:
    """``read(cookie value) -> payload``; raises ``itsdangerous.BadSignature`` for a foreign one."""
    app = Flask("reader")
    app.secret_key = secret_key
    app.config["SECRET_KEY_FALLBACKS"] = list(fallbacks)
    serializer = app.session_interface.get_signing_serializer(app)
    assert serializer is not None
    return serializer.loads


def login(url: str, user: str = "alice") -> Browser:
    browser = Browser(url)
    response = browser.login(user, f"{user}-pw")
    assert response.status_code == 302, response.text
    return browser


def server_errors(proc: AppProcess) -> list[str]:
    """Access-log lines with a 5xx status other than 503."""
    return [m.group(0) for m in _SERVER_ERROR.finditer(proc.output())]


def leaked(proc: AppProcess, secrets: t.Iterable[str]) -> list[str]:
    """The values among ``secrets`` that appear in the server's log."""
    output = proc.output()
    return [value for value in secrets if value and value in output]


def session_documents(env: t.Mapping[str, str]) -> dict[str, dict[str, t.Any]]:
    """Every stored session document of the app's database, by key, read directly with python-arango."""
    client = ArangoClient(hosts=env["ARANGO_URL"])
    try:
        db = client.db(env["ARANGO_DB"], username=env["ARANGO_USERNAME"], password=env["ARANGO_PASSWORD"])
        # The test server answers only the store's fixed AQL strings; this one returns whole documents.
        cursor = db.aql.execute(LIST_SESSIONS, bind_vars={"@collection": "sessions", "limit": 100_000})
        return {doc["_key"]: doc for doc in cursor}
    finally:
        client.close()


def insert_session(env: t.Mapping[str, str], doc: dict[str, t.Any]) -> None:
    """Write a session document directly, as another service sharing the database might."""
    client = ArangoClient(hosts=env["ARANGO_URL"])
    try:
        db = client.db(env["ARANGO_DB"], username=env["ARANGO_USERNAME"], password=env["ARANGO_PASSWORD"])
        db.collection("sessions").insert(doc)
    finally:
        client.close()


@contextlib.contextmanager
def running(env: dict[str, str], **kwargs: t.Any) -> t.Iterator[AppProcess]:
    """The app process for the duration of a ``with`` block; its log handle is closed after."""
    proc = AppProcess(env, **kwargs)
    try:
        yield proc.start()
    finally:
        proc.stop()
        proc.log.close()


def hang_up_http(*browsers: Browser) -> None:
    """Close the browsers' keep-alive connections, which would hold a stopping worker for its graceful timeout.

    A browser can go on making requests afterwards (on new connections).
    """
    for browser in browsers:
        browser.http.close()
