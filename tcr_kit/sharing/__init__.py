"""Secret sharing: the native format, the peer formats, and jobs on share files.

The public API is listed in ``__all__``; names are imported on first use, so importing this
package (or :mod:`tcr_kit.sharing.errors`) costs nothing of numpy or the peer formats.

* native shares in memory or files: :mod:`tcr_kit.sharing.native`
  (:func:`split_bytes`, :func:`combine_shares`, :func:`decode_share`, ...);
* peer formats by name: :func:`peer_format`, each a :class:`PeerFormat`;
* share files of any format: :func:`detect_set`, :func:`split_to_dir`,
  :func:`combine_files`, :func:`inspect_files`, and conversion (:func:`convert_shares`);
* signed share-set manifests (:class:`ShareManifest`, :func:`check_share`) and extending
  a set at new indices (:func:`extend_to_dir`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tcr_kit.sharing.convert import (
        Recovered,
        convert_shares,
        recorded_size,
        recover_secret,
        split_secret,
    )
    from tcr_kit.sharing.dispatch import (
        FORMATS,
        DetectedSet,
        PeerSplit,
        ShareFilesRejected,
        combine_files,
        detect_set,
        inspect_file,
        inspect_files,
        split_to_dir,
        worst_exit_code,
    )
    from tcr_kit.sharing.errors import (
        AmbiguousSetsError,
        DuplicateShareError,
        ForeignShareError,
        InconsistentSharesError,
        NotEnoughSharesError,
        ShareChangedError,
        ShareChecksumError,
        ShareError,
        UnknownFormatError,
    )
    from tcr_kit.sharing.files import SplitOutcome, detect_format
    from tcr_kit.sharing.formats import (
        PEER_FORMATS,
        ForeignOptions,
        PeerFormat,
        ShareFacts,
        peer_format,
    )
    from tcr_kit.sharing.manifest import (
        ManifestEntry,
        ManifestSigner,
        NewShare,
        ShareManifest,
        check_share,
        load_manifest,
        parse_manifest,
    )
    from tcr_kit.sharing.native import (
        NativeShare,
        ShareHeader,
        SplitManifest,
        combine_shares,
        combine_stream,
        decode_share,
        open_share_file,
        split_bytes,
        split_stream,
    )
    from tcr_kit.sharing.native_extend import (
        ExtendOutcome,
        IndexInUseError,
        extend_bytes,
        extend_stream,
        extend_to_dir,
        plan_indices,
    )
    from tcr_kit.sharing.result import CombineResult

_HOMES: dict[str, tuple[str, ...]] = {
    "tcr_kit.sharing.convert": (
        "Recovered",
        "convert_shares",
        "recorded_size",
        "recover_secret",
        "split_secret",
    ),
    "tcr_kit.sharing.dispatch": (
        "FORMATS",
        "DetectedSet",
        "PeerSplit",
        "ShareFilesRejected",
        "combine_files",
        "detect_set",
        "inspect_file",
        "inspect_files",
        "split_to_dir",
        "worst_exit_code",
    ),
    "tcr_kit.sharing.errors": (
        "AmbiguousSetsError",
        "DuplicateShareError",
        "ForeignShareError",
        "InconsistentSharesError",
        "NotEnoughSharesError",
        "ShareChangedError",
        "ShareChecksumError",
        "ShareError",
        "UnknownFormatError",
    ),
    "tcr_kit.sharing.files": ("SplitOutcome", "detect_format"),
    "tcr_kit.sharing.formats": (
        "PEER_FORMATS",
        "ForeignOptions",
        "PeerFormat",
        "ShareFacts",
        "peer_format",
    ),
    "tcr_kit.sharing.native": (
        "NativeShare",
        "ShareHeader",
        "SplitManifest",
        "combine_shares",
        "combine_stream",
        "decode_share",
        "open_share_file",
        "split_bytes",
        "split_stream",
    ),
    "tcr_kit.sharing.result": ("CombineResult",),
    "tcr_kit.sharing.manifest": (
        "ManifestEntry",
        "ManifestSigner",
        "NewShare",
        "ShareManifest",
        "check_share",
        "load_manifest",
        "parse_manifest",
    ),
    "tcr_kit.sharing.native_extend": (
        "ExtendOutcome",
        "IndexInUseError",
        "extend_bytes",
        "extend_stream",
        "extend_to_dir",
        "plan_indices",
    ),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "FORMATS",
    "PEER_FORMATS",
    "AmbiguousSetsError",
    "CombineResult",
    "DetectedSet",
    "DuplicateShareError",
    "ExtendOutcome",
    "ForeignOptions",
    "ForeignShareError",
    "InconsistentSharesError",
    "IndexInUseError",
    "ManifestEntry",
    "ManifestSigner",
    "NativeShare",
    "NewShare",
    "NotEnoughSharesError",
    "PeerFormat",
    "PeerSplit",
    "Recovered",
    "ShareChangedError",
    "ShareChecksumError",
    "ShareError",
    "ShareFacts",
    "ShareFilesRejected",
    "ShareHeader",
    "ShareManifest",
    "SplitManifest",
    "SplitOutcome",
    "UnknownFormatError",
    "check_share",
    "combine_files",
    "combine_shares",
    "combine_stream",
    "convert_shares",
    "decode_share",
    "detect_format",
    "detect_set",
    "extend_bytes",
    "extend_stream",
    "extend_to_dir",
    "inspect_file",
    "inspect_files",
    "load_manifest",
    "open_share_file",
    "parse_manifest",
    "peer_format",
    "plan_indices",
    "recorded_size",
    "recover_secret",
    "split_bytes",
    "split_secret",
    "split_stream",
    "split_to_dir",
    "worst_exit_code",
]


def __getattr__(name: str) -> object:
    # Submodules (``from tcr_kit.sharing import native``) fall through to the import system.
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
