"""The canonical JSON encoding that audit events, checkpoints and attestations are hashed in.

Canonical form (see ``docs/audit-format.md``): UTF-8 bytes of the JSON text with object keys
sorted by code point, no insignificant white space (separators ``,`` and ``:``), every
non-ASCII character escaped as ``\\uXXXX`` (lower-case hex, surrogate pairs above U+FFFF),
the escapes ``\\"`` ``\\\\`` ``\\n`` ``\\r`` ``\\t`` ``\\b`` ``\\f`` and ``\\u00XX`` for
other control characters; values are objects, arrays, strings, integers in
[-(2**53-1), 2**53-1], ``true``, ``false`` and ``null``. No floats.
"""

from __future__ import annotations

import json
from typing import Any

MAX_SAFE_INT = 2**53 - 1


def _check(value: Any, path: str = "$") -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise ValueError(f"{path}: integer out of the canonical range")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: object key {key!r} is not a string")
            _check(item, f"{path}.{key}")
        return
    raise ValueError(f"{path}: {type(value).__name__} is not allowed in canonical JSON")


def canonical_bytes(value: Any) -> bytes:
    """Encode ``value`` canonically; ``ValueError`` for floats and other non-JSON types."""
    _check(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
        "ascii"
    )


def parse_canonical(data: bytes) -> Any:
    """Parse canonical JSON and insist it is canonical (re-encoding gives the same bytes)."""
    try:
        value = json.loads(data.decode("ascii"), parse_float=_no_float, parse_constant=_no_float)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"not canonical JSON: {exc}") from None
    if canonical_bytes(value) != data:
        raise ValueError("JSON is not in canonical form")
    return value


def _no_float(text: str) -> Any:
    raise ValueError(f"non-integer number {text!r} is not allowed")
