"""``tcr report``: the public report (static site), its signed feed, and printable forms."""

from __future__ import annotations

from pathlib import Path

import click

from ._ledger import ledger_option, load_signer, open_ledger
from .app import emit_json, json_option

__all__ = ["report"]

OUTPUT_DIR = click.option(
    "--output-dir",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The site's folder (created if missing).",
)


@click.group()
def report() -> None:
    """The public report: a static site, a signed feed of heads, printable forms."""


@report.command("build")
@OUTPUT_DIR
@ledger_option
@json_option
def build(output_dir: Path, ledger_path: Path | None, as_json: bool) -> None:
    """Write the whole report (HTML + CSS, no scripts, works from file://) to --output-dir."""
    from tcr_kit.report.site import build_site

    with open_ledger(ledger_path) as led:
        result = build_site(led, output_dir)
    index = (output_dir / "index.html").resolve()
    if as_json:
        emit_json(
            {
                "ok": True,
                "index": str(index),
                "pages": result.pages,
                "withheld_transcripts": {str(k): v for k, v in result.withheld.items() if v},
            }
        )
        return
    click.echo(f"wrote {len(result.pages)} pages; open {index.as_uri()}")
    for number, why in sorted(result.withheld.items()):
        if why:
            click.echo(f"ceremony {number}: transcript withheld ({why[0]})")


@report.command("publish")
@OUTPUT_DIR
@ledger_option
@click.option("--as", "actor_id", envvar="TCR_AS", required=True, help="Your roster id.")
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="TCR_KEY",
    required=True,
    help="Your registered Ed25519 key (signs the new head).",
)
@click.option("--origin", default=None, help="The log's name (default: tcr-kit/<site>/<id>).")
@click.option("--site", "site_name", default=None, envvar="TCR_SITE", help="Site name.")
@json_option
def publish_command(
    output_dir: Path,
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    origin: str | None,
    site_name: str | None,
    as_json: bool,
) -> None:
    """Publish the ledger's new events: feed entries (Atom, JSON), the new head as a signed
    checkpoint with the consistency proof from the last one, the pages they touch. Refuses
    (exit 3) a ledger that does not extend what the site published."""
    from tcr_kit.report.feed import publish

    signer = load_signer(key_file)
    with open_ledger(ledger_path) as led:
        result = publish(
            led, output_dir, person=actor_id, signer=signer, origin=origin, site_name=site_name
        )
    if as_json:
        emit_json(
            {
                "ok": True,
                "published": result.published,
                "size": result.size,
                "root": result.root,
                "verifier_key": result.verifier_key,
                "pages": result.pages,
            }
        )
        return
    if result.published == 0:
        click.echo(f"nothing new: the site already shows the head at size {result.size}")
        return
    click.echo(
        f"published {result.published} events; head at size {result.size} ({result.root}); "
        f"{result.pages} pages rewritten"
    )
    click.echo(f"verifier key: {result.verifier_key}")


@report.command("verify")
@click.argument("site", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--since",
    "since",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A checkpoint note you kept: the feed must contain exactly that head.",
)
@click.option("--key", "vkey", help="The log's verifier key (default: the site's log.vkey).")
@json_option
def verify_command(site: Path, since: Path | None, vkey: str | None, as_json: bool) -> None:
    """Check that every published head extends the previous one (exit 3 if the log was
    rolled back or forked, or the feed rewritten)."""
    from tcr_kit.report.feed import verify_site

    kept = since.read_text("utf-8") if since is not None else None
    result = verify_site(site, verifier_key=vkey, since=kept)
    if as_json:
        emit_json({"ok": True, **result.__dict__})
        return
    click.echo(
        f"feed ok: {result.entries} events, {result.checkpoints} signed heads, each extending "
        f"the last; head at size {result.size} ({result.root}) of {result.origin}"
    )
