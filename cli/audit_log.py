"""``tcr audit prove``, ``receipt`` and ``check-receipt``: the public-log commands, added to
the ``tcr audit`` group of cli/audit.py (the command table points ``audit`` here)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click

from ._ledger import ledger_option, open_ledger
from ._output import say
from .app import emit_json, json_option
from .audit import audit
from .audit_show import show as _show  # noqa: F401  (registers 'tcr audit show')

__all__ = ["audit"]


def _read_text(path: Path) -> str:
    from tcr_kit.errors import InputError, OperationalError

    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None


@audit.command("prove")
@ledger_option
@click.option("--from", "first", type=click.IntRange(min=1), required=True, help="Older size.")
@click.option("--to", "second", type=click.IntRange(min=1), help="Newer size (default: all).")
@json_option
def prove(ledger_path: Path | None, first: int, second: int | None, as_json: bool) -> None:
    """Print a consistency proof between two tree sizes (RFC 9162, base64 hashes)."""
    from tcr_kit.audit.treehead import log_tree
    from tcr_kit.errors import InputError

    with open_ledger(ledger_path) as led:
        tree = log_tree(led.audit)
    to = tree.size if second is None else second
    if not first <= to <= tree.size:
        raise InputError(f"need 1 <= --from ({first}) <= --to ({to}) <= tree size {tree.size}")

    def b64(h: bytes) -> str:
        return base64.b64encode(h).decode("ascii")

    data: dict[str, Any] = {
        "ok": True,
        "from": {"size": first, "root": b64(tree.root(first))},
        "to": {"size": to, "root": b64(tree.root(to))},
        "proof": [b64(h) for h in tree.tree.consistency_proof(first, to)],
    }
    if as_json:
        emit_json(data)
        return
    say(f"from: size {first} root {data['from']['root']}")
    say(f"to:   size {to} root {data['to']['root']}")
    say(f"proof: {len(data['proof'])} hashes")
    for h in data["proof"]:
        say(h)


@audit.command("receipt")
@ledger_option
@click.option("--as", "participant", required=True, help="Roster id of the participant.")
@click.option("--ceremony", type=click.IntRange(min=1), help="Only this ceremony's events.")
@click.option(
    "--checkpoint",
    "note_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="A checkpoint note of this log (from 'tcr audit checkpoint --output').",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@json_option
def receipt(
    ledger_path: Path | None,
    participant: str,
    ceremony: int | None,
    note_path: Path,
    output: Path,
    force: bool,
    as_json: bool,
) -> None:
    """Write one participant's events, each with an inclusion proof against a signed
    checkpoint, to check offline with 'tcr audit check-receipt'."""
    from tcr_kit.audit.receipt import build_receipt, write_receipt

    note = _read_text(note_path)
    with open_ledger(ledger_path) as led:
        doc = build_receipt(led.audit, participant, note, ceremony=ceremony)
    write_receipt(doc, output, force=force)
    data = {
        "ok": True,
        "file": str(output),
        "participant": participant,
        "ceremony": ceremony,
        "events": [e["seq"] for e in doc["events"]],
    }
    if as_json:
        emit_json(data)
        return
    say(f"wrote {output}: {len(doc['events'])} events of {participant}")


@audit.command("check-receipt")
@click.argument("receipt_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--checkpoint",
    "note_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The published checkpoint note to check against (default: the receipt's own).",
)
@click.option(
    "--key", "vkeys", multiple=True, required=True, help="The log's verifier key (name+id+key)."
)
@json_option
def check_receipt(
    receipt_path: Path, note_path: Path | None, vkeys: tuple[str, ...], as_json: bool
) -> None:
    """Check a receipt offline, with no ledger: signature of the checkpoint, every event's
    inclusion proof, hash and signature, and the signed statements inside the events
    (approvals, overrides, seal attestations, share manifests) under the keys the receipt
    carries. Exit 3 naming what failed."""
    from tcr_kit.audit.note import NoteVerifier
    from tcr_kit.audit.receipt import check_receipt as check
    from tcr_kit.audit.receipt import load_receipt

    verifiers = [NoteVerifier.parse(k) for k in vkeys]
    note = _read_text(note_path) if note_path is not None else None
    result = check(load_receipt(receipt_path), verifiers, note)
    cp = result.checkpoint
    data = {
        "ok": True,
        "participant": result.participant,
        "ceremony": result.ceremony,
        "origin": cp.origin,
        "tree_size": cp.size,
        "tree_root": base64.b64encode(cp.root).decode("ascii"),
        "checkpoint_signed_by": result.signed_by,
        "events": [
            {"seq": e.seq, "kind": e.kind, "time": e.time, "actor": e.actor} for e in result.events
        ],
    }
    if as_json:
        emit_json(data)
        return
    where = f" (ceremony {result.ceremony})" if result.ceremony is not None else ""
    say(
        f"receipt OK: {len(result.events)} events of {result.participant}{where} are in "
        f"{cp.origin} at tree size {cp.size}"
    )
    for e in result.events:
        say(f"  event {e.seq} {e.time} {e.kind} by {e.actor}")
