"""``tcr report``: the public report (static site), its signed feed, and printable forms."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from ._ledger import (
    ledger_option,
    load_signer,
    open_ledger,
)
from ._output import say
from .app import (
    counted,
    emit_json,
    json_mode,
    json_mode_option,
    json_option,
)

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
    """The public report: a static site, a signed feed, printable forms."""


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
    say(f"wrote {counted(len(result.pages), 'page')}; open {index.as_uri()}")
    for number, why in sorted(result.withheld.items()):
        if why:
            say(f"ceremony {number}: transcript withheld ({why[0]})")


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
                "charts_redrawn": list(result.charts),
            }
        )
        return
    if result.published == 0:
        say(f"nothing new: the site already shows the head at size {result.size}")
        return
    say(
        f"published {counted(result.published, 'event')}; head at size {result.size} "
        f"({result.root}); {counted(result.pages, 'page')} rewritten"
    )
    say(f"verifier key: {result.verifier_key}")


# -- printable forms -------------------------------------------------------------------------
_OUTPUT_FILE = click.option(
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The PDF to write (never overwritten).",
)


def OUTPUT(f: Callable[..., None]) -> Callable[..., None]:
    """``--output FILE`` and ``--json`` (what was written, as JSON) of every form."""
    return json_mode_option(_OUTPUT_FILE(f))


def _write_pdf(output: Path, data: bytes, *, secret: bool = False) -> None:
    from tcr_kit.fileio import SECRET_MODE, write_new_file

    write_new_file(output, data, mode=SECRET_MODE if secret else 0o644)
    if json_mode():
        emit_json({"ok": True, "output": str(output), "bytes": len(data), "secret": secret})
        return
    say(f"wrote {output}" + (" (0600: it holds a share)" if secret else ""))


@report.group("form")
def form() -> None:
    """Printable PDF forms: ceremony script, bag inspection, paper share, receipt."""


@form.command("script")
@ledger_option
@click.option("--ceremony", "number", type=click.IntRange(min=1), help="Steps of this ceremony.")
@click.option(
    "--steps",
    "steps_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A text file, one step per line (instead of the ledger's).",
)
@click.option("--title", default=None)
@OUTPUT
def form_script(
    ledger_path: Path | None,
    number: int | None,
    steps_file: Path | None,
    title: str | None,
    output: Path,
) -> None:
    """The ceremony script with Initial and Time columns for the Internal Witness."""
    from tcr_kit.errors import InputError
    from tcr_kit.report.forms import ceremony_script_pdf

    facility = ""
    if steps_file is not None:
        steps = [s.strip() for s in steps_file.read_text("utf-8").splitlines() if s.strip()]
    elif number is not None:
        with open_ledger(ledger_path) as led:
            cer = led.ceremony(number)
        steps, facility = list(cer.steps), cer.facility
    else:
        raise InputError("give --ceremony N (steps from the ledger) or --steps FILE")
    if not steps:
        raise InputError("the script has no steps")
    name = title or (f"Ceremony {number} script" if number else "Ceremony script")
    _write_pdf(output, ceremony_script_pdf(name, steps, facility=facility))


@form.command("inspection")
@ledger_option
@click.option("--bag", "serials", multiple=True, help="A bag to inspect (default: all sealed).")
@click.option("--title", default="Bag inspection")
@OUTPUT
def form_inspection(
    ledger_path: Path | None, serials: tuple[str, ...], title: str, output: Path
) -> None:
    """A bag inspection form prefilled with the expected serials from the ledger."""
    from tcr_kit.errors import InputError
    from tcr_kit.report.forms import bag_inspection_pdf, expected_bags

    with open_ledger(ledger_path) as led:
        bags = expected_bags(led, serials)
    if not bags:
        raise InputError("no bag to inspect")
    _write_pdf(output, bag_inspection_pdf(title, bags))


@form.command("share-sheet")
@click.argument("share_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@OUTPUT
def form_share_sheet(share_file: Path, output: Path) -> None:
    """A paper share sheet (text groups, label, set id, index, digest, QR code); 0600."""
    from tcr_kit.report.forms import share_sheet_pdf
    from tcr_kit.sharing import open_share_file

    share = open_share_file(share_file)
    share.check()
    _write_pdf(output, share_sheet_pdf(share), secret=True)


@form.command("receipt")
@ledger_option
@click.option("--holder", required=True, help="The TCR's roster id.")
@OUTPUT
def form_receipt(ledger_path: Path | None, holder: str, output: Path) -> None:
    """A TCR's receipt of the credentials they handed over."""
    from tcr_kit.report.forms import handover_receipt_pdf

    with open_ledger(ledger_path) as led:
        data = handover_receipt_pdf(led, holder)
    _write_pdf(output, data)


from . import report_feed  # noqa: E402, F401  (registers auto-publish, verify, prove, add-cosignatures)
