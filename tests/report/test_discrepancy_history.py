"""Ten years of discrepancies: import from CSV (one signed event), show, summary with filters."""

from __future__ import annotations

import csv
import io
import json

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.custody.ledger import Ledger
from tests.cli_runner import run_tcr
from tests.report.conftest import HISTORY_CSV, CeremonyWorld


def _import(world: CeremonyWorld, text: str, expect: int = 0) -> str:
    csv_file = world.path.parent / "history.csv"
    csv_file.write_text(text)
    proc = run_tcr(
        "discrepancy",
        "import",
        str(csv_file),
        "--ledger",
        world.path,
        "--as",
        "iw-1",
        "--key",
        world.key_files["iw-1"],
        "--json",
        expect=expect,
        in_process=True,
    )
    return proc.stdout + proc.stderr


def test_import_enters_each_row_with_its_original_date_in_one_signed_event(
    world: CeremonyWorld,
) -> None:
    out = json.loads(_import(world, HISTORY_CSV))
    assert len(out["discrepancies"]) == 5
    with Ledger.open(world.path) as led:
        first = led.discrepancy(out["discrepancies"][0])
        assert first.opened_at.year == 2016 and first.ceremony == 24
        assert first.source == "https://example.org/ksk-24/script.pdf"
        assert first.opened_by == "iw-1" and first.status == "resolved"
        events = list(led.audit.events())
        body = parse_canonical(events[-1].body)
        assert body["kind"] == "discrepancy.import" and body["actor"] == "iw-1"
        assert len(body["payload"]["records"]) == 5
        assert len(body["payload"]["source_sha256"]) == 64
        assert led.verify().events == len(events)  # raises if anything is wrong


def test_import_refuses_a_row_naming_an_object_not_in_the_ledger_and_imports_nothing(
    world: CeremonyWorld,
) -> None:
    bad = HISTORY_CSV.replace("bag:TEB-1003", "bag:TEB-9999")
    err = _import(world, bad, expect=2)
    assert "line 6" in err and "bag:TEB-9999" in err
    with Ledger.open(world.path) as led:
        assert not any(d.source for d in led.discrepancies())


def test_import_refuses_a_bad_date_naming_its_line(world: CeremonyWorld) -> None:
    err = _import(world, HISTORY_CSV.replace("2018-05-10", "10/05/2018"), expect=2)
    assert "line 3" in err and "date" in err


def test_show_prints_the_discrepancy_and_the_assumption_it_challenges(
    world: CeremonyWorld,
) -> None:
    ids = json.loads(_import(world, HISTORY_CSV))["discrepancies"]
    proc = run_tcr("discrepancy", "show", ids[1], "--ledger", world.path, expect=0, in_process=True)
    assert "clocks are in UTC" in proc.stdout and "ksk-33" in proc.stdout


def test_summary_filters_by_ceremony_and_dates_and_totals_as_json_and_csv(
    world: CeremonyWorld,
) -> None:
    _import(world, HISTORY_CSV)
    base = ("discrepancy", "summary", "--ledger", world.path)
    doc = json.loads(run_tcr(*base, "--json", expect=0, in_process=True).stdout)
    assert doc["total"] == 6  # five imported, one from ceremony 1
    assert doc["totals"]["category"]["equipment"] == 3
    ranged = json.loads(
        run_tcr(
            *base,
            "--since",
            "2018-01-01",
            "--until",
            "2021-01-01",
            "--json",
            expect=0,
            in_process=True,
        ).stdout
    )
    assert ranged["total"] == 2
    one = json.loads(run_tcr(*base, "--ceremony", "38", "--json", expect=0, in_process=True).stdout)
    assert one["total"] == 1 and one["summary"][0]["assumption"] == "equipment is present and works"
    rows = list(
        csv.DictReader(io.StringIO(run_tcr(*base, "--csv", expect=0, in_process=True).stdout))
    )
    assert sum(int(r["count"]) for r in rows) == 6
    assert {r["assumption"] for r in rows} >= {"clocks are in UTC"}
    text = run_tcr(*base, expect=0, in_process=True).stdout
    assert "total: 6" in text


def test_a_bad_summary_date_is_one_line_and_exit_2(world: CeremonyWorld) -> None:
    proc = run_tcr(
        "discrepancy",
        "summary",
        "--ledger",
        world.path,
        "--since",
        "last year",
        expect=2,
        in_process=True,
    )
    assert len(proc.stderr.strip().splitlines()) == 1
