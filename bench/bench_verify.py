"""Benchmark: `tcr audit verify --transcript` of 20,000 and 100,000 events, as a process.

Issue 14's target: at least 20,000 events/s on two cores (100,000 events in at most 5 s).
The transcripts are made here (signed with libsodium for speed), in /dev/shm when it exists,
and deleted at the end. The anchor is a plain single-core loop that only checks the Ed25519
signatures of the same events with pyca/cryptography (no chain, no JSON), run in the same
process, so the ratio says what the chain checking and the parallelism cost or gain.

    .venv/bin/python bench/bench_verify.py [--events 20000 100000] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nacl.signing import SigningKey

from tcr_kit.audit.chain import AuditLog, ensure_schema
from tcr_kit.audit.signing import ED25519
from tcr_kit.audit.transcript import build_transcript, write_transcript

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _procs import RT_PREFIX, SCHEDULING, child_env, tcr_command


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class FastSigner:
    """An Ed25519 :class:`Signer` on libsodium: only to make large logs quickly."""

    def __init__(self) -> None:
        self._key = SigningKey.generate()

    @property
    def algorithm(self) -> str:
        return ED25519

    def public_key_bytes(self) -> bytes:
        return bytes(self._key.verify_key)

    def sign(self, data: bytes) -> bytes:
        return bytes(self._key.sign(data).signature)


def make_transcript(n: int, path: Path) -> list[tuple[bytes, bytes, bytes]]:
    """Write an ``n``-event transcript; return (public key, hash, signature) per event."""
    signer = FastSigner()
    conn = sqlite3.connect(":memory:", isolation_level=None)
    ensure_schema(conn)
    log = AuditLog(conn)
    conn.execute("BEGIN")
    log.register_key(signer, "bench", signer.public_key_bytes(), "bench")
    for i in range(n - 1):
        log.append(signer, "bench", "bench.event", {"i": i, "note": "x" * 40}, [f"obj:{i}"])
    conn.execute("COMMIT")
    doc = build_transcript(log)
    write_transcript(doc, path)
    pub = signer.public_key_bytes()
    return [(pub, bytes.fromhex(e["hash"]), bytes.fromhex(e["signature"])) for e in doc["events"]]


def anchor_rate(jobs: list[tuple[bytes, bytes, bytes]]) -> float:
    """Events/s of a bare single-core pyca/cryptography Ed25519 loop over the same events."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = Ed25519PublicKey.from_public_bytes(jobs[0][0])
    start = time.perf_counter()
    for _, message, signature in jobs:
        key.verify(signature, message)
    return len(jobs) / (time.perf_counter() - start)


def floor_rate(jobs: list[tuple[bytes, bytes, bytes]]) -> float:
    """Events/s of tcr's own Ed25519 check (libsodium) alone, on one core: the ceiling
    for two cores is twice this, whatever the machine's speed at the moment."""
    from tcr_kit.audit.signing import make_verifier

    check = make_verifier(ED25519, jobs[0][0])
    start = time.perf_counter()
    for _, message, signature in jobs:
        check(message, signature)
    return len(jobs) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--dev", action="store_true", help="time the development venv's tcr, not a wheel's"
    )
    args = parser.parse_args()
    if RT_PREFIX:
        # The anchor runs in this process and the verifier in its children: all of them
        # under the same real-time policy (children inherit it), as bench/_procs.py explains.
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    work = Path(tempfile.mkdtemp(prefix="tcr-bench-verify-", dir=base))
    rows: list[tuple[int, float, float, float, float, float]] = []
    env = child_env(work / "pycache")
    try:
        tcr = tcr_command(work, dev=args.dev)
        print(f"tcr: {tcr.description}")
        # Compile the bytecode once, as an install would have.
        subprocess.run([*tcr.argv, "audit", "verify", "--help"], env=env, capture_output=True)
        for n in args.events:
            path = work / f"t{n}.json"
            jobs = make_transcript(n, path)
            extra = ["--workers", str(args.workers)] if args.workers else []
            best, best_cpu = float("inf"), float("inf")
            for _ in range(args.repeat):
                cpu = children_cpu()
                start = time.perf_counter()
                proc = subprocess.run(
                    [*tcr.argv, "audit", "verify", "--transcript", str(path), "--json", *extra],
                    capture_output=True,
                    text=True,
                    env=env,
                )
                elapsed = time.perf_counter() - start
                cpu = children_cpu() - cpu
                if proc.returncode != 0:
                    raise SystemExit(f"bench: verify failed: {proc.stderr.strip()}")
                report = json.loads(proc.stdout)
                if report.get("events", n) != n:
                    raise SystemExit(f"bench: verified {report.get('events')} events, not {n}")
                best, best_cpu = min(best, elapsed), min(best_cpu, cpu)
            anchor = anchor_rate(jobs[: min(n, 20_000)])
            floor = floor_rate(jobs[: min(n, 20_000)])
            rows.append((n, best, best_cpu, n / best, anchor, floor))
            path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"cpus: {os.cpu_count()}, load {load:.1f}, best of {args.repeat}, whole processes")
    print(f"scheduled {SCHEDULING}")
    print(
        f"{'events':>8} {'wall s':>7} {'cpu s':>6} {'us cpu/ev':>9} {'events/s':>9} "
        f"{'anchor/s':>9} {'ratio':>6} {'ceiling':>7}  target"
    )
    for n, seconds, cpu, rate, anchor, floor in rows:
        ok = rate >= 20_000
        print(
            f"{n:>8} {seconds:7.2f} {cpu:6.2f} {cpu / n * 1e6:9.1f} {rate:9,.0f} {anchor:9,.0f} "
            f"{rate / anchor:5.2f}x {rate / (2 * floor):6.0%}  >= 20,000/s "
            f"{'ok' if ok else 'MISSED'}"
        )
    print("(anchor: one core checking the same signatures with pyca/cryptography, no chain;")
    print(" ceiling: the share of two cores doing nothing but tcr's libsodium check, measured")
    print(f" now: {rows[-1][5]:,.0f} checks/s per core)" if rows else " no rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
