"""Benchmark: tcr shares split/combine against gfsplit/gfcombine, and `tcr --help` start-up.

Run with ``scripts/bench.sh`` (or ``.venv/bin/python bench/bench_shares.py``). Everything
runs in one process tree, in the same run, on the same file in /dev/shm (RAM), so the
ratios compare like with like; the files are deleted at the end. Peak memory is each child's
maximum resident set size, from wait4(). ``--size-mib 64 1024`` adds the 1 GiB case (it needs
about 16 GiB of /dev/shm). tcr runs with the kernel it picks (ISA-L when installed), then
with ``TCR_GF_KERNEL=numpy`` for comparison; the targets (issue 14) apply to the first.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TCR = [sys.executable, "-m", "tcr_cli.main"]


def run(cmd: list[str], **kw: object) -> tuple[float, int]:
    """Wall time (s) and peak RSS (KiB) of one command; fails loudly on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed: {err.strip()}")
    return elapsed, usage.ru_maxrss


def best_of(n: int, cmd: list[str], **kw: object) -> tuple[float, int]:
    results = [run(cmd, **kw) for _ in range(n)]
    return min(r[0] for r in results), max(r[1] for r in results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, nargs="+", default=[64])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best is kept)")
    args = parser.parse_args()
    for tool in ("gfsplit", "gfcombine"):
        if not shutil.which(tool):
            raise SystemExit(f"bench: {tool} not found (run scripts/setup.sh)")
    from tcr_kit.sharing.stream import kernel_name

    kernel = kernel_name()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus; kernel {kernel}")
    for size in args.size_mib:
        bench_size(size, args.repeat, kernel)
    return 0


def tcr_split_combine(
    secret: Path, tcr_dir: Path, work: Path, repeat: int, env: dict[str, str]
) -> tuple[tuple[float, int], tuple[float, int]]:
    threshold, count = 5, 7
    tcr_dir.mkdir()
    timings = []
    split_cmd = [
        *TCR, "shares", "split", "-m", str(threshold), "-n", str(count),
        "-i", str(secret), "-o", str(tcr_dir), "--encoding", "compact", "--quiet",
    ]  # fmt: skip
    for _ in range(repeat):
        for p in tcr_dir.iterdir():
            p.unlink()
        timings.append(run(split_cmd, env=env))
    split = (min(t[0] for t in timings), max(t[1] for t in timings))
    tcr_shares = sorted(str(p) for p in tcr_dir.glob("*.share-*"))[:threshold]
    tcr_out = work / "tcr.out"
    timings = []
    for _ in range(repeat):
        tcr_out.unlink(missing_ok=True)
        timings.append(
            run([*TCR, "shares", "combine", "-o", str(tcr_out), "--quiet", *tcr_shares], env=env)
        )
    combine = (min(t[0] for t in timings), max(t[1] for t in timings))
    if not filecmp.cmp(tcr_out, secret, shallow=False):
        raise SystemExit("bench: tcr combine output differs from the secret")
    tcr_out.unlink()
    shutil.rmtree(tcr_dir)
    return split, combine


def bench_size(size_mib: int, repeat: int, kernel: str) -> None:
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    work = Path(tempfile.mkdtemp(prefix="tcr-bench-", dir=base))
    try:
        secret = work / "secret.bin"
        with open(secret, "wb") as fh:
            for _ in range(size_mib):
                fh.write(os.urandom(1 << 20))
        threshold, count = 5, 7
        results: dict[str, tuple[float, int]] = {}

        gf_dir = work / "gf"
        gf_dir.mkdir()
        gf_secret = gf_dir / "secret.bin"
        os.link(secret, gf_secret)
        timings = []
        for _ in range(repeat):
            for p in gf_dir.glob("secret.bin.*"):
                p.unlink()
            timings.append(run(["gfsplit", "-n", str(threshold), "-m", str(count), str(gf_secret)]))
        results["gfsplit"] = (min(t[0] for t in timings), max(t[1] for t in timings))
        gf_shares = sorted(str(p) for p in gf_dir.glob("secret.bin.*"))[:threshold]
        gf_out = work / "gf.out"
        timings = []
        for _ in range(repeat):
            gf_out.unlink(missing_ok=True)
            timings.append(run(["gfcombine", "-o", str(gf_out), *gf_shares]))
        results["gfcombine"] = (min(t[0] for t in timings), max(t[1] for t in timings))
        if not filecmp.cmp(gf_out, secret, shallow=False):
            raise SystemExit("bench: gfcombine output differs from the secret")

        for p in gf_dir.glob("secret.bin.*"):
            p.unlink()
        gf_out.unlink(missing_ok=True)
        env = dict(os.environ)
        env.pop("TCR_GF_KERNEL", None)
        split, combine = tcr_split_combine(secret, work / "tcr", work, repeat, env)
        results[f"tcr split ({kernel})"] = split
        results[f"tcr combine ({kernel})"] = combine
        if kernel != "numpy":
            env["TCR_GF_KERNEL"] = "numpy"
            split_np, combine_np = tcr_split_combine(secret, work / "tcrnp", work, 1, env)
            results["tcr split (numpy)"] = split_np
            results["tcr combine (numpy)"] = combine_np

        help_times = [run([*TCR, "--help"])[0] for _ in range(15)]
        results["tcr --help"] = (statistics.median(help_times), 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mib = size_mib
    print()
    print(f"{mib} MiB secret, {threshold}-of-{count}, best of {repeat}, files in RAM")
    print(f"{'what':<22} {'seconds':>8} {'MB/s':>8} {'peak MiB':>9}")
    for name, (seconds, rss) in results.items():
        rate = f"{mib * 1.048576 / seconds:8.1f}" if name != "tcr --help" else " " * 8
        peak = f"{rss / 1024:9.1f}" if rss else " " * 9
        print(f"{name:<22} {seconds:8.3f} {rate} {peak}")
    split_ratio = results[f"tcr split ({kernel})"][0] / results["gfsplit"][0]
    combine_ratio = results[f"tcr combine ({kernel})"][0] / results["gfcombine"][0]
    peak = max(rss for name, (_, rss) in results.items() if name.startswith("tcr ")) / 1024
    help_ms = results["tcr --help"][0] * 1000
    checks = [
        ("split time / gfsplit", f"{split_ratio:.2f}x", "<= 0.25x", split_ratio <= 0.25),
        ("combine time / gfcombine", f"{combine_ratio:.2f}x", "<= 0.60x", combine_ratio <= 0.6),
        ("peak memory", f"{peak:.1f} MiB", "<= 64 MiB", peak <= 64),
        ("tcr --help median", f"{help_ms:.0f} ms", "<= 80 ms", help_ms <= 80),
    ]
    print()
    for name, value, target, ok in checks:
        print(f"{name:<26} {value:>10}  target {target:<10} {'ok' if ok else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
