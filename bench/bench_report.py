"""Report feed benchmark (not part of the test suite).

Target from issue 13: publishing 1 event to a site with 10,000 events takes under 1 s
(incremental: the new feed entry, the new signed head and proof, the index and the pages the
event touches; not the whole site).

    .venv/bin/python bench/bench_report.py [--events 10000]
"""

from __future__ import annotations

import argparse
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
        led.add_discrepancy(
            iw, category=DiscrepancyCategory.OTHER, severity=Severity.LOW, description="bench"
        )
        t = time.perf_counter()
        one = publish(led, site, person="iw-1", signer=KEYS["iw-1"])
        took = time.perf_counter() - t
        print(
            f"publish 1 event to a site of {one.size - 1} events ({one.pages} pages "
            f"rewritten, charts redrawn): {took:.2f} s, target < 1 s: "
            f"{'ok' if took < 1 else 'MISSED'}"
        )
        led.record_event(iw, "bench.note", ["hsm:bench-x"], {"outcome": "last"})
        t = time.perf_counter()
        one = publish(led, site, person="iw-1", signer=KEYS["iw-1"])
        took = time.perf_counter() - t
        print(
            f"publish 1 event (no discrepancy) to {one.size - 1} events: {took:.2f} s, "
            f"target < 1 s: {'ok' if took < 1 else 'MISSED'}"
        )
        t = time.perf_counter()
        verified = verify_site(site)
        print(f"verify: {verified.entries} entries in {time.perf_counter() - t:.2f} s")
        led.close()


if __name__ == "__main__":
    main()
