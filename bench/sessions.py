"""A logged-in session per benchmark socket, as a site full of browsers would have.

The benchmark logs in once through the app's form. Sockets that all shared
that one cookie would share one ``user:`` and one ``session:`` room and one
session record, which flatters the app: each room of its own costs a socket
about 0.5 KiB. :func:`issue_sessions` creates more logged-in sessions in the
session store, through the app's own store code, each for a user of its own
(``<login uid>-<n>``: the socket check reads only the session record, so no
account is needed), and signs a cookie for each exactly like the login's
(same payload, another session id), with the secret key the benchmark gave
the servers. That is the worst case for memory: every socket its own user
and session, where a user with two tabs would share rooms.
"""

from __future__ import annotations

import time
from pathlib import Path

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from bench.procs import ProcessError
from bench.servers import ArangoServer
from realtime.auth import SESSION_KEY
from realtime.stores.arango import ArangoSessionStore, connect

#: The database the servers use (``bench.servers.app_env``).
DATABASE = "realtime"


def issue_sessions(login_cookie: str, count: int, secret_key: str, arango: ArangoServer, path: Path) -> Path:
    """Write ``count`` ``Cookie`` header values to ``path``, one per line: the login's, then new sessions'.

    :param login_cookie: the ``name=value`` cookie the app's login answered with.
    """
    name, _, value = login_cookie.partition("=")
    signer = Flask("bench")
    signer.secret_key = secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    assert serializer is not None
    payload = serializer.loads(value)
    client, db = connect(arango.url, DATABASE, arango.username, arango.password, timeout=10)
    try:
        store = ArangoSessionStore(client, db, username=arango.username, password=arango.password)
        login = store.get(payload.get(SESSION_KEY))
        if login is None or login.uid is None:
            raise ProcessError("the login cookie names no logged-in session in the store; cannot issue more")
        lifetime = login.expires_at - time.time()
        lines = [login_cookie]
        for number in range(1, count):
            record = store.create(f"{login.uid}-{number}", lifetime)
            lines.append(f"{name}={serializer.dumps({**payload, SESSION_KEY: record.sid})}")
    finally:
        client.close()
    path.write_text("\n".join(lines) + "\n")
    return path
