"""The static public report: what it shows, and that nothing private ever reaches it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tcr_kit.custody.ledger import Ledger
from tests.cli_runner import run_tcr
from tests.report.conftest import HISTORY_CSV, CeremonyWorld, build_world


def _build(world: CeremonyWorld, site: Path) -> dict[str, object]:
    proc = run_tcr(
        "report",
        "build",
        "--output-dir",
        site,
        "--ledger",
        world.path,
        "--json",
        expect=0,
        in_process=True,
    )
    return dict(json.loads(proc.stdout))


def _site_text(site: Path) -> dict[str, str]:
    files = [p for p in site.rglob("*") if p.is_file()]
    assert files
    return {str(p.relative_to(site)): p.read_bytes().decode("utf-8") for p in files}


def test_no_secret_pin_share_private_key_or_address_appears_in_any_file_of_the_site(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    csv_file = world.path.parent / "history.csv"
    csv_file.write_text(HISTORY_CSV)
    run_tcr(
        "discrepancy",
        "import",
        csv_file,
        "--ledger",
        world.path,
        "--as",
        "iw-1",
        "--key",
        world.key_files["iw-1"],
        expect=0,
        in_process=True,
    )
    site = tmp_path / "site"
    _build(world, site)
    run_tcr(
        "report",
        "publish",
        "--output-dir",
        site,
        "--ledger",
        world.path,
        "--as",
        "iw-1",
        "--key",
        world.key_files["iw-1"],
        expect=0,
        in_process=True,
    )
    texts = _site_text(site)
    assert len(texts) > 10
    needles = world.secrets.all()
    assert len(needles) > 20
    for name, text in texts.items():
        flat = text.lower()
        for needle in needles:
            assert needle.lower() not in flat, f"{needle!r} appears in {name}"
    # the private bank address makes the ceremony transcript unpublishable as it is
    assert not (site / "transcripts").exists() or not list((site / "transcripts").iterdir())
    assert "transcript of this ceremony is not published" in texts["ceremony-1.html"]


def test_a_ceremony_page_shows_participants_bags_credentials_discrepancies_and_closing_head(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    _build(world, site)
    page = (site / "ceremony-1.html").read_text()
    for text in (
        "tcr-1",
        "CO",
        "present",
        "IW",
        "TEB-1001",
        "TEB-1101",
        "TEB-1002",
        "card-1",
        "card-2",
        "activated",
        "spare HDMI cable",
        "3.4",
    ):
        assert text in page, text
    with Ledger.open(world.path) as led:
        events = list(led.audit.events())
    last_ceremony_event = events[-1]  # the reseal, tagged ceremony 1
    assert f'closing-hex">{last_ceremony_event.hash}<' in page
    assert re.search(r'id="closing-words">\w+( \w+){31}<', page)
    index = (site / "index.html").read_text()
    assert 'id="ceremonies"' in index and 'href="ceremony-1.html"' in index
    assert "ready" in index and "2 of 3" in index


def test_no_page_fetches_anything_from_the_network(world: CeremonyWorld, tmp_path: Path) -> None:
    site = tmp_path / "site"
    _build(world, site)
    for name, text in _site_text(site).items():
        assert "<script" not in text, name
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), name
        assert "@import" not in text and not re.search(r"url\((?!#)", text), name


def test_custody_timelines_follow_each_bag_and_credential_through_its_states(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    _build(world, site)
    bag = (site / "bag-TEB-1001.html").read_text()
    for kind in ("bag.seal", "bag.inspect", "bag.open", "bag.reseal"):
        assert kind in bag
    assert "iw-1 (IW)" in bag and "credential-safe" in bag
    card = (site / "credential-card-1.html").read_text()
    assert "sealed" in card and "TEB-1101" in card
    bank_bag = (site / "bag-TEB-2001.html").read_text()
    assert "safe-deposit-box" in bank_bag


def test_a_ledger_without_private_places_gets_its_transcript_with_verify_instructions(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path, bank="B-7")
    site = tmp_path / "site"
    _build(world, site)
    transcript = site / "transcripts" / "transcript-ceremony-1.json"
    assert transcript.exists()
    page = (site / "ceremony-1.html").read_text()
    assert "tcr audit verify --transcript transcript-ceremony-1.json --expect-head" in page
    head = re.search(r"--expect-head ([0-9a-f]{64})", page)
    assert head is not None
    proc = run_tcr(
        "audit", "verify", "--transcript", transcript, "--expect-head", head.group(1), expect=0
    )
    assert head.group(1) in proc.stdout


def test_the_report_shows_the_imported_ten_years_as_charts_and_a_table(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    csv_file = world.path.parent / "history.csv"
    csv_file.write_text(HISTORY_CSV)
    run_tcr(
        "discrepancy",
        "import",
        csv_file,
        "--ledger",
        world.path,
        "--as",
        "iw-1",
        "--key",
        world.key_files["iw-1"],
        expect=0,
        in_process=True,
    )
    site = tmp_path / "site"
    _build(world, site)
    index = (site / "index.html").read_text()
    assert index.count("<svg") == 2
    assert 'aria-label="Discrepancies per year by severity and by category"' in index
    assert "clocks are in UTC" in index and "https://example.org/ksk-33/exceptions.pdf" in index
    summary = json.loads((site / "report.json").read_text())
    assert len(summary["discrepancies"]) == 6
