"""Peer share formats: one module per peer, each a plain dialect of its tool.

``ssss`` (B. Poettering's ssss), ``gfshare`` (libgfshare), ``vault`` (HashiCorp Vault unseal
keys) and ``slip39`` (SLIP-39 mnemonics) each end with a ``FORMAT`` object implementing
:class:`PeerFormat` over share files. Look formats up by name with :func:`peer_format`:
a format's module is imported only when it is used.
"""

from __future__ import annotations

from tcr_kit.sharing.formats.base import ForeignOptions, PeerFormat, ShareFacts, TextFormat
from tcr_kit.sharing.formats.registry import (
    PEER_FORMATS,
    TEXT_FORMATS,
    detect_peer_format,
    peer_format,
)

__all__ = [
    "PEER_FORMATS",
    "TEXT_FORMATS",
    "ForeignOptions",
    "PeerFormat",
    "ShareFacts",
    "TextFormat",
    "detect_peer_format",
    "peer_format",
]
