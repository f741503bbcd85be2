"""AQL value semantics: type order, equality, comparison, attribute paths.

AQL orders values by type first (null < bool < number < string < array <
object) and compares within a type; ``1 == 1.0`` but ``true != 1`` and
``"1" != 1``, unlike Python. Objects compare by attribute name, not order.
"""

from __future__ import annotations

import functools
import typing as t

_NULL, _BOOL, _NUMBER, _STRING, _ARRAY, _OBJECT = range(6)


def type_rank(value: t.Any) -> int:
    """Position of the value's type in AQL's type order."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, (int, float)):
        return _NUMBER
    if isinstance(value, str):
        return _STRING
    if isinstance(value, list):
        return _ARRAY
    return _OBJECT


def is_number(value: t.Any) -> bool:
    """AQL ``IS_NUMBER``: true for numbers, false for booleans."""
    return type_rank(value) == _NUMBER


def canonical(value: t.Any) -> t.Hashable:
    """A hashable form in which AQL-equal values are equal (index lookups)."""
    rank = type_rank(value)
    if rank == _NUMBER:
        return (rank, float(value))
    if rank == _ARRAY:
        return (rank, tuple(canonical(item) for item in value))
    if rank == _OBJECT:
        return (rank, tuple(sorted((k, canonical(v)) for k, v in value.items())))
    return (rank, value)


def equal(left: t.Any, right: t.Any) -> bool:
    """AQL ``==``."""
    return canonical(left) == canonical(right)


def compare(left: t.Any, right: t.Any) -> int:
    """AQL comparison: negative, zero or positive like ``cmp``."""
    left_rank, right_rank = type_rank(left), type_rank(right)
    if left_rank != right_rank:
        return -1 if left_rank < right_rank else 1
    if left_rank == _NULL:
        return 0
    if left_rank == _ARRAY:
        for a, b in zip(left, right, strict=False):
            result = compare(a, b)
            if result:
                return result
        return _sign(len(left) - len(right))
    if left_rank == _OBJECT:
        return _compare_objects(left, right)
    if left < right:
        return -1
    return 1 if left > right else 0


def _compare_objects(left: dict, right: dict) -> int:
    # AQL compares objects attribute by attribute in sorted name order; a
    # missing attribute counts as null.
    for name in sorted(set(left) | set(right)):
        result = compare(left.get(name), right.get(name))
        if result:
            return result
    return 0


def _sign(number: int) -> int:
    return (number > 0) - (number < 0)


#: Sort key for ``sorted()`` following AQL order.
sort_key = functools.cmp_to_key(compare)


def get_path(document: dict, path: str) -> t.Any:
    """The value of an index attribute path such as ``"a.b"``, None if missing."""
    value: t.Any = document
    for name in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value
