"""Benchmark: tcr shares split/combine against gfsplit/gfcombine, and `tcr --help` start-up.

Run with ``scripts/bench.sh`` (or ``.venv/bin/python bench/bench_shares.py``). Everything
runs in one process tree, in the same run, on the same file in /dev/shm (RAM), so the
ratios compare like with like; the files are deleted at the end. Peak memory is each child's
maximum resident set size, from wait4(). ``--size-mib 64 1024`` adds the 1 GiB case (it needs
about 9 GiB of /dev/shm: the secret, seven shares, one output). tcr runs with the kernel it
picks (ISA-L when installed), then with ``TCR_GF_KERNEL=numpy`` for comparison (``--no-numpy``
skips it); the targets (issue 14) apply to the first. Each timing is given as wall and CPU
seconds (see ``bench/_procs.py``): on a shared machine the CPU ratio is the steadier one.
The tcr timed is a wheel of this tree installed into a new venv, as a user has it; ``--dev``
times the development venv's editable install instead (see ``bench/_procs.py``).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from _procs import SCHEDULING, Run, best, child_env, run, tcr_command, two_core_gain


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, nargs="+", default=[64])
    parser.add_argument(
        "--repeat", type=int, default=7, help="rounds (each runs the anchor, then tcr)"
    )
    parser.add_argument("--no-numpy", action="store_true", help="skip the numpy kernel's runs")
    parser.add_argument(
        "--dev", action="store_true", help="time the development venv's tcr, not a wheel's"
    )
    args = parser.parse_args()
    for tool in ("gfsplit", "gfcombine"):
        if not shutil.which(tool):
            raise SystemExit(f"bench: {tool} not found (run scripts/setup.sh)")
    from tcr_kit.sharing.stream import kernel_name

    kernel = kernel_name()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus; kernel {kernel}")
    print(f"timed children scheduled {SCHEDULING}")
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    install = Path(tempfile.mkdtemp(prefix="tcr-bench-install-", dir=base))
    try:
        tcr = tcr_command(install, dev=args.dev)
        print(f"tcr: {tcr.description}")
        for size in args.size_mib:
            bench_size(tcr.argv, size, args.repeat, kernel, numpy=not args.no_numpy)
    finally:
        shutil.rmtree(install, ignore_errors=True)
    return 0


def tcr_split_combine(
    tcr: list[str], secret: Path, tcr_dir: Path, work: Path, repeat: int, env: dict[str, str]
) -> tuple[Run, Run]:
    threshold, count = 5, 7
    tcr_dir.mkdir()
    split_cmd = [
        *tcr, "shares", "split", "-m", str(threshold), "-n", str(count),
        "-i", str(secret), "-o", str(tcr_dir), "--encoding", "compact", "--quiet",
    ]  # fmt: skip
    runs = []
    for _ in range(repeat):
        for p in tcr_dir.iterdir():
            p.unlink()
        runs.append(run(split_cmd, env=env))
    split = best(runs)
    tcr_shares = sorted(str(p) for p in tcr_dir.glob("*.share-*"))[:threshold]
    tcr_out = work / "tcr.out"
    runs = []
    for _ in range(repeat):
        tcr_out.unlink(missing_ok=True)
        runs.append(
            run([*tcr, "shares", "combine", "-o", str(tcr_out), "--quiet", *tcr_shares], env=env)
        )
    combine = best(runs)
    if not filecmp.cmp(tcr_out, secret, shallow=False):
        raise SystemExit("bench: tcr combine output differs from the secret")
    tcr_out.unlink()
    shutil.rmtree(tcr_dir)
    return split, combine


def bench_size(
    tcr: list[str], size_mib: int, repeat: int, kernel: str, *, numpy: bool = True
) -> None:
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    work = Path(tempfile.mkdtemp(prefix="tcr-bench-", dir=base))
    threshold, count = 5, 7
    results: dict[str, Run] = {}
    pairs: dict[str, list[tuple[Run, Run]]] = {"split": [], "combine": []}
    try:
        secret = work / "secret.bin"
        with open(secret, "wb") as fh:
            for _ in range(size_mib):
                fh.write(os.urandom(1 << 20))
        env = child_env(work / "pycache")
        env.pop("TCR_GF_KERNEL", None)
        # Compile the bytecode once, as an install would have (`--help` alone imports little).
        for command in ("split", "combine"):
            run([*tcr, "shares", command, "--help"], env=env)

        gf_dir = work / "gf"
        gf_dir.mkdir()
        gf_secret = gf_dir / "secret.bin"
        os.link(secret, gf_secret)
        tcr_dir = work / "tcr"
        tcr_dir.mkdir()
        split_cmd = [
            *tcr, "shares", "split", "-m", str(threshold), "-n", str(count),
            "-i", str(secret), "-o", str(tcr_dir), "--encoding", "compact", "--quiet",
        ]  # fmt: skip
        # Each round runs the anchor and tcr back to back, so that both meet the same host:
        # this machine's speed drifts by a third within minutes, and a ratio of two bests
        # taken a minute apart measures the drift as much as the programs.
        for _ in range(repeat):
            for p in [*gf_dir.glob("secret.bin.*"), *tcr_dir.iterdir()]:
                p.unlink()
            pairs["split"].append(
                (run(["gfsplit", "-n", str(threshold), "-m", str(count), str(gf_secret)]),
                 run(split_cmd, env=env))
            )  # fmt: skip
        gf_shares = sorted(str(p) for p in gf_dir.glob("secret.bin.*"))[:threshold]
        tcr_shares = sorted(str(p) for p in tcr_dir.glob("*.share-*"))[:threshold]
        gf_out, tcr_out = work / "gf.out", work / "tcr.out"
        combine_cmd = [*tcr, "shares", "combine", "-o", str(tcr_out), "--quiet", *tcr_shares]
        for _ in range(repeat):
            gf_out.unlink(missing_ok=True)
            tcr_out.unlink(missing_ok=True)
            pairs["combine"].append(
                (run(["gfcombine", "-o", str(gf_out), *gf_shares]), run(combine_cmd, env=env))
            )
        for out, who in ((gf_out, "gfcombine"), (tcr_out, "tcr combine")):
            if not filecmp.cmp(out, secret, shallow=False):
                raise SystemExit(f"bench: {who} output differs from the secret")
            out.unlink()
        shutil.rmtree(gf_dir)
        shutil.rmtree(tcr_dir)
        results["gfsplit"] = best([a for a, _ in pairs["split"]])
        results["gfcombine"] = best([a for a, _ in pairs["combine"]])
        results[f"tcr split ({kernel})"] = best([b for _, b in pairs["split"]])
        results[f"tcr combine ({kernel})"] = best([b for _, b in pairs["combine"]])
        if kernel != "numpy" and numpy:
            env_np = dict(env, TCR_GF_KERNEL="numpy")
            split_np, combine_np = tcr_split_combine(tcr, secret, work / "tcrnp", work, 1, env_np)
            results["tcr split (numpy)"] = split_np
            results["tcr combine (numpy)"] = combine_np
        one_core, two_cores = two_core_gain()
        small_combine = combine_start_up(tcr, work, threshold, count, env)
        help_runs = [run([*tcr, "--help"], env=env) for _ in range(15)]
        results["tcr --help"] = Run(
            statistics.median(r.wall for r in help_runs),
            statistics.median(r.cpu for r in help_runs),
            0,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mib = size_mib
    print()
    print(f"{mib} MiB secret, {threshold}-of-{count}, {repeat} rounds (best shown), files in RAM")
    print(f"{'what':<22} {'wall s':>8} {'cpu s':>8} {'MB/s':>8} {'peak MiB':>9}")
    for name, r in results.items():
        rate = f"{mib * 1.048576 / r.wall:8.1f}" if name != "tcr --help" else " " * 8
        peak = f"{r.rss_kib / 1024:9.1f}" if r.rss_kib else " " * 9
        print(f"{name:<22} {r.wall:8.3f} {r.cpu:8.3f} {rate} {peak}")
    split, combine = results[f"tcr split ({kernel})"], results[f"tcr combine ({kernel})"]
    gfsplit, gfcombine = results["gfsplit"], results["gfcombine"]
    peak = max(r.rss_kib for name, r in results.items() if name.startswith("tcr ")) / 1024
    help_ms = results["tcr --help"].wall * 1000
    # The targets (issue 14) are on time as a user waits for it: the wall ratios, judged on
    # the median of the rounds' ratios (each round ran both programs back to back). The
    # ratio of the two bests is printed too. The CPU ratios say how much work each side
    # did (tcr spends two cores to finish sooner).
    print()
    print(f"{'wall ratio':<27} {'median':>9} {'min':>6} {'max':>6} {'bests':>6}  target")
    for what, anchor, target in (("split", "gfsplit", 0.25), ("combine", "gfcombine", 0.6)):
        ratios = sorted(b.wall / a.wall for a, b in pairs[what])
        middle = statistics.median(ratios)
        bests = results[f"tcr {what} ({kernel})"].wall / results[anchor].wall
        verdict = "ok" if middle <= target else "MISSED"
        print(
            f"{what + ' / ' + anchor:<27} {middle:8.2f}x {ratios[0]:5.2f}x {ratios[-1]:5.2f}x"
            f" {bests:5.2f}x  <= {target:.2f}x {verdict}"
        )
    effort = [
        ("split / gfsplit (cpu)", split.cpu / gfsplit.cpu),
        ("combine / gfcombine (cpu)", combine.cpu / gfcombine.cpu),
    ]
    for name, ratio in effort:
        print(f"{name:<27} {ratio:9.2f}x  (work done, no target)")
    print(
        f"{'peak memory':<27} {peak:6.1f} MiB  target <= 64 MiB  {'ok' if peak <= 64 else 'MISSED'}"
    )
    print(f"{'tcr --help median':<27} {help_ms:7.0f} ms  (the start-up every command pays)")
    print(
        f"{'second core gives':<27} {two_cores / one_core:7.2f}x  SHA-256 on two threads against"
        f" one ({one_core:.0f} MiB/s), measured now: tcr hashes on both cores, gfsplit and"
        " gfcombine use one, so a busy host (below ~1.9x) lifts tcr's ratios"
    )
    # The SHA-256 the formats require, at the rate two threads reach now: a combine hashes
    # every payload it uses (each share's tag covers its payload's SHA-256); a split hashes
    # every payload and every share's compact form (the manifest lists that digest). No
    # implementation of either format can finish before this, whatever else it does.
    for what, anchor, mib_hashed, target in (
        ("split", gfsplit, 2 * count * mib, 0.25),
        ("combine", gfcombine, threshold * mib, 0.6),
    ):
        floor = mib_hashed / two_cores
        print(
            f"{'SHA-256 floor, ' + what:<27} {floor * 1000:7.0f} ms  = {floor / anchor.wall:.2f}x"
            f" of the anchor's best ({floor / anchor.wall / target:.0%} of the target):"
            f" {mib_hashed} MiB the format requires hashed, on two threads at the rate measured now"
        )
    print(
        f"{'combine start-up':<27} {small_combine * 1000:7.0f} ms  = "
        f"{small_combine / gfcombine.wall:.2f}x of gfcombine's best: a combine of 100-byte"
        " shares (median of 7), serial before the data pass"
    )


def combine_start_up(
    tcr: list[str], work: Path, threshold: int, count: int, env: dict[str, str]
) -> float:
    """Median wall time of a combine of 100-byte shares: the start-up a combine pays
    before its data pass, whatever the size."""
    small = work / "small"
    small.mkdir()
    secret = small / "secret.bin"
    secret.write_bytes(os.urandom(100))
    run(
        [*tcr, "shares", "split", "-m", str(threshold), "-n", str(count), "-i", str(secret),
         "-o", str(small), "--encoding", "compact", "--quiet"],
        env=env,
    )  # fmt: skip
    shares = sorted(str(p) for p in small.glob("*.share-*"))[:threshold]
    out = small / "out"
    walls = []
    for _ in range(7):
        out.unlink(missing_ok=True)
        walls.append(
            run([*tcr, "shares", "combine", "-o", str(out), "--quiet", *shares], env=env).wall
        )
    shutil.rmtree(small)
    return statistics.median(walls)


if __name__ == "__main__":
    sys.exit(main())
