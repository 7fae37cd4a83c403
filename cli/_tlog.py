"""Options and helpers for the Merkle tree head and checkpoint notes, shared by
``tcr audit head`` / ``checkpoint`` (cli/audit.py) and the commands in cli/audit_log.py."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from tcr_kit.audit.chain import AuditLog, VerifyReport
    from tcr_kit.audit.signing import Signer
    from tcr_kit.custody.ledger import Ledger

F = TypeVar("F", bound=Callable[..., Any])


def _check_origin(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from tcr_kit.audit.note import check_name
    from tcr_kit.errors import InputError

    if value:
        try:
            check_name(value)
        except InputError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def origin_options(f: F) -> F:
    """``--origin`` / ``--site``: the log's name on its checkpoint notes."""
    f = click.option(
        "--site",
        envvar="TCR_SITE",
        help="Site name in the default origin tcr-kit/<site>/<ledger id> (default: local). "
        "Env: TCR_SITE.",
    )(f)
    return click.option(
        "--origin",
        envvar="TCR_LOG_ORIGIN",
        callback=_check_origin,
        help="The log's name (origin line and key name of its notes), replacing the default "
        "tcr-kit/<site>/<ledger id>. Env: TCR_LOG_ORIGIN.",
    )(f)


def note_output_options(f: F) -> F:
    """``--output NOTE`` (and ``--force``) for ``tcr audit checkpoint``."""
    f = origin_options(f)
    f = click.option("--force", is_flag=True, help="Replace NOTE if it exists.")(f)
    return click.option(
        "--output",
        "note_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Also write the tree head as a C2SP checkpoint note (signed note) to this file.",
    )(f)


def tree_head(led: Ledger) -> dict[str, Any]:
    """The tree size and root of a ledger's audit log (recomputed from its events)."""
    from tcr_kit.audit.treehead import log_tree

    tree = log_tree(led.audit)
    root = tree.root()
    return {
        "tree_size": tree.size,
        "tree_root": base64.b64encode(root).decode("ascii"),
        "tree_root_hex": root.hex(),
        "chain_head": tree.chain_head,
    }


def write_checkpoint_note(
    led: Ledger,
    signer: Signer,
    path: Path,
    origin: str | None,
    site: str | None,
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Sign the current tree head as a checkpoint note and write it to ``path``."""
    from tcr_kit.audit.treehead import log_origin, log_tree, sign_tree_head
    from tcr_kit.fileio import write_new_file

    tree = log_tree(led.audit)
    name = log_origin(tree, site=site, origin=origin)
    signed = sign_tree_head(tree, signer, name)
    write_new_file(path, signed.note.encode("utf-8"), mode=0o644, force=force)
    return {
        "note": str(path),
        "origin": name,
        "tree_size": signed.checkpoint.size,
        "tree_root": base64.b64encode(signed.checkpoint.root).decode("ascii"),
        "verifier_key": signed.verifier_key,
    }


def witness_options(f: F) -> F:
    """``--checkpoint NOTE``, ``--witness VKEY ...``, ``--need K`` for ``tcr audit verify``."""
    f = click.option(
        "--need",
        type=click.IntRange(min=1),
        help="Refuse the checkpoint unless at least this many --witness keys cosigned it "
        "(default with --witness: 1).",
    )(f)
    f = click.option(
        "--witness",
        "witness_keys",
        multiple=True,
        help="A known witness's key (name+id+base64, cosignature/v1); repeat for each.",
    )(f)
    return click.option(
        "--checkpoint",
        "head_note",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Also check this checkpoint note: signed by a registered key, root equal to the "
        "recomputed tree at its size, cosigned by --need of the --witness keys.",
    )(f)


def check_head_note(
    head_note: Path | None,
    witness_keys: tuple[str, ...],
    need: int | None,
    report: VerifyReport,
    *,
    led: Ledger | None = None,
    transcript: Path | None = None,
) -> dict[str, Any]:
    """The ``--checkpoint``/``--witness``/``--need`` check of ``tcr audit verify``."""
    from tcr_kit.audit.note import Checkpoint, parse
    from tcr_kit.audit.treehead import log_tree, transcript_tree
    from tcr_kit.audit.witness import CosignatureVerifier, check_witnessed_head, note_verifiers
    from tcr_kit.errors import InputError

    if head_note is None:
        if witness_keys or need is not None:
            raise InputError("--witness and --need check a --checkpoint NOTE; give one")
        return {}
    witnesses = [CosignatureVerifier.parse(k) for k in witness_keys]
    required = need if need is not None else (1 if witnesses else 0)
    if required > len(witnesses):
        raise InputError(f"--need {required} but only {len(witnesses)} --witness keys given")
    try:
        text = head_note.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{head_note}: cannot read the checkpoint note: {exc}") from None
    note = parse(text)
    names = {s.name for s in note.signatures}
    size = Checkpoint.parse(note.text).size  # keys valid at that size may have signed it
    pubs = [
        k.public_key
        for k in report.keys.values()
        if k.algorithm == "ed25519"
        and k.added_seq <= size
        and (k.revoked_seq is None or k.revoked_seq > size)
    ]
    tree = transcript_tree(transcript) if transcript is not None else log_tree(_audit(led))
    head = check_witnessed_head(text, tree, note_verifiers(pubs, names), witnesses, required)
    return {
        "checkpoint": {
            "origin": head.checkpoint.origin,
            "tree_size": head.checkpoint.size,
            "tree_root": base64.b64encode(head.checkpoint.root).decode("ascii"),
            "signed_by": head.log_signers,
            "witnessed_by": head.witnesses,
            "need": required,
        }
    }


def _audit(led: Ledger | None) -> AuditLog:
    if led is None:
        raise ValueError("a ledger or a transcript is needed")
    return led.audit
