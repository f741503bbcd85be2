"""``/_api/document``: single and batch document operations.

Option handling follows ``RestDocumentHandler`` (ArangoDB 3.12): ``ignoreRevs``
defaults to true, an ``If-Match`` header always forces a revision check, the
URL key wins over a body ``_key``, writes answer 201 when synced and 202
otherwise (200/202 for removals), batch requests answer one element per input
with inline errors and an ``X-Arango-Error-Codes`` header.
"""

from __future__ import annotations

import collections
import json
import typing as t
import urllib.parse

from .errors import ArangoError
from .keys import key_part
from .protocol import Call, Response
from .storage import OVERWRITE_MODES, Collection, WriteResult

ItemOperation = t.Callable[[t.Any], dict[str, t.Any]]


def handle(call: Call) -> Response:
    """Dispatch a ``/_api/document`` request by method and path length."""
    request, rest = call.request, call.rest
    method = request.method
    if method in ("GET", "HEAD"):
        if len(rest) < 2:
            if method == "HEAD":
                raise ArangoError(400, "expecting HEAD /_api/document/<collection>/<key>")
            raise ArangoError(1203, "expecting GET /_api/document/<collection>/<key>")
        if len(rest) > 2:
            raise ArangoError(400, f"expecting {method} /_api/document/<collection>/<key>")
        return _read_one(call, rest[0], rest[1])

    name = rest[0] if rest else request.params.get("collection", "")
    if not name:
        raise ArangoError(400, "'collection' is missing, expecting /_api/document/<collection>")
    if method == "POST":
        if len(rest) > 1:
            raise ArangoError(400, "superfluous suffix, expecting POST /_api/document/<collection>")
        return _insert(call, call.database.collection(name))
    if method == "PUT" and "onlyget" in request.params:
        if len(rest) != 1:
            raise ArangoError(400, "expecting PUT /_api/document/<collection> with a body")
        return _read_many(call, call.database.collection(name))
    if method in ("PUT", "PATCH", "DELETE"):
        if len(rest) > 2:
            raise ArangoError(400, f"expecting {method} /_api/document/<collection>[/<key>]")
        collection = call.database.collection(name)
        if method == "DELETE":
            return _remove(call, collection, rest[1] if len(rest) == 2 else None)
        return _modify(call, collection, rest[1] if len(rest) == 2 else None)
    raise ArangoError(405)


# -- helpers ----------------------------------------------------------------


def _if_match(call: Call) -> str | None:
    value = (call.request.header("If-Match") or "").strip().strip('"')
    return value or None


def _body_rev(item: dict[str, t.Any]) -> str | None:
    rev = item.get("_rev")
    return rev if isinstance(rev, str) and rev else None


def _synced(call: Call, collection: Collection) -> bool:
    return call.request.flag("waitForSync", False) or collection.wait_for_sync


def _document_headers(call: Call, collection: Collection, body: dict[str, t.Any]) -> dict[str, str]:
    # The driver ignores both, but a real server sends them. Header values
    # are Latin-1 on the wire: extended (Unicode) names must be URL-encoded.
    key = urllib.parse.quote(body["_key"], safe="")
    name = urllib.parse.quote(collection.name, safe="")
    return {
        "Etag": f'"{body["_rev"]}"',
        "Location": f"{call.db_prefix}/_api/document/{name}/{key}",
    }


def _single_write(
    call: Call, collection: Collection, result: WriteResult, *, status: int, return_old: bool
) -> Response:
    request = call.request
    body = result.body(return_new=request.flag("returnNew", False), return_old=return_old)
    headers = _document_headers(call, collection, body)
    return Response(status, {} if request.flag("silent", False) else body, headers)


def _batch(call: Call, items: t.Any, operation: ItemOperation, *, status: int) -> Response:
    """Run ``operation`` on each element, reporting errors inline."""
    if not isinstance(items, list):
        raise ArangoError(1227, "expecting an array of documents as body")
    silent = call.request.flag("silent", False)
    results: list[dict[str, t.Any]] = []
    errors: collections.Counter[int] = collections.Counter()
    for item in items:
        try:
            body = operation(item)
        except ArangoError as error:
            results.append(error.item())
            errors[error.error_num] += 1
        else:
            if not silent:
                results.append(body)
    headers = {}
    if errors:
        headers["X-Arango-Error-Codes"] = json.dumps(
            {str(num): count for num, count in sorted(errors.items())}, separators=(",", ":")
        )
    return Response(status, results, headers)


def _item_key(item: t.Any, *, check_revs: bool) -> tuple[str, str | None]:
    """Key and expected revision of a batch element (key, id or object)."""
    if isinstance(item, str):
        return key_part(item), None
    if not isinstance(item, dict):
        raise ArangoError(1227)
    key = item.get("_key")
    if key is None and isinstance(item.get("_id"), str):
        key = key_part(item["_id"])
    if not isinstance(key, str):
        raise ArangoError(1226)
    return key, _body_rev(item) if check_revs else None


def _write_status(call: Call, collection: Collection) -> int:
    return 201 if _synced(call, collection) else 202


def _remove_status(call: Call, collection: Collection) -> int:
    return 200 if _synced(call, collection) else 202


# -- reads ------------------------------------------------------------------


def _read_one(call: Call, name: str, key: str) -> Response:
    collection = call.database.collection(name)
    document = collection.read(key, _if_match(call))
    headers = {"Etag": f'"{document["_rev"]}"'}
    if_none_match = (call.request.header("If-None-Match") or "").strip().strip('"')
    if if_none_match and if_none_match == document["_rev"]:
        return Response(304, None, headers)
    body = document if call.request.method == "GET" else None
    return Response(200, body, headers)


def _read_many(call: Call, collection: Collection) -> Response:
    check_revs = not call.request.flag("ignoreRevs", True)

    def read(item: t.Any) -> dict[str, t.Any]:
        key, rev = _item_key(item, check_revs=check_revs)
        try:
            return collection.read(key, rev)
        except ArangoError as error:
            raise _inline(error) from None

    return _batch(call, call.request.json(), read, status=200)


def _inline(error: ArangoError) -> ArangoError:
    # Inside a batch a revision conflict is a plain 1200 element.
    if error.status == 412:
        return ArangoError(error.error_num, error.message)
    return error


# -- writes -----------------------------------------------------------------


def _version_attribute(call: Call) -> str | None:
    # External versioning (3.12): the name of a top-level numeric attribute.
    return call.request.params.get("versionAttribute") or None


def _overwrite_mode(call: Call) -> str:
    mode = call.request.params.get("overwriteMode", "")
    if mode in OVERWRITE_MODES:
        return mode
    # Legacy ``overwrite=true`` means replace (ArangoDB 3.x; removed in 4.0).
    return "replace" if call.request.flag("overwrite", False) else "conflict"


def _insert(call: Call, collection: Collection) -> Response:
    request = call.request
    mode = _overwrite_mode(call)
    return_old = request.flag("returnOld", False) and mode in ("replace", "update")
    return_new = request.flag("returnNew", False)
    options = {
        "overwrite_mode": mode,
        "keep_null": request.flag("keepNull", True),
        "merge_objects": request.flag("mergeObjects", True),
        "version_attribute": _version_attribute(call),
    }
    body = request.json()
    status = _write_status(call, collection)
    if isinstance(body, list):

        def insert(item: t.Any) -> dict[str, t.Any]:
            result = collection.insert(item, **options)
            return result.body(return_new=return_new, return_old=return_old)

        return _batch(call, body, insert, status=status)
    result = collection.insert(body, **options)
    return _single_write(call, collection, result, status=status, return_old=return_old)


def _modify(call: Call, collection: Collection, key: str | None) -> Response:
    request = call.request
    patch = request.method == "PATCH"
    check_revs = not request.flag("ignoreRevs", True)
    keep_null = request.flag("keepNull", True)
    merge_objects = request.flag("mergeObjects", True)
    return_new = request.flag("returnNew", False)
    return_old = request.flag("returnOld", False)
    version_attribute = _version_attribute(call)
    status = _write_status(call, collection)

    def apply(key: str, body: t.Any, expected_rev: str | None) -> WriteResult:
        if patch:
            return collection.update(
                key,
                body,
                expected_rev,
                keep_null=keep_null,
                merge_objects=merge_objects,
                version_attribute=version_attribute,
            )
        return collection.replace(key, body, expected_rev, version_attribute=version_attribute)

    body = request.json()
    if key is None:

        def modify(item: t.Any) -> dict[str, t.Any]:
            item_key, rev = _item_key(item, check_revs=check_revs)
            try:
                result = apply(item_key, item, rev)
            except ArangoError as error:
                raise _inline(error) from None
            return result.body(return_new=return_new, return_old=return_old)

        return _batch(call, body, modify, status=status)

    if not isinstance(body, dict):
        raise ArangoError(1227)
    expected_rev = _if_match(call) or (_body_rev(body) if check_revs else None)
    result = apply(key, body, expected_rev)
    return _single_write(call, collection, result, status=status, return_old=return_old)


def _remove(call: Call, collection: Collection, key: str | None) -> Response:
    request = call.request
    return_old = request.flag("returnOld", False)
    status = _remove_status(call, collection)
    if key is not None:
        result = collection.remove(key, _if_match(call))
        return _single_write(call, collection, result, status=status, return_old=return_old)

    check_revs = not request.flag("ignoreRevs", True)
    body = request.json()

    def remove(item: t.Any) -> dict[str, t.Any]:
        item_key, rev = _item_key(item, check_revs=check_revs)
        try:
            result = collection.remove(item_key, rev)
        except ArangoError as error:
            raise _inline(error) from None
        return result.body(return_new=False, return_old=return_old)

    if isinstance(body, dict):
        # A single search object without a key in the URL.
        item_key, rev = _item_key(body, check_revs=check_revs)
        result = collection.remove(item_key, rev)
        return _single_write(call, collection, result, status=status, return_old=return_old)
    return _batch(call, body, remove, status=status)
