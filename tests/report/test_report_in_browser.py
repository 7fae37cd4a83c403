"""The report as people see it: opened from file:// in headless Chromium (Debian's package),
with no network, screenshotted; the ceremony table and the charts must be rendered."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tests.cli_runner import run_tcr
from tests.conftest import find_tool
from tests.report.conftest import HISTORY_CSV, CeremonyWorld

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,2400",
]


def _chromium() -> str:
    return find_tool("chromium")  # Debian's chromium, installed by scripts/setup.sh


def _browser(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="tcr-chromium-") as profile:
        return subprocess.run(
            [_chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def test_chromium_renders_the_ceremony_table_and_the_charts_from_file_url(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    from PIL import Image

    csv_file = tmp_path / "history.csv"
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
    run_tcr(
        "report", "build", "--output-dir", site, "--ledger", world.path, expect=0, in_process=True
    )
    url = (site / "index.html").resolve().as_uri()
    dom = _browser("--dump-dom", url).stdout
    assert '<table id="ceremonies">' in dom and 'href="ceremony-1.html"' in dom
    assert dom.count("<svg") == 2
    shot = tmp_path / "shot.png"
    _browser(f"--screenshot={shot}", url)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2400)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None
    count = {rgb: n for n, rgb in colours}
    # the table headers (#deebf7); the low-severity and the assumption bars (#9ecae1, #3182bd)
    # cover far more than the heading rule drawn in #3182bd
    assert count.get((0xDE, 0xEB, 0xF7), 0) > 2000, "the tables' header rows are not drawn"
    assert count.get((0x9E, 0xCA, 0xE1), 0) > 10000, "the per-year chart is not drawn"
    assert count.get((0x31, 0x82, 0xBD), 0) > 10000, "the per-assumption chart is not drawn"
