"""Benchmark: start-up of the interactive commands as whole processes, against `tcr --help`.

Issue 14's target: `tcr card check` (no PIN), `tcr status` and `tcr shares inspect` take at
most 0.3 s each as a process. Each command runs ``--rounds`` times (median kept) on real
inputs made here: a native share file, a ledger with one person, a SoftHSM2 token enrolled as
a card. The children run with compiled bytecode, as an installed tcr does (see
``bench/_procs.py``); wall and CPU seconds are both given. One extra run under
``python -X importtime`` names the heaviest imports and says whether numpy, pydantic or the
crypto libraries were loaded. Everything lives in a temporary folder removed at the end.

    .venv/bin/python bench/bench_startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _procs import Run, TcrCommand, child_env, run, tcr_command  # noqa: E402

HEAVY = ("numpy", "pydantic", "Crypto", "nacl", "cryptography", "multiprocessing", "ctypes")


def prepare(work: Path) -> dict[str, list[str]]:
    from tcr_kit.audit.signing import SoftwareEd25519Signer
    from tcr_kit.custody.ledger import Ledger
    from tcr_kit.custody.models import Person, Role
    from tcr_kit.sharing.native import split_bytes

    shares = split_bytes(os.urandom(32), 2, 3)
    share = work / "key.share-001.tcrs"
    share.write_bytes(shares[0].encode_compact())

    signer = SoftwareEd25519Signer.generate()
    ledger = work / "ledger.sqlite"
    led = Ledger.open(ledger)
    led.initialise(
        Person(
            id="sa",
            name="SA",
            roles=(Role.SA,),
            public_key=signer.public_key_bytes().hex(),
            key_algorithm="ed25519",
        ),
        signer,
    )
    led.close()

    commands = {
        "tcr --help": ["--help"],
        "tcr shares inspect": ["shares", "inspect", str(share)],
        "tcr status": ["status", "--ledger", str(ledger), "--as", "sa"],
    }
    try:
        from tcr_kit.cards.enrol import enrol
        from tcr_kit.cards.pkcs11_backend import Pkcs11Card
        from tcr_kit.cards.record import TcrRef
        from tcr_kit.secrets import SecretBuffer
        from tests.fixtures.stack import SOFTHSM_MODULE, TRANSPORT_PIN, SoftHsm

        hsm = SoftHsm(work)
        os.environ["SOFTHSM2_CONF"] = str(hsm.conf)
        hsm.new_token("BENCH")
        record = work / "rec.json"
        enrol(
            Pkcs11Card(SOFTHSM_MODULE, token_label="BENCH"),  # noqa: S106 - a token's name
            shares[1].encode_compact(),
            tcr=TcrRef(name="Bench", id="bench"),
            current_pin=SecretBuffer(bytearray(TRANSPORT_PIN.encode())),
            new_pin=SecretBuffer(bytearray(b"bench-pin")),
            record_path=record,
        )
        commands["tcr card check"] = [
            "card", "check", "--pkcs11-module", SOFTHSM_MODULE, "--token-label", "BENCH",
            "--record", str(record), "--quiet",
        ]  # fmt: skip
    except Exception as exc:
        print(f"(card check skipped: no SoftHSM2 token: {exc})")
    return commands


def timed(tcr: TcrCommand, args: list[str], env: dict[str, str]) -> Run:
    return run([*tcr.argv, *args], env=env, cwd=ROOT)


def imports(
    tcr: TcrCommand, args: list[str], env: dict[str, str]
) -> tuple[list[str], list[tuple[int, str]]]:
    proc = subprocess.run(
        [*tcr.importtime, *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    loaded, top = set(), []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit():
            continue
        module = name.strip()
        loaded.add(module.split(".")[0])
        if not name.startswith("  "):  # a top-level import of the command
            top.append((int(cumulative), module))
    return sorted(m for m in HEAVY if m in loaded), sorted(top, reverse=True)[:4]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--dev", action="store_true", help="time the development venv's tcr, not a wheel's"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tcr-bench-startup-") as tmp:
        work = Path(tmp)
        commands = prepare(work)
        tcr = tcr_command(work, dev=args.dev)
        env = child_env(work / "pycache")
        results = {}
        for name, argv in commands.items():
            timed(tcr, argv, env)  # warm the page cache and compile the bytecode, as installed
            runs = [timed(tcr, argv, env) for _ in range(args.rounds)]
            wall = statistics.median(r.wall for r in runs)
            cpu = statistics.median(r.cpu for r in runs)
            results[name] = (wall, cpu, *imports(tcr, argv, env))
    load = os.getloadavg()[0]
    cpus = os.cpu_count()
    print(f"tcr: {tcr.description}")
    print(f"median of {args.rounds} runs per command; load average {load:.1f} on {cpus} cpus")
    base = results["tcr --help"][0]
    header = f"{'command':<20} {'wall s':>7} {'cpu s':>6} {'/ --help':>8}  {'target':<15} "
    print(header + "heavy imports; top imports (ms)")
    for name, (wall, cpu, heavy, top) in results.items():
        target = "" if name == "tcr --help" else ("<= 0.3 s " + ("ok" if wall <= 0.3 else "MISSED"))
        tops = ", ".join(f"{m} {us / 1000:.0f}" for us, m in top)
        print(
            f"{name:<20} {wall:7.3f} {cpu:6.3f} {wall / base:7.2f}x  {target:<15} "
            f"{','.join(heavy) or '-'}; {tops}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
