"""``POST /_api/import``: bulk import as ``RestImportHandler`` does it (ArangoDB 3.12).

Three body formats: JSON Lines (``type=documents``), one JSON array
(``type=array`` or ``list``; python-arango's ``import_bulk`` sends ``array``),
``type=auto`` (an array if the body starts with ``[``), and without a known
``type`` the tabular format (a first line of attribute names, then one array of
values per line).

Every document goes through the same insert as ``POST /_api/document`` with
the overwrite mode ``onDuplicate`` asks for; the answer counts what happened
(``created``, ``errors``, ``empty``, ``updated``, ``ignored``) and, with
``details=true``, says why each failure failed. With ``complete=true`` the
first failing document aborts the whole import: nothing of it stays (not even
the ``overwrite`` truncation) and the answer is that document's error.
Like ArangoDB, a line that is not JSON does not abort a ``complete`` import:
it only ends the reading of further lines.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t

from .errors import ERRORS, ArangoError
from .protocol import Call, Response
from .storage import Collection

#: ``type`` values that mean JSON documents rather than the tabular format.
JSON_TYPES = ("documents", "array", "list", "auto")
#: ``onDuplicate`` -> the insert's overwrite mode (``ignore`` and ``error``
#: insert plainly; ``ignore`` then counts unique-key violations as ignored).
DUPLICATE_MODES = {"update": "update", "replace": "replace"}
#: Whitespace ``RestImportHandler`` skips at the start of a line.
_LINE_SPACE = " \t\r\b\f"
#: Whitespace around the lines of the tabular format.
_TABULAR_SPACE = " \t\r\n\b\f"
#: Longest excerpt of an offending document in an error detail, in bytes.
_EXCERPT_BYTES = 255
_USAGE = "/_api/import?collection=<identifier>"


class _Abort(Exception):
    """A ``complete`` import stops: roll back and answer with this error number."""

    def __init__(self, error_num: int) -> None:
        super().__init__(error_num)
        self.error_num = error_num


@dataclasses.dataclass
class _Result:
    created: int = 0
    errors: int = 0
    empty: int = 0
    updated: int = 0
    ignored: int = 0
    details: list[str] = dataclasses.field(default_factory=list)

    def fail(self, message: str) -> None:
        self.errors += 1
        self.details.append(message)

    def body(self, with_details: bool) -> dict[str, t.Any]:
        body: dict[str, t.Any] = {
            "error": False,
            "created": self.created,
            "errors": self.errors,
            "empty": self.empty,
            "updated": self.updated,
            "ignored": self.ignored,
        }
        if with_details:
            body["details"] = self.details
        return body


def handle(call: Call) -> Response:
    """Answer ``POST /_api/import?collection=...``."""
    request = call.request
    if request.method != "POST":
        raise ArangoError(9, "ILLEGAL /_api/import", status=501)
    if call.rest:
        raise ArangoError(601, f"superfluous suffix, expecting {_USAGE}")
    name = request.params.get("collection", "")
    if not name:
        raise ArangoError(1204, f"'collection' is missing, expecting {_USAGE}")
    text = request.body.decode("utf-8", errors="replace")
    kind = request.params.get("type")
    keys = None if kind in JSON_TYPES else _tabular_header(text)
    collection = call.database.collection(name)
    importer = _Importer(call, collection)
    saved_documents, saved_last_value = dict(collection.documents), collection.key_generator.last_value
    try:
        if request.flag("overwrite", False):
            collection.truncate()
        if keys is not None:
            importer.read_tabular(text, keys)
        elif _is_array(kind, text):
            importer.read_array(text)
        else:
            importer.read_lines(text)
        importer.store()
    except (_Abort, ArangoError) as error:
        # The import's transaction is aborted: everything it did is undone.
        collection.documents = saved_documents
        collection.key_generator.last_value = saved_last_value
        if isinstance(error, ArangoError):
            raise
        raise ArangoError(error.error_num) from None
    return Response(201, importer.result.body(request.flag("details", False)))


def _is_array(kind: str | None, text: str) -> bool:
    if kind == "auto":
        return text.lstrip(" \t\r\n\b\f").startswith("[")
    return kind in ("array", "list")


def _tabular_header(text: str) -> list[str]:
    """The attribute names of the tabular format (checked before the collection)."""
    newline = text.find("\n")
    if newline == -1:
        raise ArangoError(400, "no JSON array found in second line")
    try:
        keys = _parse(text[:newline].strip(_TABULAR_SPACE))
    except ValueError:
        keys = None
    if not isinstance(keys, list) or not keys or not all(isinstance(key, str) for key in keys):
        raise ArangoError(400, "no JSON string array found in first line")
    return keys


def _parse(text: str) -> t.Any:
    return json.loads(text, parse_constant=lambda name: _reject(name))


def _reject(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _excerpt(text: str) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= _EXCERPT_BYTES:
        return text
    return encoded[:_EXCERPT_BYTES].decode("utf-8", errors="ignore") + "..."


def _dump(value: t.Any) -> str:
    # VPackDumper writes attributes in index order, i.e. sorted by name.
    return _excerpt(json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True))


def _with_prefix(value: t.Any, prefix: str, overwrite: bool) -> t.Any:
    """``fromPrefix``/``toPrefix`` applied to one ``_from``/``_to`` value."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return prefix + str(value)
    if not isinstance(value, str):
        return value
    if "/" not in value:
        return prefix + value
    if overwrite:
        # 3.12's overwriteCollectionPrefix replaces the collection part.
        return prefix + value.split("/", 1)[1]
    return value


class _Importer:
    """Collects the documents of one import, then inserts them."""

    def __init__(self, call: Call, collection: Collection) -> None:
        request = call.request
        self.collection = collection
        self.complete = request.flag("complete", False)
        self.on_duplicate = request.params.get("onDuplicate", "error")
        self.overwrite_prefix = request.flag("overwriteCollectionPrefix", False)
        self.ignore_missing = request.flag("ignoreMissing", False)
        # Positions in the tabular format start after ``line`` (0 if not a number).
        line = request.params.get("line", "")
        self.first_line = int(line) if line.isdigit() else 0
        self.prefixes = {
            attribute: prefix if prefix.endswith("/") else prefix + "/"
            for attribute, prefix in (
                ("_from", request.params.get("fromPrefix", "")),
                ("_to", request.params.get("toPrefix", "")),
            )
            if prefix
        }
        self.result = _Result()
        self.documents: list[dict[str, t.Any]] = []

    # -- reading ---------------------------------------------------------

    def read_lines(self, text: str) -> None:
        """JSON Lines: one object per line; empty lines are counted."""
        for position, line in _lines(text):
            if line is None:
                self.result.empty += 1
                continue
            try:
                value = _parse(line)
            except ValueError:
                self.result.fail(
                    f"at position {position}: invalid JSON type (expecting object, probably parse error),"
                    f" offending context: {_excerpt(line)}"
                )
                if self.complete:
                    return
                continue
            self.accept(value, position)

    def read_array(self, text: str) -> None:
        """One JSON array of objects."""
        try:
            values = _parse(text) if text.strip() else None
        except ValueError as exc:
            raise ArangoError(400, f"expecting a valid JSON array in the request. got: {exc}") from None
        if not isinstance(values, list):
            raise ArangoError(400, "expecting a JSON array in the request")
        for index, value in enumerate(values):
            self.accept(value, index + 1)

    def read_tabular(self, text: str, keys: list[str]) -> None:
        """The first line names the attributes; each further line is an array of values."""
        position = self.first_line
        for raw in _tabular_lines(text):
            position += 1
            line = raw.strip(_TABULAR_SPACE)
            if not line:
                self.result.empty += 1
                continue
            try:
                values = _parse(line)
            except ValueError:
                self._tabular_failure(
                    f"at position {position}: invalid JSON type (expecting object, probably parse error),"
                    f" offending context: {_excerpt(line)}"
                )
                continue
            if not isinstance(values, list):
                self._tabular_failure(f"at position {position}: no valid JSON array data")
                continue
            if not self.ignore_missing and len(values) != len(keys):
                self._tabular_failure(
                    f"at position {position}: wrong number of JSON values (got {len(values)}, expected {len(keys)})"
                )
                continue
            document = {key: value for key, value in zip(keys, values, strict=False) if value is not None}
            self.accept(document, position)

    def _tabular_failure(self, message: str) -> None:
        self.result.fail(message)
        if self.complete:
            raise _Abort(4)

    def accept(self, value: t.Any, position: int) -> None:
        """``handleSingleDocument``: objects only; edges get prefixes and need ``_from``/``_to``."""
        if not isinstance(value, dict):
            self._reject(
                1227,
                f"at position {position}: invalid JSON type (expecting object), offending document: {_dump(value)}",
            )
            return
        if self.collection.is_edge:
            value = dict(value)
            for attribute, prefix in self.prefixes.items():
                if attribute in value:
                    value[attribute] = _with_prefix(value[attribute], prefix, self.overwrite_prefix)
            if not (isinstance(value.get("_from"), str) and isinstance(value.get("_to"), str)):
                self._reject(
                    1233,
                    f"at position {position}: missing '_from' or '_to' attribute, offending document: {_dump(value)}",
                )
                return
        self.documents.append(value)

    def _reject(self, error_num: int, message: str) -> None:
        self.result.fail(message)
        if self.complete:
            raise _Abort(error_num)

    # -- writing -----------------------------------------------------------

    def store(self) -> None:
        """``performImport``: insert everything, count outcomes by position."""
        mode = DUPLICATE_MODES.get(self.on_duplicate, "conflict")
        for position, document in enumerate(self.documents):
            try:
                outcome = self.collection.insert(document, overwrite_mode=mode)
            except ArangoError as error:
                if error.error_num == 1210 and self.on_duplicate == "ignore":
                    self.result.ignored += 1
                    continue
                text = ERRORS.get(error.error_num, (0, error.message))[1]
                self._reject(
                    error.error_num,
                    f"at position {position}: creating document failed with error '{text}',"
                    f" offending document: {_dump(document)}",
                )
                continue
            if outcome.old is not None:
                self.result.updated += 1
            else:
                self.result.created += 1


def _lines(text: str) -> t.Iterator[tuple[int, str | None]]:
    """(position, line) of a JSON Lines body; None for an empty line.

    Positions count every line, empty ones too; leading blanks are skipped
    and a blank last line ends the body (``RestImportHandler::createFromJson``).
    """
    position, cursor, end = 0, 0, len(text)
    while cursor < end:
        position += 1
        while cursor < end and text[cursor] in _LINE_SPACE:
            cursor += 1
        if cursor == end or text[cursor] == "\0":
            return
        newline = text.find("\n", cursor)
        if newline == cursor:
            cursor += 1
            yield position, None
            continue
        if newline == -1:
            line, cursor = text[cursor:], end
        else:
            line, cursor = text[cursor:newline], newline + 1
        yield position, line


def _tabular_lines(text: str) -> list[str]:
    """The value lines of the tabular format (a final newline ends the body)."""
    rest = text[text.find("\n") + 1 :]
    lines = rest.split("\n") if rest else []
    if rest.endswith("\n"):
        lines.pop()
    return lines
