"""``tcr witness``: run a witness for a log: keep the last checkpoint seen per origin,
cosign only consistent extensions of it (C2SP tlog-cosignature, Ed25519 cosignature/v1);
and ``tcr witness sign``: a custody witness co-signs one event from its signing request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ._output import say
from .app import emit_json, json_option

STATE = click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TCR_WITNESS_STATE",
    required=True,
    help="The witness's folder: its key and what it has seen. Env: TCR_WITNESS_STATE.",
)


@click.group()
def witness() -> None:
    """Witness a log (cosign checkpoints); co-sign custody events.

    Cosign the checkpoints of a tcr-kit audit log that extend what you saw, or co-sign a
    custody event you witnessed ('sign')."""


@witness.command("init")
@STATE
@click.option("--name", required=True, help="Your witness's name, e.g. witness.example.org/alice.")
@json_option
def init(state_dir: Path, name: str, as_json: bool) -> None:
    """Create a witness (a new Ed25519 key in STATE) and print its verifier key."""
    from tcr_kit.audit.witness import WitnessState

    vkey = WitnessState.create(state_dir, name).cosigner().verifier.verifier_key()
    if as_json:
        emit_json({"ok": True, "state": str(state_dir), "name": name, "witness_key": vkey})
        return
    say(f"witness {name} created in {state_dir}")
    say(f"witness key (publish it): {vkey}")


@witness.command("cosign")
@STATE
@click.option("--log-key", "log_keys", multiple=True, required=True, help="The log's verifier key.")
@click.option(
    "--proof",
    "proof_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Consistency proof from the last size this witness cosigned ('tcr audit prove --json').",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the cosigned note here (default: stdout). May be CHECKPOINT itself.",
)
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def cosign(
    state_dir: Path,
    log_keys: tuple[str, ...],
    proof_path: Path | None,
    output: Path | None,
    checkpoint: Path,
    as_json: bool,
) -> None:
    """Cosign CHECKPOINT if it extends the last checkpoint seen for its log (exit 3 if it
    was rolled back or forked)."""
    from tcr_kit.audit.note import NoteVerifier
    from tcr_kit.audit.witness import WitnessState, cosign_checkpoint
    from tcr_kit.errors import InputError
    from tcr_kit.fileio import write_new_file

    from .audit_log import _read_text

    keys = [NoteVerifier.parse(k) for k in log_keys]
    proof: Any = None
    if proof_path is not None:
        try:
            proof = json.loads(_read_text(proof_path))
        except ValueError:
            raise InputError(f"{proof_path}: not JSON") from None
    result = cosign_checkpoint(WitnessState(state_dir), _read_text(checkpoint), keys, proof)
    if output is not None:
        write_new_file(output, result.note.encode("utf-8"), mode=0o644, force=True)
    cp, prev = result.checkpoint, result.previous
    seen = "first checkpoint seen" if prev is None else f"extends size {prev.size}"
    if as_json:
        emit_json(
            {
                "ok": True,
                "origin": cp.origin,
                "tree_size": cp.size,
                "previous_size": None if prev is None else prev.size,
                "note": result.note if output is None else str(output),
            }
        )
        return
    if output is None:
        click.echo(result.note, nl=False)
        say(f"cosigned {cp.origin} at tree size {cp.size} ({seen})", err=True)
    else:
        say(f"cosigned {cp.origin} at tree size {cp.size} ({seen}): wrote {output}")


@witness.command("show")
@STATE
@json_option
def show(state_dir: Path, as_json: bool) -> None:
    """Print the witness's key and the last checkpoint it cosigned for each log."""
    import base64

    from tcr_kit.audit.witness import WitnessState

    state = WitnessState(state_dir)
    vkey = state.cosigner().verifier.verifier_key()
    logs = [
        {"origin": s.origin, "tree_size": s.size, "tree_root": base64.b64encode(s.root).decode()}
        for s in state.all_seen()
    ]
    if as_json:
        emit_json({"ok": True, "witness_key": vkey, "logs": logs})
        return
    say(f"witness key: {vkey}")
    for log in logs:
        say(f"  {log['origin']}: tree size {log['tree_size']} root {log['tree_root']}")


@witness.command("sign")
@click.argument("request", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "person", envvar="TCR_AS", required=True, help="Your roster id. Env: TCR_AS.")
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Your key file (0600): the one the roster knows for you.",
)
@click.option(
    "--card",
    "card_spec",
    metavar="SPEC",
    help="Sign with your card instead: module=PATH,token-label=L[,pin-file=F].",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write your co-signature (give it to the actor: --witness-signature).",
)
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@json_option
def sign(
    request: Path,
    person: str,
    key_file: Path | None,
    card_spec: str | None,
    output: Path,
    force: bool,
    as_json: bool,
) -> None:
    """Co-sign the custody event in REQUEST (written by a command's --signing-request):
    shows what you vouch for and its hash, then signs that hash with your key or card."""
    from contextlib import ExitStack

    from tcr_kit.audit.cosign import SigningRequest
    from tcr_kit.audit.pgpwords import digest_words
    from tcr_kit.fileio import write_new_file

    from ._ledger import load_signer, open_card_signer

    if (key_file is None) == (card_spec is None):
        raise click.UsageError("give exactly one of --key and --card")
    req = SigningRequest.load(request)
    if req.person != person:
        raise click.UsageError(f"{request} asks {req.person} to co-sign, not {person}")
    event = req.event()
    hex_, words = digest_words(req.hash)
    with ExitStack() as stack:
        signer = (
            load_signer(key_file)
            if key_file is not None
            else stack.enter_context(open_card_signer(str(card_spec), person))
        )
        signature = req.sign(signer)
    data = (json.dumps(signature.to_json(), indent=1, sort_keys=True) + "\n").encode("ascii")
    write_new_file(output, data, mode=0o644, force=force)
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    details = {k: v for k, v in (payload or {}).items() if k not in ("records", "cosigners")}
    if as_json:
        emit_json(
            {
                "ok": True,
                "person": person,
                "event": {k: event.get(k) for k in ("seq", "time", "actor", "kind", "subjects")},
                "details": details,
                "sha256": hex_,
                "words": words,
                "output": str(output),
            }
        )
        return
    say(f"event {event.get('seq')} {event.get('kind')} by {event.get('actor')}")
    say(f"  at:       {event.get('time')}")
    say(f"  objects:  {', '.join(map(str, event.get('subjects') or []))}")
    for k, v in sorted(details.items()):
        say(f"  {k}: {json.dumps(v, sort_keys=True)}")
    say(f"  sha256:    {hex_}")
    say(f"  PGP words: {words}")
    say(f"co-signed as {person}: wrote {output}")
