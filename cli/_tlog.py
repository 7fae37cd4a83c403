"""Options and helpers for the Merkle tree head and checkpoint notes, shared by
``tcr audit head`` / ``checkpoint`` (cli/audit.py) and the commands in cli/audit_log.py."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
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
    from tcr_kit.audit.signing import write_new_file
    from tcr_kit.audit.treehead import log_origin, log_tree, sign_tree_head

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
