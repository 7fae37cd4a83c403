"""The demo's last part: the public report of its ceremony. Ten years of discrepancies are
imported (the examples of the domain notes), the report is published with its signed feed,
the feed is verified as a community member would, a rollback of the ledger is caught (publish
refuses it; a site republished from the old copy fails against a kept head), and the forms
are printed to PDF."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .demo import Demo

HISTORY = """date,ceremony,category,severity,step,description,source,objects,resolution
2016-02-11,24,wrong-item,medium,3.2,"The wrong one of two identical USB drives was pulled, breaking logging",ceremony 24 exceptions,,media now labelled uniquely
2018-05-10,33,time,low,5.1,"A laptop's time zone was not UTC, so a step was repeated",ceremony 33 annotated script,,all clocks set to UTC
2019-08-15,38,equipment,high,1.4,A safe's lock would not open; the ceremony was postponed,ceremony 38 report,,lock replaced
2021-04-08,41,procedure,low,7.3,A bag was labelled before it was sealed (out of runbook order),ceremony 41 annotated script,,
2022-02-24,44,equipment,medium,2.2,A required cable was missing,ceremony 44 exceptions,,spare cable kit added
"""  # noqa: E501 - CSV rows


def _copy_ledger(source: Path, target: Path) -> None:
    """A consistent copy of the ledger (SQLite's online backup), as an old backup would be."""
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def run_report(demo: Demo) -> None:
    out = demo.out
    ledger = ("--ledger", "ledger.sqlite")
    iw = ("--as", "iw-1", "--key", "keys/iw.pem")

    _copy_ledger(out / "ledger.sqlite", out / "ledger-before-import.sqlite")
    demo.step("ten years of discrepancies: import the history (one signed event), summarise")
    (out / "history.csv").write_text(HISTORY)
    demo.run(["discrepancy", "import", "history.csv", *ledger, *iw])
    demo.run(["discrepancy", "summary", *ledger, "--since", "2016-01-01"])

    demo.step("publish the public report and its signed feed; verify the feed")
    demo.run(["report", "publish", "--output-dir", "site", *ledger, *iw, "--site", "demo"])
    demo.run(["report", "verify", "site"])
    (out / "kept-checkpoint.note").write_bytes((out / "site" / "checkpoint.note").read_bytes())

    demo.step("roll the ledger back to its copy from before the import: caught")
    print("  (a community member kept the published head: kept-checkpoint.note)")
    old = ("--ledger", "ledger-before-import.sqlite")
    demo.run(["report", "publish", "--output-dir", "site", *old, *iw, "--site", "demo"], expect=3)
    demo.run(["report", "publish", "--output-dir", "site-rolled-back", *old, *iw, "--site", "demo"])
    demo.run(["report", "verify", "site-rolled-back", "--since", "kept-checkpoint.note"], expect=3)
    demo.run(
        [
            "report",
            "form",
            "inspection",
            *ledger,
            "--bag",
            "TEB-7007",
            "--output",
            "forms/inspection.pdf",
        ]
    )
    demo.run(
        [
            "report",
            "form",
            "receipt",
            *ledger,
            "--holder",
            "tcr-4",
            "--output",
            "forms/receipt-tcr-4.pdf",
        ]
    )
    print(f"  open the report: {(out / 'site' / 'index.html').as_uri()}")
