"""Benchmark of HSM activation on SoftHSM2 (not run by the test suite).

Target: activation with 3 cards (SoftHSM2 tokens) to a logged-in HSM session <= 1 s, in
process (library API: open the HSM, read 3 cards, combine, derive the PIN, log in), and
the same through the ``tcr hsm activate -- true`` command for reference.
Run from the repository root: ``.venv/bin/python bench/bench_hsm.py [--rounds N]``.
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

TARGET = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tcr-bench-hsm-") as tmp:
        work = Path(tmp)
        from tests.fixtures.stack import SOFTHSM_MODULE, TRANSPORT_PIN, SoftHsm

        softhsm = SoftHsm(work)
        os.environ["SOFTHSM2_CONF"] = str(softhsm.conf)
        from tcr_kit.cards.enrol import CardSelector, enrol
        from tcr_kit.cards.pkcs11_backend import Pkcs11Card
        from tcr_kit.cards.record import TcrRef
        from tcr_kit.hsm.activation import Activation, CardShare
        from tcr_kit.secrets import SecretBuffer
        from tcr_kit.sharing.native import open_share_file
        from tests.integration.hsm_helpers import make_hsm

        hsm = make_hsm(work, softhsm, m=3, n=5)
        records = []
        for i in range(3):
            label = f"BENCH-CARD-{i}"
            softhsm.new_token(label)
            record = work / f"card-{i}.json"
            enrol(
                Pkcs11Card(SOFTHSM_MODULE, token_label=label),
                open_share_file(hsm.plan.share_files[i]).encode_compact(),
                tcr=TcrRef(name=f"Bench {i}", id=f"bench-{i}"),
                current_pin=SecretBuffer(bytearray(TRANSPORT_PIN.encode())),
                new_pin=SecretBuffer(bytearray(b"bench-pin")),
                record_path=record,
            )
            records.append((label, record))
        from tcr_kit.cards.record import load_record

        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            sources = [
                CardShare(
                    CardSelector(pkcs11_module=SOFTHSM_MODULE, token_label=label),
                    SecretBuffer(bytearray(b"bench-pin")),
                    load_record(record),
                )
                for label, record in records
            ]
            with Activation(hsm.loaded).session(sources):
                times.append(time.perf_counter() - t0)
        pin = work / "pin"
        pin.write_text("bench-pin\n")
        pin.chmod(0o600)
        cmd = [sys.executable, "-m", "tcr_cli.main", "hsm", "activate", "--config",
               str(hsm.config_path), "--pkcs11-module", SOFTHSM_MODULE, "-q",
               *(x for _, r in records for x in ("--card", f"record={r},pin-file={pin}")),
               "--no-ledger", "--", "true"]  # fmt: skip
        # No ledger here: the attempts go to a local activation log in the bench's folder.
        env = child_env(
            work / "pycache",
            dict(os.environ, PYTHONPATH=str(ROOT), TCR_ACTIVATION_LOG=str(work / "act.log")),
        )
        subprocess.run([*TCR, "--help"], check=True, env=env, capture_output=True)  # compile
        cli_times = []
        for _ in range(max(1, args.rounds // 2)):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, capture_output=True)
            cli_times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    print(
        f"3-card activation to a logged-in session (library): median {median:.3f} s,"
        f" max {max(times):.3f} s over {len(times)} rounds; target <= {TARGET:.1f} s:"
        f" {'ok' if median <= TARGET else 'MISSED'}"
    )
    print(
        f"tcr hsm activate (3 cards) -- true, whole process: median"
        f" {statistics.median(cli_times):.3f} s (reference, includes Python start-up)"
    )
    return 0 if median <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
