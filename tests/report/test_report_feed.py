"""The feed: every published head extends the previous one; a rolled-back or forked ledger
is refused by publish and shows up as a broken feed (exit 3) to anyone who verifies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import DiscrepancyCategory, Severity
from tests.cli_runner import run_tcr
from tests.report.conftest import CeremonyWorld


def _publish(world: CeremonyWorld, site: Path, ledger: Path | None = None, expect: int = 0):  # type: ignore[no-untyped-def]
    return run_tcr(
        "report",
        "publish",
        "--output-dir",
        site,
        "--ledger",
        ledger or world.path,
        "--as",
        "iw-1",
        "--key",
        world.key_files["iw-1"],
        "--json",
        expect=expect,
        in_process=True,
    )


def _add(world: CeremonyWorld, ledger: Path, text: str) -> None:
    with Ledger.open(ledger) as led:
        led.add_discrepancy(
            Actor("iw-1", world.keys["iw-1"]),
            category=DiscrepancyCategory.OTHER,
            severity=Severity.LOW,
            description=text,
        )


def test_each_publication_appends_one_entry_per_event_and_a_signed_extending_head(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    first = json.loads(_publish(world, site).stdout)
    assert first["published"] == 31
    _add(world, world.path, "late arrival")
    second = json.loads(_publish(world, site).stdout)
    assert second["published"] == 1 and second["size"] == 32
    assert second["pages"] < first["pages"]  # incremental: only what the event touched
    entries = [json.loads(x) for x in (site / "feed" / "entries.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in entries] == list(range(1, 33))
    assert entries[-1]["proof"]["from"] == 31 and entries[-1]["checkpoint"].count("\n— ") == 1
    feed = json.loads((site / "feed.json").read_text())
    assert feed["items"][0]["title"] == "event 32: discrepancy.open"
    assert "consistency proof from tree size 31" in feed["items"][0]["content_text"]
    atom = (site / "feed.atom").read_text()
    assert "<id>urn:tcr-kit:" in atom and "event 32: discrepancy.open" in atom
    proc = run_tcr("report", "verify", site, expect=0, in_process=True)
    assert "32 events, 2 signed heads" in proc.stdout
    nothing = json.loads(_publish(world, site).stdout)
    assert nothing["published"] == 0


def test_publish_refuses_a_rolled_back_or_forked_ledger_and_leaves_the_feed_as_it_was(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    old = tmp_path / "old.sqlite"
    shutil.copy2(world.path, old)
    _add(world, world.path, "the real event 32")
    _publish(world, site)
    before = (site / "feed" / "entries.jsonl").read_bytes()
    rolled = _publish(world, site, old, expect=3)
    assert "rolled back" in rolled.stderr
    _add(world, old, "a forked event 32")
    forked = _publish(world, site, old, expect=3)
    assert "rolled back or forked" in forked.stderr
    assert (site / "feed" / "entries.jsonl").read_bytes() == before
    run_tcr("report", "verify", site, expect=0, in_process=True)


def test_a_feed_spliced_with_a_forked_ledger_fails_verification_with_exit_3(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site, fork_site = tmp_path / "site", tmp_path / "fork"
    old = tmp_path / "old.sqlite"
    shutil.copy2(world.path, old)
    _publish(world, site)
    _add(world, world.path, "the real event 32")
    _publish(world, site)
    kept = (site / "checkpoint.note").read_text()
    # The operator rolls the ledger back, writes another history and republishes it on a
    # copy of the site whose feed keeps the old entries: the feed no longer holds together.
    shutil.copytree(site, fork_site)
    _add(world, old, "a forked event 32")
    lines = (fork_site / "feed" / "entries.jsonl").read_text().splitlines()[:31]
    (fork_site / "feed" / "entries.jsonl").write_text("\n".join(lines) + "\n")
    state = json.loads((fork_site / "feed" / "state.json").read_text())
    with Ledger.open(old) as led:
        from tcr_kit.audit.treehead import log_tree

        state["size"], state["root"] = (
            31,
            __import__("base64").b64encode(log_tree(led.audit).root(31)).decode(),
        )
    (fork_site / "feed" / "state.json").write_text(json.dumps(state))
    _publish(world, fork_site, old)
    run_tcr("report", "verify", fork_site, expect=0, in_process=True)  # consistent on its own
    kept_file = tmp_path / "kept.note"
    kept_file.write_text(kept)
    proc = run_tcr("report", "verify", fork_site, "--since", kept_file, expect=3, in_process=True)
    assert "rolled back or forked" in proc.stderr
    # splicing the forked entry after the real one breaks the chain of heads
    real = (site / "feed" / "entries.jsonl").read_text().splitlines()
    fork_last = (fork_site / "feed" / "entries.jsonl").read_text().splitlines()[-1]
    (site / "feed" / "entries.jsonl").write_text(
        "\n".join([*real[:31], fork_last, real[31]]) + "\n"
    )
    broken = run_tcr("report", "verify", site, expect=3, in_process=True)
    assert len(broken.stderr.strip().splitlines()) == 1
    run_tcr("report", "verify", site, "--since", kept_file, expect=3, in_process=True)


def test_publishing_with_another_key_than_the_sites_is_refused(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    _publish(world, site)
    _add(world, world.path, "something new")
    other = run_tcr(
        "report", "publish", "--output-dir", site, "--ledger", world.path, "--as", "ca-1",
        "--key", world.key_files["ca-1"], expect=2, in_process=True,
    )  # fmt: skip
    assert "publish with that key" in other.stderr
    run_tcr("report", "verify", site, expect=0, in_process=True)
    assert json.loads(_publish(world, site).stdout)["published"] == 1
