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
from collections.abc import Callable
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


def _checked_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INT:
        raise ValueError(f"integer {text} out of the canonical range")
    return value


# One decoder for every parse (json.loads with hooks builds a new one per call). Its hooks
# refuse floats and NaN/Infinity and range-check integers while parsing, so what it returns
# holds only canonical types and needs no second walk before re-encoding.
_DECODER = json.JSONDecoder(
    parse_float=lambda t: _no_float(t),
    parse_int=_checked_int,
    parse_constant=lambda t: _no_float(t),
)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
# The decoder's scanner, called directly: ``decode`` adds two Python-level white-space
# matches per call, and canonical text has no white space to skip (nor anything after the
# value: the comparison with the re-encoding below refuses both).
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def _make_reencoder() -> Callable[[Any], str]:
    """``_ENCODER.encode``, with json's C encoder built once instead of on every call.

    ``JSONEncoder.encode`` makes a new C encoder per call, which costs as much as the
    encoding of a small event body. What :func:`parse_canonical` re-encodes comes from
    ``_DECODER``: no cycles (so no marker dict) and no floats. Where the C encoder is
    missing, ``_ENCODER.encode`` itself."""
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:
        return _ENCODER.encode
    chunks = make(None, None, encoder.encode_basestring_ascii, None, ":", ",", True, False, True)

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode


_REENCODE = _make_reencoder()


def parse_canonical(data: bytes) -> Any:
    """Parse canonical JSON and insist it is canonical (re-encoding gives the same bytes).

    The hot path of log verification (every event body comes here): the text is compared
    with its re-encoding as ``str`` (no second conversion to bytes).
    """
    try:
        text = data.decode("ascii")
        value, _ = _SCAN(text, 0)
    except StopIteration as exc:
        raise ValueError(f"not canonical JSON: expecting a value at char {exc.value}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"not canonical JSON: {exc}") from None
    if _REENCODE(value) != text:
        raise ValueError("JSON is not in canonical form")
    return value


def _no_float(text: str) -> Any:
    raise ValueError(f"non-integer number {text!r} is not allowed")
