"""Auto-publish: once set in the ledger, every committed change publishes itself to the
site; a publication that fails never undoes or fails the change it follows."""

from __future__ import annotations

import json
from pathlib import Path

from tcr_kit.custody.ledger import Ledger
from tests.cli_runner import run_tcr
from tests.report.conftest import CeremonyWorld


def _as(world: CeremonyWorld, who: str) -> list[str | Path]:
    return ["--ledger", world.path, "--as", who, "--key", world.key_files[who]]


def _add_discrepancy(world: CeremonyWorld, text: str) -> str:
    proc = run_tcr(
        "discrepancy", "add", *_as(world, "iw-1"), "--category", "other", "--severity", "low",
        "--description", text, expect=0,
    )  # fmt: skip
    return proc.stderr


def _published(site: Path) -> int:
    return int(json.loads((site / "feed" / "state.json").read_text())["size"])


def _size(world: CeremonyWorld) -> int:
    with Ledger.open(world.path, read_only=True) as led:
        return led.audit.head()[0]


def test_every_change_publishes_itself_once_auto_publish_is_on(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    proc = run_tcr(
        "report", "auto-publish", "--output-dir", site, *_as(world, "sa-1"), "--json", expect=0
    )
    assert json.loads(proc.stdout)["auto_publish"]["enabled"] is True
    assert _published(site) == _size(world)  # the setting's own event is published too
    stderr = _add_discrepancy(world, "late arrival")
    assert "auto-published 1 event to" in stderr
    assert _published(site) == _size(world)
    run_tcr("report", "verify", site, expect=0)
    shown = run_tcr("report", "auto-publish", "--ledger", world.path, expect=0).stdout
    assert f"auto-publish is on: to {site.resolve()}, heads signed by sa-1" in shown
    run_tcr("report", "auto-publish", "--off", *_as(world, "sa-1"), expect=0)
    _add_discrepancy(world, "after it was turned off")
    assert _published(site) == _size(world) - 2  # neither the "off" event nor the later one
    assert "auto-publish is off" in run_tcr("report", "auto-publish", "--ledger", world.path).stdout


def test_a_failed_publication_keeps_the_change_and_the_exit_code(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    run_tcr("report", "auto-publish", "--output-dir", site, *_as(world, "sa-1"), expect=0)
    published = _published(site)
    state = site / "feed" / "state.json"
    kept = state.read_text()
    state.write_text("not json")  # the site is broken: publishing must fail
    before = _size(world)
    stderr = _add_discrepancy(world, "recorded even though the site is broken")
    assert _size(world) == before + 1
    (line,) = [x for x in stderr.splitlines() if x.startswith("warning:")]
    assert "the change is recorded, but publishing it to" in line
    assert "run 'tcr report publish'" in line
    state.write_text(kept)
    run_tcr(
        "report", "publish", "--output-dir", site, *_as(world, "sa-1"), expect=0
    )  # catches the site up
    assert _published(site) == before + 1 > published


def test_auto_publish_refuses_a_key_that_cannot_sign_unattended_or_a_non_sa(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    wrong = run_tcr(
        "report", "auto-publish", "--output-dir", site, *_as(world, "sa-1"),
        "--publisher", "iw-1", "--publisher-key", world.key_files["ca-1"], expect=2,
    )  # fmt: skip
    assert "is not the key registered for iw-1" in wrong.stderr
    run_tcr("report", "auto-publish", "--output-dir", site, *_as(world, "iw-1"), expect=5)
    assert "auto-publish is off" in run_tcr("report", "auto-publish", "--ledger", world.path).stdout


def test_auto_publish_refuses_a_publisher_whose_key_did_not_sign_the_site(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    run_tcr(
        "report", "publish", "--output-dir", site, *_as(world, "iw-1"), expect=0
    )  # the site's heads are iw-1's
    refused = run_tcr("report", "auto-publish", "--output-dir", site, *_as(world, "sa-1"), expect=2)
    assert "signed with another key" in refused.stderr
    run_tcr(
        "report", "auto-publish", "--output-dir", site, *_as(world, "sa-1"),
        "--publisher", "iw-1", "--publisher-key", world.key_files["iw-1"], expect=0,
    )  # fmt: skip
    assert _published(site) == _size(world)
