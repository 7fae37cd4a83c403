"""The charts are self-contained SVG: the site works from ``file://`` and fetches nothing, so a
chart may name no web address (pygal's default SVG loads a script from the web), run no
script, and load no font or stylesheet; and it carries a title screen readers announce."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli_runner import run_tcr
from tests.report.conftest import HISTORY_CSV, CeremonyWorld

NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def _site_with_history(world: CeremonyWorld, tmp_path: Path) -> Path:
    csv_file = tmp_path / "history.csv"
    csv_file.write_text(HISTORY_CSV)
    run_tcr(
        "discrepancy", "import", csv_file, "--ledger", world.path,
        "--as", "iw-1", "--key", world.key_files["iw-1"], expect=0, in_process=True,
    )  # fmt: skip
    site = tmp_path / "site"
    run_tcr(
        "report", "build", "--output-dir", site, "--ledger", world.path, expect=0, in_process=True
    )
    return site


def test_the_written_charts_reference_nothing_on_the_web_and_run_no_script(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = _site_with_history(world, tmp_path)
    charts = sorted((site / "charts").glob("*.svg"))
    assert [p.name for p in charts] == ["assumptions.svg", "yearly.svg"]
    for path in charts:
        svg = path.read_text("utf-8")
        assert svg.startswith("<svg")
        addresses = set(re.findall(r"""https?://[^\s"'<>)]+""", svg, flags=re.I))
        assert addresses <= NAMESPACES, f"{path.name} names {addresses - NAMESPACES}"
        assert "//" not in re.sub(r"https?://[^\s\"'<>)]+", "", svg, flags=re.I)
        lowered = svg.lower()
        for banned in ("<script", "<!--", "@import", "url(", "@font-face", "<foreignobject"):
            assert banned not in lowered, f"{path.name} has {banned}"
        assert re.search(r'<svg [^>]*role="img"[^>]*aria-label="[^"]+"', svg)
        assert re.search(r"<title>[^<]+</title>", svg)
    # the history's years and categories are what the charts show
    yearly = (site / "charts" / "yearly.svg").read_text("utf-8")
    for label in ("2016", "2022", "wrong-item", "equipment", "low", "high"):
        assert f">{label}<" in yearly, label
    assumptions = (site / "charts" / "assumptions.svg").read_text("utf-8")
    assert ">clocks are in UTC<" in assumptions


def test_two_charts_on_one_page_keep_their_styles_apart_and_are_drawn_the_same_each_time(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = _site_with_history(world, tmp_path)
    first = {p.name: p.read_bytes() for p in (site / "charts").glob("*.svg")}
    index = (site / "index.html").read_text("utf-8")
    ids = re.findall(r'<g id="(chart-[a-z-]+)" class="pygal-chart"', index)
    assert sorted(ids) == ["chart-assumptions", "chart-yearly-category", "chart-yearly-severity"]
    # every style rule of a chart is scoped to its own id (pygal's are to a random one)
    for style in re.findall(r"<style[^>]*>(.*?)</style>", index, flags=re.S):
        scopes = set(re.findall(r"#(chart-[\w-]+)", style))
        assert len(scopes) == 1 and scopes <= set(ids), scopes
    (site / "charts" / "inputs.json").unlink()
    run_tcr(
        "report", "build", "--output-dir", site, "--ledger", world.path,
        expect=0, in_process=True,
    )  # fmt: skip
    assert {p.name: p.read_bytes() for p in (site / "charts").glob("*.svg")} == first


def test_with_no_discrepancies_the_charts_say_so_instead_of_failing() -> None:
    from tcr_kit.report.charts import assumption_chart, yearly_chart

    for svg in (yearly_chart([]), assumption_chart([], {})):
        assert svg.startswith("<svg") and ">no discrepancies recorded<" in svg
        assert "<script" not in svg
