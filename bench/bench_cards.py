"""Benchmarks of the card layer on SoftHSM2 (not run by the test suite).

Targets: enrol one SoftHSM2 card <= 0.5 s; ``tcr card check`` without PIN <= 0.3 s.
Run from the repository root: ``.venv/bin/python bench/bench_cards.py [--rounds N]``.
Everything lives in a temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _procs import TCR, child_env  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tcr-bench-") as tmp:
        work = Path(tmp)
        from tests.fixtures.stack import SOFTHSM_MODULE, TRANSPORT_PIN, SoftHsm

        hsm = SoftHsm(work)
        os.environ["SOFTHSM2_CONF"] = str(hsm.conf)
        from tcr_kit.cards.enrol import check_card, enrol
        from tcr_kit.cards.pkcs11_backend import Pkcs11Card
        from tcr_kit.cards.record import TcrRef, load_record
        from tcr_kit.secrets import SecretBuffer
        from tcr_kit.sharing.native import split_bytes

        shares = split_bytes(os.urandom(32), 3, args.rounds)
        labels = [f"BENCH-{i}" for i in range(args.rounds)]
        for label in labels:
            hsm.new_token(label)
        enrol_times, check_times = [], []
        for i, (label, share) in enumerate(zip(labels, shares, strict=True)):
            card = Pkcs11Card(SOFTHSM_MODULE, token_label=label)
            t0 = time.perf_counter()
            enrol(
                card,
                share.encode_compact(),
                tcr=TcrRef(name=f"Bench {i}", id=f"bench-{i}"),
                current_pin=SecretBuffer(bytearray(TRANSPORT_PIN.encode())),
                new_pin=SecretBuffer(bytearray(b"bench-pin")),
                record_path=work / f"rec-{i}.json",
            )
            enrol_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            check_card(card, record=load_record(work / f"rec-{i}.json"))
            check_times.append(time.perf_counter() - t0)
        cli_times = []
        # Compiled bytecode, as an installed tcr has it (bench/_procs.py); one warm-up run.
        env = child_env(work / "pycache", dict(os.environ, PYTHONPATH=str(ROOT)))
        subprocess.run([*TCR, "--help"], check=True, env=env, capture_output=True, cwd=ROOT)
        for i, label in enumerate(labels[: min(5, args.rounds)]):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "tcr_cli.main", "card", "check", "--pkcs11-module",
                 SOFTHSM_MODULE, "--token-label", label, "--record", str(work / f"rec-{i}.json"),
                 "--quiet"],
                check=True, env=env, capture_output=True, cwd=ROOT,
            )  # fmt: skip
            cli_times.append(time.perf_counter() - t0)

    def line(name: str, values: list[float], target: float | None) -> str:
        med = statistics.median(values)
        verdict = "" if target is None else ("  ok" if med <= target else "  OVER TARGET")
        goal = f" (target {target:.2f} s)" if target is not None else ""
        return f"{name:38s} median {med:.3f} s  max {max(values):.3f} s{goal}{verdict}"

    print(line("enrol, library (SoftHSM2)", enrol_times, 0.5))
    print(line("check without PIN, library", check_times, None))
    print(line("tcr card check without PIN, process", cli_times, 0.3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
