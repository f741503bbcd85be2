"""ArangoDB error numbers, their HTTP status and default message.

The texts come from ArangoDB's ``errors.yaml`` and the status mapping from
``GeneralResponse::responseCode`` (see ``shared/docs/arangodb-http-subset.md``
§2). Only the numbers this server can produce are listed.
"""

from __future__ import annotations

import typing as t

#: errorNum -> (HTTP status, default errorMessage)
ERRORS: dict[int, tuple[int, str]] = {
    4: (500, "internal error"),
    9: (501, "not implemented"),
    10: (400, "bad parameter"),
    11: (403, "forbidden"),
    400: (400, "bad parameter"),
    401: (401, "unauthorized"),
    404: (404, "not found"),
    405: (405, "method not supported"),
    503: (503, "service unavailable"),
    600: (400, "invalid JSON object"),
    601: (400, "superfluous URL suffices"),
    1200: (409, "conflict"),
    1202: (404, "document not found"),
    1203: (404, "collection or view not found"),
    1204: (400, "collection parameter missing"),
    1205: (400, "illegal document identifier"),
    1207: (409, "duplicate name"),
    1208: (400, "illegal name"),
    1210: (409, "unique constraint violated"),
    1212: (404, "index not found"),
    1218: (400, "collection type invalid"),
    1221: (400, "illegal document key"),
    1222: (400, "unexpected document key"),
    1226: (400, "missing document key"),
    1227: (400, "invalid document type"),
    1228: (404, "database not found"),
    1229: (400, "database name invalid"),
    1230: (403, "operation only allowed in system database"),
    1232: (400, "invalid key generator"),
    1233: (400, "edge attribute missing or invalid"),
    1501: (400, "syntax error"),
    1551: (400, "no value specified for declared bind parameter"),
    1552: (400, "bind parameter was not declared in the query"),
    1553: (400, "bind parameter has an invalid value or type"),
    1600: (404, "cursor not found"),
    1621: (400, "invalid schema validation parameter"),
}

#: Message of a failed revision precondition (storage-layer text).
REV_MISMATCH = "conflict, _rev values do not match"


class ArangoError(Exception):
    """An ArangoDB error response: raised by the storage layer, rendered by the API.

    :param error_num: ArangoDB ``errorNum``; picks the default status and text.
    :param message: ``errorMessage``; defaults to the ``errors.yaml`` text.
    :param status: HTTP status, when it differs from the default for the
        number (412 for revision conflicts, 401 for ``forbidden`` on login).
    :param extra: additional attributes of the error body (``_id``, ``_key``,
        ``_rev`` of a 412 response).
    """

    def __init__(
        self,
        error_num: int,
        message: str | None = None,
        *,
        status: int | None = None,
        extra: dict[str, t.Any] | None = None,
    ) -> None:
        default_status, default_message = ERRORS.get(error_num, (500, "error"))
        self.error_num = error_num
        self.message = message or default_message
        self.status = status or default_status
        self.extra = extra or {}
        super().__init__(f"[{self.status}/{error_num}] {self.message}")

    def body(self) -> dict[str, t.Any]:
        """The JSON error body of a single-operation response."""
        return {
            "code": self.status,
            "error": True,
            "errorMessage": self.message,
            "errorNum": self.error_num,
            **self.extra,
        }

    def item(self) -> dict[str, t.Any]:
        """The inline error object of one element of a batch response.

        It carries no ``_id``: python-arango treats any element with ``_id``
        as a success (``collection.py`` ``delete_many``).
        """
        return {
            "error": True,
            "errorNum": self.error_num,
            "errorMessage": self.message,
        }
