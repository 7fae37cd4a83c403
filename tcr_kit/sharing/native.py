"""tcr-kit's native share format (version 1): shares that know when they are wrong.

Every share carries its set id, threshold, count, index, label and secret length, a CRC-32
that catches any single mistyped symbol or swap of two neighbours and names the share, and
set-level integrity data: a share of a random 128-bit *integrity key* K (split with the same
x values as the secret) and a tag ``HMAC-SHA256(K, header || length || SHA-256(payload))``.

Why this design:

* m-1 shares reveal nothing about the secret. K is independent of the secret and itself
  Shamir-shared, so the tags (MACs under an unknown key of data the holder already has) carry
  no information; there is no hash of the secret anywhere, which matters for low-entropy
  PINs an attacker could otherwise test guesses against.
* A corrupted, substituted or foreign share cannot pass: a combiner reconstructs K from m
  shares and accepts only shares whose tags verify under it. Forging a tag without K, or
  shifting K so that forged tags verify, succeeds with probability 2^-128 per attempt.
* With more than m shares the combiner searches for m shares that agree (their tags verify
  under the K they reconstruct), then checks every other share against that K and the
  integrity-key polynomial, so it names each inconsistent share and recovers from the rest.
  The search works on 16-byte values, never on the (possibly huge) payloads.
* Payloads are checked by digest before a single byte of secret is written, so a combine
  never outputs a wrong secret, even to a pipe.

The byte layout is in ``docs/formats.md``. Two encodings share one body: the compact form
(``b"\\x89TCR"`` + body) for cards and files, and the text form (``TCRS`` + Crockford base32 of
the body, grouped) for paper and screens.

The code lives in four modules, re-exported here (``from tcr_kit.sharing import native`` and
``native.open_share_file`` etc. keep working): :mod:`~tcr_kit.sharing.native_header`
(constants, header, byte layout), :mod:`~tcr_kit.sharing.native_share` (a share, its checks
and its compact and text forms), :mod:`~tcr_kit.sharing.native_split` and
:mod:`~tcr_kit.sharing.native_combine`. The splitting names are resolved on first use
(PEP 562): a combine or an inspection does not import the splitter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcr_kit._lazy import lazy_names
from tcr_kit.sharing.native_combine import (
    MAX_SUBSET_TRIALS,
    Selection,
    combine_shares,
    combine_single_pass,
    combine_stream,
    select_shares,
    single_pass_plan,
)
from tcr_kit.sharing.native_header import (
    FORMAT_VERSION,
    KEY_SIZE,
    MAGIC,
    MAX_LABEL_BYTES,
    SET_ID_SIZE,
    TAG_CONTEXT,
    TAG_SIZE,
    TEXT_PREFIX,
    ShareHeader,
)
from tcr_kit.sharing.native_share import (
    TEXT_SIZE_LIMIT,
    NativeShare,
    decode_share,
    looks_like,
    open_share_file,
)

if TYPE_CHECKING:
    from tcr_kit.sharing.native_split import (
        SplitManifest,
        canonical_json,
        split_bytes,
        split_stream,
    )

__all__ = [
    "FORMAT_VERSION",
    "KEY_SIZE",
    "MAGIC",
    "MAX_LABEL_BYTES",
    "MAX_SUBSET_TRIALS",
    "SET_ID_SIZE",
    "TAG_CONTEXT",
    "TAG_SIZE",
    "TEXT_PREFIX",
    "TEXT_SIZE_LIMIT",
    "NativeShare",
    "Selection",
    "ShareHeader",
    "SplitManifest",
    "canonical_json",
    "combine_shares",
    "combine_single_pass",
    "combine_stream",
    "decode_share",
    "looks_like",
    "open_share_file",
    "select_shares",
    "single_pass_plan",
    "split_bytes",
    "split_stream",
]

_SPLIT = "tcr_kit.sharing.native_split"
__getattr__, __dir__ = lazy_names(
    __name__,
    dict.fromkeys(("SplitManifest", "canonical_json", "split_bytes", "split_stream"), _SPLIT),
    __all__,
)
