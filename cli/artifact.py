"""``tcr artifact``: pre-signed files held on a drive and released in tranches.

``register`` records the files and the schedule; ``release`` checks custody, the window and
the files, copies one tranche and records it; ``check`` lets anyone compare a published file
with the registered one (from the ledger, or offline from a verified transcript); ``list``
and ``show`` are for staff. The decisions are in :mod:`tcr_kit.custody.ledger.artifacts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._ledger import (
    actor,
    actor_options,
    cosign_options,
    dry_run_option,
    ledger_option,
    open_ledger,
)
from ._ledger import report_change as _report
from ._output import say
from .app import emit_json, ensure_output_dir, json_mode, json_option, table

if TYPE_CHECKING:
    from tcr_kit.custody.artifacts import ArtifactFile


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _words(sha256_hex: str) -> str:
    from tcr_kit.audit.pgpwords import pgp_words

    return " ".join(pgp_words(bytes.fromhex(sha256_hex)))


def _file_lines(files: list[ArtifactFile] | tuple[ArtifactFile, ...], indent: str = "  ") -> None:
    for f in files:
        say(f"{indent}{f.name}  {f.size} bytes  sha256 {f.sha256}")
        say(f"{indent}  {_words(f.sha256)}")


@click.group()
def artifact() -> None:
    """Pre-signed artifacts on a drive, released a tranche at a time.

    See docs/artifacts.md."""


@artifact.command("register")
@ledger_option
@actor_options
@click.option("--name", required=True, help="The artifact's name (e.g. ksk-2027-skr).")
@click.option("--drive", required=True, help="The usb-drive credential holding the files.")
@click.option(
    "--tranche",
    "tranches",
    multiple=True,
    required=True,
    metavar="LABEL:NOT_BEFORE[..NOT_AFTER]:FILE[,FILE...]",
    help="One tranche, in release order (repeat). Dates YYYY-MM-DD or ISO 8601, UTC.",
)
@click.option(
    "--from",
    "base",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder the FILE names are relative to (default: the current folder).",
)
@dry_run_option
@json_option
def artifact_register(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    name: str,
    drive: str,
    tranches: tuple[str, ...],
    base: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Record the files (SHA-256, size), the drive and the release schedule."""
    from tcr_kit.custody.artifacts import describe_window, parse_tranche

    parsed = [parse_tranche(spec, base=base) for spec in tranches]
    with open_ledger(ledger_path) as led:
        art = led.register_artifact(actor(actor_id, key_file), name, drive, parsed, dry_run=dry_run)
        files = [f for t in art.tranches for f in t.files]
        _report(
            led,
            f"artifact {art.name} on drive {art.drive}: {_count(len(art.tranches), 'tranche')}, "
            f"{_count(len(files), 'file')}",
            dry_run,
            {"artifact": art.model_dump(mode="json")},
        )
        if not json_mode():
            for t in art.tranches:
                start, end = art.window(t.label)
                say(f"tranche {t.label}: {describe_window(start, end)}")
                _file_lines(t.files)


@artifact.command("release")
@ledger_option
@actor_options
@click.argument("name")
@click.option("--tranche", "label", required=True, help="The tranche's label.")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The folder holding the files (the drive, mounted).",
)
@click.option(
    "--output-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the tranche's files are copied (never overwritten).",
)
@click.option("--witness", required=True, help="A second staff member, not the drive's holder.")
@dry_run_option
@cosign_options("witness")
@json_option
def artifact_release(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    name: str,
    label: str,
    source: Path,
    output_dir: Path,
    witness: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Check custody, window and files, copy one tranche, and record its release."""
    who = actor(actor_id, key_file)
    if not dry_run:
        ensure_output_dir(output_dir)
    with open_ledger(ledger_path) as led:
        out = led.release_tranche(
            who, name, label, witness=witness, source=source, output_dir=output_dir,
            dry_run=dry_run,
        )  # fmt: skip
        r = out.release
        _report(
            led,
            f"tranche {r.tranche} of {r.artifact} released by {r.released_by}, witness "
            f"{r.witness}: {_count(len(r.files), 'file')} to {output_dir}",
            dry_run,
            {
                "release": r.model_dump(mode="json"),
                "outputs": [str(p) for p in out.outputs],
                "reseal": out.bag,
            },
        )
        if not json_mode():
            say("files checked" + (" (would be copied):" if dry_run else " and copied:"))
            _file_lines(r.files)
            say(
                f"next: put drive {r.drive} back into a new bag: "
                f"tcr bag reseal {out.bag} NEW_SERIAL --witness ID ..."
            )


@artifact.command("check")
@ledger_option
@click.argument("name")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--transcript",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Check offline against a transcript (verified first) instead of the ledger.",
)
@click.option("--expect-head", help="With --transcript: the head (hex) you were told.")
@json_option
def artifact_check(
    ledger_path: Path | None,
    name: str,
    files: tuple[Path, ...],
    transcript: Path | None,
    expect_head: str | None,
    as_json: bool,
) -> None:
    """Confirm FILES are the registered files of artifact NAME (exit 3 naming each that
    differs or is not registered)."""
    from tcr_kit.custody.artifacts import artifact_from_transcript, check_files

    if expect_head is not None and transcript is None:
        raise click.UsageError("--expect-head goes with --transcript")
    source: dict[str, Any]
    if transcript is not None:
        found = artifact_from_transcript(transcript, name, expect_head=expect_head)
        art, releases = found.artifact, found.releases
        source = {"transcript": str(transcript), "head": found.head, "event": found.event}
    else:
        with open_ledger(ledger_path, read_only=True) as led:
            art, released = led.checked_artifact(name)
            releases = tuple(released)
            source = {"ledger": str(led.path)}
    checks = check_files(art, files)
    done = {r.tranche: r for r in releases}
    if json_mode():
        emit_json(
            {
                "ok": True,
                "artifact": name,
                "source": source,
                "files": [
                    dict(c.to_json(), released=c.tranche in done if c.tranche else False)
                    for c in checks
                ],
            }
        )
        return
    where = f"transcript {transcript} (head {found.head})" if transcript else "the ledger"
    for c in checks:
        state = "released" if c.tranche in done else "not released yet"
        say(f"{c.name}: ok, the registered file (tranche {c.tranche}, {state})")
        say(f"  sha256 {c.sha256}")
        say(f"  {_words(str(c.sha256))}")
    say(f"checked against {where}")


@artifact.command("list")
@ledger_option
@json_option
def artifact_list(ledger_path: Path | None, as_json: bool) -> None:
    """Every registered artifact: drive, tranches, files, releases."""
    with open_ledger(ledger_path, read_only=True) as led:
        rows = []
        for a in led.artifacts():
            released = {r.tranche for r in led.releases(a.name)}
            rows.append(
                {
                    "name": a.name,
                    "drive": a.drive,
                    "tranches": len(a.tranches),
                    "files": sum(len(t.files) for t in a.tranches),
                    "released": ", ".join(t.label for t in a.tranches if t.label in released),
                    "registered_at": a.registered_at.isoformat().replace("+00:00", "Z"),
                }
            )
    if json_mode():
        emit_json({"ok": True, "artifacts": rows})
        return
    click.echo(table(rows, ["name", "drive", "tranches", "files", "released", "registered_at"]))


@artifact.command("show")
@ledger_option
@click.argument("name")
@json_option
def artifact_show(ledger_path: Path | None, name: str, as_json: bool) -> None:
    """One artifact: each tranche's window, state and files; who released it."""
    with open_ledger(ledger_path, read_only=True) as led:
        art, _ = led.checked_artifact(name)
        states = led.tranche_status(name)
    if json_mode():
        emit_json(
            {
                "ok": True,
                "artifact": art.model_dump(mode="json"),
                "tranches": [s.to_json() for s in states],
            }
        )
        return
    say(f"artifact {art.name} on drive {art.drive}, registered by {art.registered_by}")
    rows = [s.to_json() for s in states]
    click.echo(
        table(
            rows,
            ["label", "not_before", "until", "files", "state", "released_at", "released_by"],
        )
    )
    for t in art.tranches:
        say(f"tranche {t.label}:")
        _file_lines(t.files)
