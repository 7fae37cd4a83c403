"""Audit log benchmarks (not part of the test suite).

Targets from issue 4: append 10,000 events in <= 10 s; verify >= 20,000 events/s with
signatures checked.

    .venv/bin/python bench/bench_audit.py [--events 10000] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from tcr_kit.audit.chain import AuditLog, ensure_schema
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.audit.verify import verify_log
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Credential, CredentialKind, Person, Role


def bench_raw(n: int, workers: int | None, synchronous: str) -> None:
    signer = SoftwareEd25519Signer.generate()
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(str(Path(tmp) / "a.sqlite"), isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        ensure_schema(conn)
        log = AuditLog(conn)
        conn.execute("BEGIN IMMEDIATE")
        log.register_key(signer, "bench", signer.public_key_bytes(), "bench")
        conn.execute("COMMIT")
        t = time.perf_counter()
        for i in range(n):
            conn.execute("BEGIN IMMEDIATE")
            log.append(signer, "bench", "bench.event", {"i": i, "note": "x" * 40}, [f"obj:{i}"])
            conn.execute("COMMIT")
        append_s = time.perf_counter() - t
        print(
            f"append (one transaction each, synchronous={synchronous}): {n} events in "
            f"{append_s:.2f} s "
            f"({n / append_s:,.0f}/s); 10,000 would take {10_000 * append_s / n:.1f} s, "
            f"target <= 10 s: {'ok' if 10_000 * append_s / n <= 10 else 'MISSED'}"
        )
        for w in sorted({1, workers or (os.cpu_count() or 1)}) if synchronous == "NORMAL" else ():
            t = time.perf_counter()
            report = verify_log(log.events(), log.checkpoints(), workers=w)
            verify_s = time.perf_counter() - t
            rate = report.events / verify_s
            print(
                f"verify with signatures, {w} worker(s): {report.events} events in "
                f"{verify_s:.2f} s ({rate:,.0f}/s) target >= 20,000/s: "
                f"{'ok' if rate >= 20_000 else 'MISSED'}"
            )


def bench_ledger(n: int) -> None:
    signer = SoftwareEd25519Signer.generate()
    with tempfile.TemporaryDirectory() as tmp:
        led = Ledger.open(Path(tmp) / "l.sqlite")
        pub = signer.public_key_bytes().hex()
        led.initialise(
            Person(id="sa", name="SA", roles=(Role.SA,), public_key=pub, key_algorithm="ed25519"),
            signer,
        )
        who = Actor("sa", signer)
        t = time.perf_counter()
        for i in range(n):
            led.add_credential(
                who, Credential(id=f"C{i}", kind=CredentialKind.USB_DRIVE, serial=f"S{i}")
            )
        s = time.perf_counter() - t
        print(f"ledger changes (record + event, fsync each): {n} in {s:.2f} s ({n / s:,.0f}/s)")
        t = time.perf_counter()
        led.verify()
        s = time.perf_counter() - t
        print(f"ledger verify (chain, signatures, rows): {s:.2f} s")
        led.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--ledger-changes", type=int, default=1000)
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}")
    bench_raw(args.events, args.workers, "NORMAL")
    bench_raw(args.events // 5, 1, "FULL")
    bench_ledger(args.ledger_changes)


if __name__ == "__main__":
    main()
