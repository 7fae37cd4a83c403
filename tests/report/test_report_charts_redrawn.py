"""Charts are redrawn only when what they plot changed (their inputs' hashes are kept in
``charts/inputs.json``): the slow part of a publication is skipped for every event that
does not change the discrepancy counts."""

from __future__ import annotations

import json
from pathlib import Path

from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import DiscrepancyCategory, Severity
from tests.cli_runner import run_tcr
from tests.report.conftest import CeremonyWorld


def _publish(world: CeremonyWorld, site: Path) -> dict[str, object]:
    proc = run_tcr(
        "report", "publish", "--output-dir", site, "--ledger", world.path,
        "--as", "iw-1", "--key", world.key_files["iw-1"], "--json",
        expect=0, in_process=True,
    )  # fmt: skip
    return dict(json.loads(proc.stdout))


def test_charts_are_redrawn_only_when_the_counts_they_plot_change(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    first = _publish(world, site)
    assert first["charts_redrawn"] == ["yearly.svg", "assumptions.svg"]
    drawn = json.loads((site / "charts" / "inputs.json").read_text())
    yearly = (site / "charts" / "yearly.svg").stat().st_mtime_ns
    iw = Actor("iw-1", world.keys["iw-1"])
    with Ledger.open(world.path) as led:
        found = led.add_discrepancy(
            iw, category=DiscrepancyCategory.TIME, severity=Severity.HIGH, description="late"
        )
    added = _publish(world, site)
    assert added["published"] == 1 and added["charts_redrawn"] == ["yearly.svg", "assumptions.svg"]
    after_add = json.loads((site / "charts" / "inputs.json").read_text())
    assert after_add["yearly.svg"] != drawn["yearly.svg"]
    assert (site / "charts" / "yearly.svg").stat().st_mtime_ns != yearly
    with Ledger.open(world.path) as led:
        led.resolve_discrepancy(Actor("ca-1", world.keys["ca-1"]), found.id, "clock reset")
    resolved = _publish(world, site)
    assert resolved["published"] == 1 and resolved["charts_redrawn"] == []
    assert json.loads((site / "charts" / "inputs.json").read_text()) == after_add
    assert 'id="chart-yearly"' in (site / "index.html").read_text()


def test_a_chart_file_removed_is_drawn_again(world: CeremonyWorld, tmp_path: Path) -> None:
    site = tmp_path / "site"
    run_tcr("report", "build", "--output-dir", site, "--ledger", world.path, expect=0)
    (site / "charts" / "assumptions.svg").unlink()
    with Ledger.open(world.path) as led:
        led.add_discrepancy(
            Actor("iw-1", world.keys["iw-1"]),
            category=DiscrepancyCategory.OTHER,
            severity=Severity.LOW,
            description="x",
        )
    run_tcr("report", "build", "--output-dir", site, "--ledger", world.path, expect=0)
    assert (site / "charts" / "assumptions.svg").read_text().startswith("<svg")
