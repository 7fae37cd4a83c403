"""``tcr report`` commands around the feed, for readers and witnesses: ``verify`` (heads
extend each other; witnesses' cosignatures), ``prove`` (a consistency proof from the feed
alone), ``add-cosignatures`` (witness cosignatures into the feed's notes) and
``auto-publish`` (the ledger setting that publishes after every change). Registered on the
``report`` group by :mod:`tcr_cli.report`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._ledger import actor, dry_run_option, ledger_option, open_ledger, report_change
from ._output import say
from .app import counted, emit_json, ensure_output_dir, json_option
from .report import report

__all__: list[str] = []


WITNESS_KEYS = click.option(
    "--witness",
    "--witness-key",
    "witness_keys",
    multiple=True,
    metavar="VKEY",
    help="A known witness's key (name+id+base64, cosignature/v1); repeat for each.",
)


def _witnesses(keys: tuple[str, ...]) -> list[Any]:
    from tcr_kit.audit.witness import CosignatureVerifier

    return [CosignatureVerifier.parse(k) for k in keys]


@report.command("auto-publish")
@click.option(
    "--output-dir",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Publish to this site after every change to the ledger (created if missing).",
)
@click.option("--off", is_flag=True, help="Stop publishing after every change.")
@ledger_option
@click.option("--as", "actor_id", envvar="TCR_AS", help="Your roster id (an SA). Env: TCR_AS.")
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="TCR_KEY",
    help="Your registered key (signs the setting). Env: TCR_KEY.",
)
@click.option("--publisher", help="Who signs the published heads (default: you, with --key).")
@click.option(
    "--publisher-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The publisher's unencrypted key file (0600), used after every change.",
)
@click.option("--origin", default=None, help="The log's name (default: tcr-kit/<site>/<id>).")
@click.option("--site", "site_name", default=None, envvar="TCR_SITE", help="Site name.")
@dry_run_option
@json_option
def auto_publish_command(
    output_dir: Path | None,
    off: bool,
    ledger_path: Path | None,
    actor_id: str | None,
    key_file: Path | None,
    publisher: str | None,
    publisher_key: Path | None,
    origin: str | None,
    site_name: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Publish the report after every change (--output-dir SITE), stop (--off), or show the
    setting (neither). The setting is a signed event. A publication runs after the change is
    committed: if it fails, the change stays recorded, the command still succeeds, and a
    warning says to run 'tcr report publish'."""
    from tcr_kit.report.autopublish import auto_publish_setting, set_auto_publish

    if output_dir is not None and off:
        raise click.UsageError("give --output-dir SITE or --off, not both")
    if output_dir is None and not off:
        with open_ledger(ledger_path, read_only=True) as led:
            setting = auto_publish_setting(led)
        doc = setting.__dict__ if setting is not None else {"enabled": False}
        if as_json:
            emit_json({"ok": True, **doc})
        elif setting is None or not setting.enabled:
            say("auto-publish is off")
        else:
            say(
                f"auto-publish is on: to {setting.output_dir}, heads signed by "
                f"{setting.publisher} (set by event {setting.seq})"
            )
        return
    if actor_id is None or key_file is None:
        raise click.UsageError("changing the setting is a signed event: give --as and --key")
    if output_dir is not None and not dry_run:
        ensure_output_dir(output_dir)
    with open_ledger(ledger_path) as led:
        who = actor(actor_id, key_file)
        setting = set_auto_publish(
            led,
            who,
            output_dir,
            publisher=publisher or actor_id,
            key_file=publisher_key or (key_file if publisher is None else None),
            origin=origin,
            site_name=site_name,
            dry_run=dry_run,
        )
        report_change(
            led,
            f"auto-publish {'on: ' + str(setting.output_dir) if setting.enabled else 'off'}",
            dry_run,
            {"auto_publish": setting.__dict__},
        )


@report.command("verify")
@click.argument("site", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--since",
    "since",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A checkpoint note you kept: the feed must contain exactly that head.",
)
@click.option("--key", "vkey", help="The log's verifier key (default: the site's log.vkey).")
@WITNESS_KEYS
@click.option(
    "--need",
    type=click.IntRange(min=0),
    help="Cosignatures of --witness keys the last head must carry (default with --witness: 1).",
)
@json_option
def verify_command(
    site: Path,
    since: Path | None,
    vkey: str | None,
    witness_keys: tuple[str, ...],
    need: int | None,
    as_json: bool,
) -> None:
    """Check that every published head extends the previous one (exit 3 if the log was
    rolled back or forked, or the feed rewritten). With --witness, also check the
    witnesses' cosignatures on the published heads (exit 4 if the last head has fewer than
    --need)."""
    from tcr_kit.errors import InputError
    from tcr_kit.report.feed import verify_site

    witnesses = _witnesses(witness_keys)
    required = need if need is not None else (1 if witnesses else 0)
    if required > len(witnesses):
        raise InputError(f"--need {required} but only {len(witnesses)} --witness keys given")
    kept = since.read_text("utf-8") if since is not None else None
    result = verify_site(site, verifier_key=vkey, since=kept, witnesses=witnesses, need=required)
    if as_json:
        emit_json({"ok": True, **result.__dict__, "witnessed_by": list(result.witnessed_by)})
        return
    say(
        f"feed ok: {counted(result.entries, 'event')}, "
        f"{counted(result.checkpoints, 'signed head')}, each extending "
        f"the last; head at size {result.size} ({result.root}) of {result.origin}"
    )
    if witnesses:
        names = ", ".join(result.witnessed_by) or "none"
        say(
            "last head cosigned by "
            f"{counted(len(result.witnessed_by), 'known witness', 'known witnesses')} "
            f"({names}; needed {required}); "
            f"{counted(result.cosigned_heads, 'head')} with a known cosignature"
        )


@report.command("prove")
@click.argument("site", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--from", "first", type=click.IntRange(min=1), required=True, help="Older size.")
@click.option("--to", "second", type=click.IntRange(min=1), help="Newer size (default: newest).")
@json_option
def prove_command(site: Path, first: int, second: int | None, as_json: bool) -> None:
    """A consistency proof between two published sizes, from the feed alone (the input of
    'tcr witness cosign --proof')."""
    from tcr_kit.report.feed import feed_consistency_proof

    data = feed_consistency_proof(site, first, second)
    if as_json:
        emit_json(data)
        return
    say(f"from: size {first} root {data['from']['root']}")
    say(f"to:   size {data['to']['size']} root {data['to']['root']}")
    say(f"proof: {counted(len(data['proof']), 'hash', 'hashes')}")
    for h in data["proof"]:
        say(f"  {h}")


@report.command("add-cosignatures")
@click.argument("site", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument(
    "notes",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@WITNESS_KEYS
@json_option
def add_cosignatures_command(
    site: Path, notes: tuple[Path, ...], witness_keys: tuple[str, ...], as_json: bool
) -> None:
    """Put the cosignatures of NOTES (from 'tcr witness cosign') into the feed entries that
    published those heads. Exit 3 if a note is not a head the feed published."""
    from tcr_kit.report.feed import add_cosignatures

    texts = [p.read_text("utf-8") for p in notes]
    added = add_cosignatures(site, texts, witnesses=_witnesses(witness_keys))
    if as_json:
        emit_json(
            {
                "ok": True,
                "heads": [
                    {"size": a.size, "added": list(a.added), "witnesses": list(a.witnesses)}
                    for a in added
                ],
            }
        )
        return
    for a in added:
        now = ", ".join(a.witnesses) or "none"
        say(
            f"head at size {a.size}: added {counted(len(a.added), 'cosignature')}; "
            f"cosigned by: {now}"
        )
