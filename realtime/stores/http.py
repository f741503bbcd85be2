"""A lean HTTP client for python-arango: urllib3 connection pools, no requests.

python-arango sends every request through ``requests`` by default. On the
connect path that stack costs more CPU than the rest of the session check:
``requests`` rebuilds a prepared request, merges proxy settings read from
``os.environ`` and copies headers into case-insensitive dicts for every call
(about 1 ms of the 3.3 ms a connect cost on the benchmark machine; README
"Performance"). :class:`PooledHTTPClient` plugs into python-arango's
documented extension point (``ArangoClient(http_client=...)``) and sends the
same requests through a urllib3 pool per host, which ``requests`` used
underneath anyway.

Behaviour kept from the default client: keep-alive pools, TLS verification
with the same CA bundle (``certifi``) or the path given as ``verify``, basic
auth, query parameters, one timeout for connecting and one for reading.
Different on purpose: nothing is retried (the store wants one quick failure,
not several slow ones) and proxies from the environment are not consulted
(ArangoDB is reached directly). A failure to *connect* is raised as
``requests.ConnectionError``, the exception python-arango answers by trying
the next host of a multi-host ``ARANGO_URL``; any later failure is not retried, since
the server may have acted on the request.

``ARANGO_HTTP_CLIENT=requests`` switches back to python-arango's own client.
"""

from __future__ import annotations

import base64
import typing as t
from urllib.parse import urlencode, urlsplit

import certifi
import requests
import urllib3
from arango.http import HTTPClient
from arango.response import Response
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

if t.TYPE_CHECKING:
    from collections.abc import MutableMapping

#: urllib3 failures that happen before a request reached the server.
CONNECT_FAILURES = (ConnectTimeoutError, NewConnectionError, NameResolutionError)


class ArangoUnreachable(requests.ConnectionError):
    """No connection to an ArangoDB host could be made (python-arango tries the next host)."""


class ArangoTransportError(OSError):
    """The request was sent (or partly sent) and no usable answer came back."""


class ArangoTimeout(ArangoTransportError, TimeoutError):
    """The request was sent and no answer came within the timeout."""


class ArangoTLSError(ArangoTransportError):
    """The TLS handshake failed: a configuration problem, so no other host is tried."""


class PooledSession:
    """One host's keep-alive pool; python-arango calls it a "session".

    python-arango assigns ``session.verify`` after creating it (its
    ``verify_override``), so the pool is built on first use.
    """

    def __init__(self, host: str, *, timeout: float, pool_size: int) -> None:
        self.host = host
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self.pool_size = pool_size
        self.verify: bool | str = True
        self._pool: urllib3.HTTPConnectionPool | None = None

    @property
    def pool(self) -> urllib3.HTTPConnectionPool:
        if self._pool is None:
            self._pool = self._build_pool()
        return self._pool

    def _build_pool(self) -> urllib3.HTTPConnectionPool:
        options: dict[str, t.Any] = {
            "maxsize": self.pool_size,
            # More concurrent requests than pooled connections open extra
            # connections instead of waiting; only pool_size are kept.
            "block": False,
            "timeout": self.timeout,
            "retries": False,
        }
        if urlsplit(self.host).scheme == "https":
            if self.verify is False:
                options["cert_reqs"] = "CERT_NONE"
            else:
                options["cert_reqs"] = "CERT_REQUIRED"
                options["ca_certs"] = self.verify if isinstance(self.verify, str) else certifi.where()
        return urllib3.connection_from_url(self.host, **options)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


class PooledHTTPClient(HTTPClient):
    """python-arango ``HTTPClient`` on urllib3 pools (see the module docstring)."""

    def __init__(self, request_timeout: float = 2.0, pool_size: int = 32) -> None:
        self.request_timeout = request_timeout
        self.pool_size = pool_size

    def create_session(self, host: str) -> PooledSession:  # type: ignore[override]
        return PooledSession(host, timeout=self.request_timeout, pool_size=self.pool_size)

    def send_request(  # type: ignore[override]
        self,
        session: PooledSession,
        method: str,
        url: str,
        headers: MutableMapping[str, str] | None = None,
        params: MutableMapping[str, t.Any] | None = None,
        data: str | bytes | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        target = request_target(url, params)
        request_headers = dict(headers or {})
        if auth is not None:
            request_headers["Authorization"] = basic_auth(*auth)
        body = encode_body(data)
        try:
            reply = session.pool.urlopen(
                method.upper(),
                target,
                body=body,
                headers=request_headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=True,
            )
        except SSLError as exc:
            raise ArangoTLSError(tls_advice(exc)) from exc
        except CONNECT_FAILURES as exc:
            raise ArangoUnreachable(f"cannot connect ({type(exc).__name__})") from exc
        except ReadTimeoutError as exc:
            raise ArangoTimeout("no answer within the timeout") from exc
        except HTTPError as exc:
            raise ArangoTransportError(f"no usable answer ({type(exc).__name__})") from exc
        return Response(
            method=method,
            url=url,
            headers=reply.headers,
            status_code=reply.status,
            status_text=reply.reason or "",
            raw_body=reply.data.decode("utf-8", errors="replace"),
        )


def request_target(url: str, params: t.Mapping[str, t.Any] | None) -> str:
    """Origin-form request target (path and query) of ``url`` plus ``params``.

    Query values are encoded as ``requests`` encodes them, so the server sees
    the same request whichever client sent it.
    """
    parts = urlsplit(url)
    target = parts.path or "/"
    query = [parts.query] if parts.query else []
    if params:
        query.append(urlencode([(k, v) for k, v in params.items() if v is not None], doseq=True))
    return f"{target}?{'&'.join(query)}" if query else target


def tls_advice(exc: SSLError) -> str:
    """What failed in the handshake (no URL in it), and the usual fix."""
    reason = str(exc.args[0] if exc.args else exc)
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        return (
            "TLS certificate not trusted (CERTIFICATE_VERIFY_FAILED); if ArangoDB's certificate comes from a"
            " private CA, set ARANGO_VERIFY to that CA's PEM file"
        )
    return f"TLS handshake failed ({type(exc).__name__})"


def basic_auth(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def encode_body(data: object) -> bytes | None:
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    # python-arango only sends multipart bodies for Foxx service uploads,
    # which this package never makes.
    raise TypeError(f"PooledHTTPClient cannot send a {type(data).__name__} body; use ARANGO_HTTP_CLIENT=requests")
