"""The peer formats tcr-kit knows, by name, imported only when one is used.

Adding a format means writing its module (the dialect, ending with a ``FORMAT`` object that
implements :class:`~tcr_kit.sharing.formats.base.PeerFormat`) and naming it here once.
``tcr shares inspect`` of native shares imports no peer-format module at all.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, cast

from tcr_kit.sharing.errors import UnknownFormatError
from tcr_kit.sharing.formats.base import PeerFormat

__all__ = ["PEER_FORMATS", "TEXT_FORMATS", "detect_peer_format", "peer_format"]

# name -> ("module:attr" of its PeerFormat, detection rank, one line of text per share?)
# Detection tries content before names: a text share is recognised by what it says; gfshare
# shares say nothing, so a file is taken for one by its ``.NNN`` name only as a last resort.
_REGISTRY: dict[str, tuple[str, int, bool]] = {
    "ssss": ("tcr_kit.sharing.formats.ssss:FORMAT", 1, True),
    "vault": ("tcr_kit.sharing.formats.vault:FORMAT", 3, True),
    "slip39": ("tcr_kit.sharing.formats.slip39:FORMAT", 2, True),
    "gfshare": ("tcr_kit.sharing.formats.gfshare:FORMAT", 4, False),
}

PEER_FORMATS: tuple[str, ...] = tuple(_REGISTRY)
"""Names of the peer formats, in the order the CLI lists them."""

TEXT_FORMATS: tuple[str, ...] = tuple(name for name, entry in _REGISTRY.items() if entry[2])
"""Formats whose shares are one line (or mnemonic) of text, in a file each."""

_DETECTION_ORDER: tuple[str, ...] = tuple(sorted(_REGISTRY, key=lambda n: _REGISTRY[n][1]))

_loaded: dict[str, PeerFormat] = {}

if TYPE_CHECKING:  # mypy proves that every format object implements the protocol
    from tcr_kit.sharing.formats import gfshare, slip39, ssss, vault

    _IMPLEMENTATIONS: tuple[PeerFormat, ...] = (
        ssss.FORMAT,
        vault.FORMAT,
        slip39.FORMAT,
        gfshare.FORMAT,
    )


def peer_format(name: str) -> PeerFormat:
    """The format called ``name``, its module imported on first use."""
    found = _loaded.get(name)
    if found is not None:
        return found
    entry = _REGISTRY.get(name)
    if entry is None:
        raise UnknownFormatError(f"unknown share format {name!r}")
    module_name, attr = entry[0].split(":")
    found = cast(PeerFormat, getattr(importlib.import_module(module_name), attr))
    _loaded[name] = found
    return found


def detect_peer_format(path: Path, head: bytes) -> str | None:
    """The peer format a file is in, judged by its first bytes and its name, or ``None``.

    Formats are imported one by one in detection order, and only until one claims the file.
    """
    for name in _DETECTION_ORDER:
        if peer_format(name).detect(path, head):
            return name
    return None
