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

    The hot path of log verification: every event body comes here. Most bodies are
    accepted by :func:`_accept_fast` (orjson, about half the time of the stdlib); anything
    it does not accept outright, including every body that is not canonical, is decided by
    :func:`parse_canonical_reference`, so the verdict and the error message are always
    the reference's.
    """
    value = _accept_fast(data)
    if value is not _NOT_DECIDED:
        return value
    return parse_canonical_reference(data)


_NOT_DECIDED: Any = object()


def _make_fast_acceptor() -> Callable[[bytes], Any]:
    """The orjson acceptor.

    It returns the parsed value only when all of these hold, which together make the
    reference accept the same bytes with an equal value:

    - the bytes are ASCII without DEL (orjson writes DEL raw where the reference escapes
      it, and writes every other non-ASCII character raw, so an ASCII input that
      re-encodes to itself has only characters both escape alike);
    - orjson parses them (it refuses lone surrogates, NaN/Infinity and trailing data,
      which the reference refuses too or leaves to this function's caller);
    - orjson's re-encoding with sorted keys and the 53-bit integer limit equals the input
      byte for byte (sorted by code point as the reference sorts: ASCII keys only, since
      the output is ASCII; duplicate keys, white space, ``-0`` and integers out of range
      all fail here);
    - the value holds no float (orjson reads ``1.0``, ``1e5`` and integers beyond 64 bits
      as floats; the canonical form has none).

    The equivalence is tested against the reference on crafted and generated inputs
    (tests/unit/test_canonical_fast.py) and fuzzed (the ``canonical-fast`` target)."""
    import orjson

    loads, dumps = orjson.loads, orjson.dumps
    errors = (orjson.JSONDecodeError, orjson.JSONEncodeError)
    option = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER

    def accept(data: bytes) -> Any:
        if not data.isascii() or b"\x7f" in data:
            return _NOT_DECIDED
        try:
            value = loads(data)
            if dumps(value, option=option) != data:
                return _NOT_DECIDED
        except errors:
            return _NOT_DECIDED
        return value if _floatless(value) else _NOT_DECIDED

    return accept


def _floatless(value: Any) -> bool:
    """No float anywhere in ``value`` (a parsed JSON value: the depth is bounded by
    orjson's, 254 levels, so the recursion is too)."""
    kind = type(value)
    if kind is dict:
        items = value.values()
    elif kind is list:
        items = value
    else:
        return kind is not float
    for item in items:
        kind = type(item)
        if kind is str or kind is int:
            continue
        if kind is float or ((kind is dict or kind is list) and not _floatless(item)):
            return False
    return True


_accept_fast = _make_fast_acceptor()


def parse_canonical_reference(data: bytes) -> Any:
    """:func:`parse_canonical` on the standard library alone: the definition of what is
    canonical, and the path that decides (and words the error for) anything the fast
    acceptor leaves undecided. The text is compared with its re-encoding as ``str``."""
    try:
        text = data.decode("ascii")
        value, _ = _SCAN(text, 0)
    except StopIteration as exc:
        raise ValueError(f"not canonical JSON: expecting a value at char {exc.value}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"not canonical JSON: {exc}") from None
    except RecursionError:
        # A body nested beyond the interpreter's depth is bad input like any other (it
        # used to escape as RecursionError and end a verification as an internal error).
        raise ValueError("not canonical JSON: nested too deeply") from None
    try:
        same = _REENCODE(value) == text
    except RecursionError:
        raise ValueError("not canonical JSON: nested too deeply") from None
    if not same:
        raise ValueError("JSON is not in canonical form")
    return value


def _no_float(text: str) -> Any:
    raise ValueError(f"non-integer number {text!r} is not allowed")
