"""Native share format, version 1: constants, the header and its byte layout.

The header is everything in a share except its payload: set id, threshold, count, index,
label, the share of the integrity key K, the secret length, the tag and the CRC. The byte
layout is in ``docs/formats.md``; :mod:`tcr_kit.sharing.native` explains the design.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from tcr_kit.sharing.errors import ShareError
from tcr_kit.sharing.gf256 import RIJNDAEL_POLY
from tcr_kit.sharing.gf256 import field as gf_field

__all__ = [
    "FIELD",
    "FIXED_HEAD",
    "FORMAT_VERSION",
    "KEY_SIZE",
    "MAGIC",
    "MAX_LABEL_BYTES",
    "SET_ID_SIZE",
    "TAG_CONTEXT",
    "TAG_SIZE",
    "TEXT_PREFIX",
    "TRAILER_SIZE",
    "ShareHeader",
    "parse_head",
    "parse_trailer",
    "validate_label",
]

FORMAT_VERSION = 1
"""The version byte every native share starts its body with."""

MAGIC = b"\x89TCR"
"""First four bytes of the compact form (0x89 keeps it apart from any text)."""

TEXT_PREFIX = "TCRS"
"""First four symbols of the text form."""

SET_ID_SIZE = 8
"""Bytes of random share-set id (64 bits)."""

KEY_SIZE = 16
"""Bytes of the integrity key K and of each share of it."""

TAG_SIZE = 16
"""Bytes of the truncated HMAC-SHA256 tag."""

MAX_LABEL_BYTES = 255
"""Longest label, in UTF-8 bytes."""

TAG_CONTEXT = b"tcr-kit/share-tag/v1"
"""Domain separation prefix of the tag input."""

FIXED_HEAD = 14
"""Bytes before the label: version, flags, set id (8), m, n, x, label length."""

TRAILER_SIZE = 8 + TAG_SIZE + 4
"""Bytes after the payload: secret length, tag, CRC-32."""

FIELD = gf_field(RIJNDAEL_POLY)
"""GF(2^8) of the native format (the Rijndael polynomial)."""


@dataclass(frozen=True)
class ShareHeader:
    """Everything in a native share except its payload."""

    set_id: bytes
    threshold: int
    count: int
    index: int
    label: str
    kshare: bytes = field(repr=False)
    secret_length: int
    tag: bytes = field(repr=False)
    crc: int
    version: int = FORMAT_VERSION

    @property
    def set_id_hex(self) -> str:
        return self.set_id.hex()

    def head_bytes(self) -> bytes:
        """Version through label: the bytes the tag covers before the length."""
        label = self.label.encode("utf-8")
        return (
            bytes([self.version, 0])
            + self.set_id
            + bytes([self.threshold, self.count, self.index, len(label)])
            + label
        )

    @property
    def body_length(self) -> int:
        return len(self.head_bytes()) + KEY_SIZE + self.secret_length + TRAILER_SIZE


def validate_label(label: str | None) -> str:
    if label is None:
        return ""
    encoded = label.encode("utf-8")
    if len(encoded) > MAX_LABEL_BYTES:
        raise ValueError(f"label longer than {MAX_LABEL_BYTES} UTF-8 bytes")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in label):
        raise ValueError("label contains control characters")
    return label


def parse_head(buf: bytes, source: str) -> tuple[ShareHeader, int]:
    """Parse version..kshare; returns a header with placeholder trailer and the payload offset."""
    if len(buf) < FIXED_HEAD:
        raise ShareError(source, "truncated share (header incomplete)")
    version, flags = buf[0], buf[1]
    if version != FORMAT_VERSION:
        raise ShareError(source, f"unsupported native format version {version}")
    if flags != 0:
        raise ShareError(source, f"unknown flags {flags:#04x}")
    set_id = bytes(buf[2:10])
    threshold, count, index, label_len = buf[10], buf[11], buf[12], buf[13]
    if not 1 <= threshold <= count:
        raise ShareError(source, f"invalid threshold {threshold} of {count}")
    if not 1 <= index <= count:
        raise ShareError(source, f"invalid share index {index} of {count}")
    end_label = FIXED_HEAD + label_len
    if len(buf) < end_label + KEY_SIZE:
        raise ShareError(source, "truncated share (header incomplete)")
    try:
        label = bytes(buf[FIXED_HEAD:end_label]).decode("utf-8")
        validate_label(label)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ShareError(source, "invalid label") from exc
    kshare = bytes(buf[end_label : end_label + KEY_SIZE])
    header = ShareHeader(
        set_id=set_id,
        threshold=threshold,
        count=count,
        index=index,
        label=label,
        kshare=kshare,
        secret_length=0,
        tag=b"",
        crc=0,
    )
    return header, end_label + KEY_SIZE


def parse_trailer(
    header: ShareHeader, trailer: bytes, body_length: int, source: str
) -> ShareHeader:
    secret_length = struct.unpack(">Q", trailer[:8])[0]
    tag = bytes(trailer[8 : 8 + TAG_SIZE])
    crc = struct.unpack(">I", trailer[8 + TAG_SIZE :])[0]
    complete = ShareHeader(
        set_id=header.set_id,
        threshold=header.threshold,
        count=header.count,
        index=header.index,
        label=header.label,
        kshare=header.kshare,
        secret_length=secret_length,
        tag=tag,
        crc=crc,
    )
    if secret_length < 1 or complete.body_length != body_length:
        raise ShareError(source, "share length does not match its recorded secret length")
    return complete
