"""``tcr audit show TRANSCRIPT``: a verified transcript as a readable timeline; and the
timeline printing that ``tcr status`` shares."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._ledger import progress_callback
from ._output import say
from .app import emit_json, json_option, quiet_option
from .audit import audit

if TYPE_CHECKING:
    from tcr_kit.audit.timeline import TimelineEntry

__all__ = ["audit", "echo_entries", "head_line"]


def _who(entry: TimelineEntry) -> str:
    return f"{entry.actor} ({', '.join(entry.roles)})" if entry.roles else entry.actor


def echo_entries(entries: Sequence[TimelineEntry]) -> None:
    """Print timeline entries for people: one heading line, then indented details."""
    for e in entries:
        where = f" [ceremony {e.ceremony}" + (f", step {e.step}" if e.step else "") + "]"
        say(f"{e.time}  #{e.seq}  {e.action}  by {_who(e)}{where if e.ceremony else ''}")
        objects = [o for o in e.objects if not o.startswith("ceremony:")]
        if objects:
            say(f"    objects:   {', '.join(objects)}")
        for line in e.witness_lines():
            say(f"    witnessed by {line}")
        say(f"    outcome:   {e.outcome}")
        for what, hex_, words in e.hash_lines():
            say(f"    {what} SHA-256: {hex_}")
            say(f"      PGP words: {words}")
        for d in e.discrepancies:
            say(f"    discrepancy: {d}")
        for o in e.override_lines():
            say(f"    override:  {o}")
        for a in e.approvals:
            say(f"    approvals: {a}")


def head_line(source: str, seq: int, head: str) -> list[str]:
    """Lines saying from which verified head a view was computed."""
    from tcr_kit.audit.pgpwords import digest_words

    hex_, words = digest_words(bytes.fromhex(head))
    return [
        f"computed from {source}, verified through event {seq}",
        f"head SHA-256: {hex_}",
        f"PGP Words: {words}",
    ]


@audit.command("show")
@click.argument("transcript", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--person",
    help="Only events about this person (actor, witness, holder, override or approval signer,"
    " a rejected one included).",
)
@click.option("--bag", help="Only events about this bag serial.")
@click.option("--credential", help="Only events about this credential id.")
@click.option("--all", "all_events", is_flag=True, help="Every event, not only the selected ones.")
@click.option("--expect-head", help="The head hash (hex) you were told; must match.")
@quiet_option
@json_option
def show(
    transcript: Path,
    person: str | None,
    bag: str | None,
    credential: str | None,
    all_events: bool,
    expect_head: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Verify TRANSCRIPT, then print it as a timeline: time, actor and role, action,
    objects, witnesses, outcome, discrepancies and overrides."""
    from tcr_kit.audit.timeline import read_timeline

    timeline, _ = read_timeline(transcript, expect_head=expect_head, progress=progress_callback())
    entries = [
        e
        for e in timeline.entries
        if (all_events or e.selected) and e.mentions(person=person, bag=bag, credential=credential)
    ]
    if as_json:
        emit_json(
            {
                "ok": True,
                "source": timeline.source,
                "selection": timeline.description,
                "head_seq": timeline.head_seq,
                "head": timeline.head,
                "entries": [e.to_json() for e in entries],
            }
        )
        return
    if not quiet:
        for line in head_line(timeline.source, timeline.head_seq, timeline.head):
            say(line)
        say(f"selection: {timeline.description}; {len(entries)} events shown")
        say("")
    echo_entries(entries)
