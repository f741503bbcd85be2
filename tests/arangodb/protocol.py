"""Requests and responses as the API layer sees them, free of socket code."""

from __future__ import annotations

import dataclasses
import functools
import json
import typing as t
import urllib.parse

from .errors import ArangoError

if t.TYPE_CHECKING:
    from .auth import User
    from .storage import Database

#: Query-string values ArangoDB reads as true (``StringUtils::boolean``).
_TRUE = frozenset(("1", "true", "yes", "on", "y"))


def _reject_constant(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not valid JSON")


@dataclasses.dataclass
class Request:
    """One HTTP request.

    :param method: upper-case HTTP method.
    :param target: the request target (path and query string, not decoded).
    :param headers: header lookup; keys are matched case-insensitively.
    :param body: the raw request body.
    """

    method: str
    target: str
    headers: t.Mapping[str, str]
    body: bytes = b""

    @functools.cached_property
    def path(self) -> str:
        """The path part of the target, still percent-encoded."""
        return urllib.parse.urlsplit(self.target).path

    @functools.cached_property
    def parts(self) -> list[str]:
        """Percent-decoded path segments, empty ones dropped.

        Each segment is decoded on its own (``decodedSuffixes``), so ``%2F``
        inside a key stays part of that key.
        """
        try:
            return [urllib.parse.unquote(segment, errors="strict") for segment in self.path.split("/") if segment]
        except UnicodeDecodeError:
            raise ArangoError(400, f"invalid URL encoding in path '{self.path}'") from None

    @functools.cached_property
    def params(self) -> dict[str, str]:
        """Query parameters; the last occurrence of a name wins."""
        query = urllib.parse.urlsplit(self.target).query
        return dict(urllib.parse.parse_qsl(query, keep_blank_values=True))

    def flag(self, name: str, default: bool) -> bool:
        """A boolean query parameter (``1``/``true``/``yes``/``on`` are true)."""
        value = self.params.get(name)
        if value is None:
            return default
        return value.strip().lower() in _TRUE

    def header(self, name: str) -> str | None:
        """A request header, None if absent."""
        return self.headers.get(name)

    def json(self) -> t.Any:
        """The body parsed as JSON (None when empty).

        :raise ArangoError: 400/600 for a body that is not strict JSON.
        """
        return self._parsed_body

    @functools.cached_property
    def _parsed_body(self) -> t.Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArangoError(600, f"VPackError error: {exc}") from None

    def json_or_none(self) -> t.Any:
        """The parsed body, or None if it is not JSON (for classification)."""
        try:
            return self.json()
        except ArangoError:
            return None


@dataclasses.dataclass
class Response:
    """One HTTP response; ``body`` None means no body (HEAD, 304)."""

    status: int
    body: t.Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Seconds between the bytes written (the test server's slow-drip fault); 0 writes it at once.
    drip: float = 0.0

    def encode(self) -> bytes:
        """The body as compact UTF-8 JSON, like ArangoDB sends it."""
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclasses.dataclass
class Call:
    """An authenticated request routed to one database.

    :param rest: the path segments after ``/_api/<resource>``.
    """

    request: Request
    database: Database
    user: User
    rest: list[str]

    @property
    def db_prefix(self) -> str:
        """``/_db/<name>``, the prefix of URLs this database serves."""
        return "/_db/" + urllib.parse.quote(self.database.name, safe="")


def ok(status: int, body: dict[str, t.Any] | None = None, **extra: t.Any) -> Response:
    """A success body with ArangoDB's ``error: false`` and ``code`` attributes."""
    return Response(status, {"error": False, "code": status, **(body or {}), **extra})


def error_response(error: ArangoError, request: Request) -> Response:
    """The error body; HEAD answers carry only the status."""
    if request.method == "HEAD":
        return Response(error.status)
    headers = {}
    if error.status == 401:
        headers["Www-Authenticate"] = 'Bearer token_type="JWT", realm="ArangoDB"'
    return Response(error.status, error.body(), headers)
