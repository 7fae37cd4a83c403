"""What the card layer needs to know about a share: its canonical bytes and public facts.

A share in the native format (``tcr_kit.sharing.native``) is decoded, checked and stored in
its compact encoding; its set id, index, threshold and count go into the enrolment record.
Anything else is stored as an opaque byte string, described by its SHA-256 digest only.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcr_kit.cards.record import ShareRef
from tcr_kit.errors import InputError

MAX_SHARE_BYTES = 4096
"""The largest share the card profiles hold."""


@dataclass(frozen=True)
class PreparedShare:
    """The exact bytes to store and their public description."""

    data: bytes
    ref: ShareRef


def _native() -> Any | None:
    try:
        return importlib.import_module("tcr_kit.sharing.native")
    except ImportError:
        return None


def prepare_share(data: bytes, source: str = "") -> PreparedShare:
    """Canonicalise a share file's bytes for storage on a card.

    Raises :class:`InputError` for an empty or oversized file and the native decoder's
    integrity errors for a damaged native share.
    """
    if not data:
        raise InputError(f"{source or 'share'}: empty share")
    native = _native()
    if native is not None and native.looks_like(data[:64]):
        share = native.decode_share(data, source)
        compact = bytes(share.encode_compact())
        ref = ShareRef(
            format="tcr-native",
            set_id=share.set_id_hex,
            index=int(share.index),
            threshold=int(share.threshold),
            count=int(share.count),
            label=share.label or None,
            digest=bytes(share.digest()).hex(),
            length=len(compact),
        )
        stored = compact
        if not hmac.compare_digest(hashlib.sha256(stored).hexdigest(), ref.digest):
            raise ValueError("native share digest is not SHA-256 of its compact form")
    else:
        stored = bytes(data)
        ref = ShareRef(
            format="opaque", digest=hashlib.sha256(stored).hexdigest(), length=len(stored)
        )
    if len(stored) > MAX_SHARE_BYTES:
        raise InputError(f"{source or 'share'}: {len(stored)} bytes; cards hold at most 4096")
    return PreparedShare(stored, ref)


def load_share_file(path: Path) -> PreparedShare:
    """Read a share file (from ``tcr shares split`` or another tool) and prepare it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    return prepare_share(data, str(path))
