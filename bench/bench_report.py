"""Report feed benchmark (not part of the test suite).

Target from issue 13: publishing 1 event to a site with 10,000 events takes under 1 s
(incremental: the new feed entry, the new signed head and proof, the index and the pages the
event touches; not the whole site). Charts are redrawn only when their input (the counts
they plot, hashed in charts/inputs.json) changed: a plain event or a resolved discrepancy
redraws none; a new discrepancy redraws them (pygal: ~0.05 s to draw both, ~0.2 s to import
in a fresh process). The in-process numbers leave out what a ``tcr report publish`` process
also pays (starting Python, importing the CLI, the ledger and the report code): the last lines
run that command as a fresh process for a plain event and for a new discrepancy.

    .venv/bin/python bench/bench_report.py [--events 10000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import DiscrepancyCategory, Severity
from tcr_kit.report.feed import publish, verify_site
from tests.report.conftest import KEYS, build_world


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp), bank="B-7")
        iw = Actor("iw-1", KEYS["iw-1"])
        led = Ledger.open(world.path, synchronous="NORMAL")
        base = len(list(led.audit.events()))
        t = time.perf_counter()
        for n in range(args.events - base):
            led.record_event(iw, "bench.note", [f"hsm:bench-{n % 50}"], {"outcome": f"n{n}"})
        print(f"ledger: {args.events} events ({time.perf_counter() - t:.1f} s to append)")
        site = Path(tmp) / "site"
        t = time.perf_counter()
        first = publish(led, site, person="iw-1", signer=KEYS["iw-1"])
        print(
            f"first publication: {first.published} events, {first.pages} pages in "
            f"{time.perf_counter() - t:.2f} s"
        )

        def one_event(what: str) -> None:
            t = time.perf_counter()
            one = publish(led, site, person="iw-1", signer=KEYS["iw-1"])
            took = time.perf_counter() - t
            charts = ", ".join(one.charts) or "none"
            print(
                f"publish 1 event ({what}) to a site of {one.size - 1} events: {took:.2f} s "
                f"({one.pages} page{'s' if one.pages != 1 else ''} rewritten, charts redrawn: "
                f"{charts}); target < 1 s: "
                f"{'ok' if took < 1 else 'MISSED'}"
            )

        led.record_event(iw, "bench.note", ["hsm:bench-x"], {"outcome": "plain"})
        one_event("a plain event")
        found = led.add_discrepancy(
            iw, category=DiscrepancyCategory.OTHER, severity=Severity.LOW, description="bench"
        )
        one_event("a new discrepancy: its counts change the charts")
        ca = Actor("ca-1", KEYS["ca-1"])
        led.resolve_discrepancy(ca, found.id, "bench: resolved")
        one_event("a discrepancy resolved: the charts' counts are unchanged")
        led.record_event(iw, "bench.note", ["hsm:bench-y"], {"outcome": "last"})
        one_event("a plain event")
        command = [
            sys.executable, "-m", "tcr_cli.main", "report", "publish", "--output-dir", str(site),
            "--ledger", str(world.path), "--as", "iw-1", "--key", str(world.key_files["iw-1"]),
            "--json",
        ]  # fmt: skip
        for what in ("a plain event", "a new discrepancy"):
            if what == "a plain event":
                led.record_event(iw, "bench.note", ["hsm:bench-z"], {"outcome": "cli"})
            else:
                led.add_discrepancy(
                    iw, category=DiscrepancyCategory.TIME, severity=Severity.LOW, description="b"
                )
            t = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            took = time.perf_counter() - t
            print(
                f"`tcr report publish` process, 1 event ({what}): {took:.2f} s; target < 1 s: "
                f"{'ok' if took < 1 else 'MISSED'}"
            )
        t = time.perf_counter()
        verified = verify_site(site)
        print(f"verify: {verified.entries} entries in {time.perf_counter() - t:.2f} s")
        led.close()


if __name__ == "__main__":
    main()
