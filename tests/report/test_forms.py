"""Printable forms: rendered to images with pdftoppm and read back with pdftotext."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cli_runner import run_tcr
from tests.conftest import find_tool
from tests.report.conftest import CeremonyWorld


def _render(pdf: Path) -> str:
    """The PDF's text; it must also render to a non-blank page image."""
    for tool in ("pdftoppm", "pdftotext"):
        find_tool(tool)  # poppler-utils, installed by scripts/setup.sh
    prefix = pdf.with_suffix("")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", pdf, prefix],
        check=True,
        capture_output=True,
    )
    images = list(pdf.parent.glob(prefix.name + "*.png"))
    assert images and images[0].stat().st_size > 1000
    out = subprocess.run(["pdftotext", "-layout", pdf, "-"], check=True, capture_output=True)
    return out.stdout.decode()


def test_the_ceremony_script_has_every_step_with_initial_and_time_columns(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    steps = tmp_path / "steps.txt"
    steps.write_text("Open the credential safe\nInspect TEB-1001, read its serial aloud\n")
    pdf = tmp_path / "script.pdf"
    run_tcr(
        "report",
        "form",
        "script",
        "--steps",
        steps,
        "--title",
        "KSK ceremony 1",
        "--output",
        pdf,
        expect=0,
        in_process=True,
    )
    text = _render(pdf)
    assert "KSK ceremony 1" in text and "Initial" in text and "Time (UTC)" in text
    assert "Inspect TEB-1001, read its serial aloud" in text
    assert oct(pdf.stat().st_mode & 0o777) == "0o644"


def test_the_inspection_form_is_prefilled_with_the_expected_serials(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    pdf = tmp_path / "inspect.pdf"
    run_tcr(
        "report",
        "form",
        "inspection",
        "--ledger",
        world.path,
        "--output",
        pdf,
        expect=0,
        in_process=True,
    )
    text = _render(pdf)
    for serial in ("TEB-1003", "TEB-1101", "TEB-2001"):
        assert serial in text
    assert "TEB-1001" not in text  # opened and resealed: its credential is in TEB-1101 now
    assert "Serial read" in text


def test_a_paper_share_sheet_carries_the_text_groups_ids_digest_and_a_qr_code(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    share_file = tmp_path / "demo.share-2"
    share_file.write_text(world.share_texts[1])
    pdf = tmp_path / "sheet.pdf"
    run_tcr("report", "form", "share-sheet", share_file, "--output", pdf, expect=0, in_process=True)
    assert oct(pdf.stat().st_mode & 0o777) == "0o600"
    text = _render(pdf)
    for line in world.share_texts[1].strip().splitlines():
        assert line in text
    assert world.set_id in text and "2 (threshold 2 of 3)" in text and "demo HSM activation" in text
    assert b"/Subtype /Image" in pdf.read_bytes()


def test_a_tcrs_receipt_lists_what_they_handed_over(world: CeremonyWorld, tmp_path: Path) -> None:
    pdf = tmp_path / "receipt.pdf"
    run_tcr(
        "report",
        "form",
        "receipt",
        "--ledger",
        world.path,
        "--holder",
        "tcr-1",
        "--output",
        pdf,
        expect=0,
        in_process=True,
    )
    text = _render(pdf)
    assert "tcr-1" in text and "card-1" in text and "SC-001" in text and "TEB-1101" in text
    assert "Name Of tcr-1" not in text and "493817" not in text


def test_a_form_never_overwrites_an_existing_file(world: CeremonyWorld, tmp_path: Path) -> None:
    pdf = tmp_path / "receipt.pdf"
    pdf.write_text("keep")
    proc = run_tcr(
        "report",
        "form",
        "receipt",
        "--ledger",
        world.path,
        "--holder",
        "tcr-1",
        "--output",
        pdf,
        expect=1,
        in_process=True,
    )
    assert pdf.read_text() == "keep" and len(proc.stderr.strip().splitlines()) == 1


def test_a_form_with_json_says_what_it_wrote(world: CeremonyWorld, tmp_path: Path) -> None:
    import json

    pdf = tmp_path / "receipt.pdf"
    proc = run_tcr(
        "report",
        "form",
        "receipt",
        "--ledger",
        world.path,
        "--holder",
        "tcr-2",
        "--output",
        pdf,
        "--json",
        expect=0,
        in_process=True,
    )
    doc = json.loads(proc.stdout)
    assert doc == {"ok": True, "output": str(pdf), "bytes": pdf.stat().st_size, "secret": False}
