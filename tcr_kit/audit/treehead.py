"""The log's tree head as a C2SP ``tlog-checkpoint`` signed note.

The origin line names the log: by default ``tcr-kit/<site>/<ledger id>``, where the ledger
id is the first 8 bytes (16 hex digits) of event 1's hash (fixed for the life of a ledger)
and the site is a short name the operators choose (``--site`` / ``$TCR_SITE``, default
``local``); ``--origin`` / ``$TCR_LOG_ORIGIN`` overrides it whole. The note is signed under
the key name = origin by the checkpointing person's registered Ed25519 audit key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tcr_kit.audit.chain import AuditLog
from tcr_kit.audit.merkle import LogTree, tree_from_events
from tcr_kit.audit.note import Checkpoint, NoteSigner, check_name, sign
from tcr_kit.audit.signing import Signer
from tcr_kit.errors import InputError

ORIGIN_ENV = "TCR_LOG_ORIGIN"
SITE_ENV = "TCR_SITE"
DEFAULT_SITE = "local"


def log_tree(log: AuditLog) -> LogTree:
    """The tree over every stored event (one SELECT: one consistent snapshot)."""
    return tree_from_events(log.events())


def ledger_id(tree: LogTree) -> str:
    if not tree.first_event:
        raise InputError("the audit log is empty: it has no id yet")
    return tree.first_event[:16]


def log_origin(tree: LogTree, *, site: str | None = None, origin: str | None = None) -> str:
    """The origin line: ``origin`` if given, else ``tcr-kit/<site>/<ledger id>``."""
    if origin:
        return check_name(origin)
    name = site or DEFAULT_SITE
    if "/" in name:
        raise InputError(f"site name {name!r} must not contain '/'")
    return check_name(f"tcr-kit/{name}/{ledger_id(tree)}")


@dataclass(frozen=True)
class SignedTreeHead:
    checkpoint: Checkpoint
    note: str
    verifier_key: str


def sign_tree_head(
    tree: LogTree, signer: Signer, origin: str, size: int | None = None
) -> SignedTreeHead:
    """Sign the tree head at ``size`` (default: the whole log) as a checkpoint note."""
    n = tree.size if size is None else size
    if n == 0:
        raise InputError("nothing to checkpoint: the log is empty")
    if not 0 < n <= tree.size:
        raise InputError(f"tree size {n} is not between 1 and {tree.size}")
    cp = Checkpoint(origin, n, tree.root(n))
    note_signer = NoteSigner(origin, signer)
    return SignedTreeHead(
        cp, sign(cp.to_text(), [note_signer]), note_signer.verifier.verifier_key()
    )


def transcript_tree(path: str | os.PathLike[str]) -> LogTree:
    """The tree over the events of a transcript file (verify the transcript first)."""
    from tcr_kit.audit.transcript import load_transcript_events

    return tree_from_events(load_transcript_events(path))
