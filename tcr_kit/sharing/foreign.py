"""The peer formats as a group (kept for existing imports).

The per-format code is behind :func:`tcr_kit.sharing.formats.peer_format`; the jobs on share
files of any format are in :mod:`tcr_kit.sharing.dispatch` and :mod:`tcr_kit.sharing.convert`.
"""

from __future__ import annotations

from tcr_kit.sharing.formats.base import MAX_TEXT_SHARE_FILE, ForeignOptions, text_share_name
from tcr_kit.sharing.formats.registry import PEER_FORMATS, TEXT_FORMATS

FOREIGN_FORMATS = PEER_FORMATS
"""Names of the peer formats (every format but native)."""

__all__ = [
    "FOREIGN_FORMATS",
    "MAX_TEXT_SHARE_FILE",
    "TEXT_FORMATS",
    "ForeignOptions",
    "text_share_name",
]
