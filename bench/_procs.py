"""What the benchmarks share: child processes that run as an installed tcr does, timed by
wall clock and by CPU.

* **Compiled bytecode.** An installed package has its ``.pyc`` files; a development shell
  often sets ``PYTHONDONTWRITEBYTECODE=1``, and then every ``tcr`` process compiles every
  module it imports from source, which more than doubles start-up. The children run
  without it, with ``PYTHONPYCACHEPREFIX`` pointing into the benchmark's temporary folder
  (so the tree stays clean), after one warm-up run.
* **Real-time scheduling when allowed.** As root, every timed child (tcr and its anchor
  alike) runs under ``chrt -f 10`` (SCHED_FIFO): the neighbours of a shared machine then
  wait while it runs, instead of taking turns with it, so the wall ratio measures the two
  programs and not the load. ``TCR_BENCH_RT=0`` turns it off; :data:`SCHEDULING` says which
  applies, and each benchmark prints it. The kernel's real-time throttling (5 % of each
  second left to others) still applies.
* **The installed form, by default.** A user's ``tcr`` is installed from a wheel; the
  development venv's is an editable install, whose import hook (a ``.pth`` file that every
  interpreter start runs) costs start-up that no user pays. :func:`tcr_command` installs a
  wheel of this tree into a throw-away venv (its dependencies are taken from the
  development venv, so nothing is downloaded but the build backend) and the benchmarks time
  that; ``--dev`` times the development venv instead, and each benchmark prints which.
* **CPU time next to wall time.** The machine may be shared: wall time then measures the
  neighbours as much as tcr. The CPU seconds (user + system, from ``wait4``) of the same
  runs are what this process tree did; both are printed, and a ratio against an anchor is
  taken for each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TCR = [sys.executable, "-m", "tcr_cli.main"]
"""The development venv's tcr (the editable install)."""


@dataclass(frozen=True)
class TcrCommand:
    argv: list[str]
    """The command that runs ``tcr``."""
    importtime: list[str]
    """The same under ``python -X importtime``."""
    description: str


def tcr_command(work: Path, *, dev: bool = False) -> TcrCommand:
    """The ``tcr`` to time: by default a wheel of this tree installed
    into a new venv under ``work`` (as a user installs it); with ``dev`` the development
    venv's (:data:`TCR`).

    The new venv gets no dependencies of its own: a ``.pth`` file puts the development
    venv's site-packages after its own, so the same libraries load, and only the package
    itself and its console script are what ``pip install`` makes of the wheel.
    """
    if dev:
        return TcrCommand(
            TCR, [sys.executable, "-X", "importtime", *TCR[1:]], "the development venv's"
        )
    import sysconfig
    import venv

    # Built from a copy of the sources: setuptools keeps a build/ folder in the tree it
    # builds, whose stale files a later wheel would carry.
    src, wheels = work / "src", work / "wheel"
    junk = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("tcr_kit", "cli"):
        shutil.copytree(ROOT / name, src / name, ignore=junk)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--disable-pip-version-check", "--wheel-dir", str(wheels), str(src)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"bench: building the wheel failed: {proc.stderr.strip()[-500:]}")
    (wheel,) = wheels.glob("tcr_kit-*.whl")
    target = work / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"bench: installing the wheel failed: {proc.stderr.strip()[-500:]}")
    shutil.rmtree(wheels)
    shutil.rmtree(src)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "_tcr_bench_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    script = str(target / "bin" / "tcr")
    return TcrCommand(
        [script], [str(python), "-X", "importtime", script], "a wheel of this tree, installed"
    )


def _rt_prefix() -> list[str]:
    if os.environ.get("TCR_BENCH_RT", "1") == "0" or os.geteuid() != 0:
        return []
    chrt = shutil.which("chrt")
    if chrt is None:
        return []
    probe = subprocess.run([chrt, "-f", "10", "true"], capture_output=True, check=False)
    return [chrt, "-f", "10"] if probe.returncode == 0 else []


RT_PREFIX = _rt_prefix()
SCHEDULING = "SCHED_FIFO (chrt -f 10)" if RT_PREFIX else "normal (SCHED_OTHER)"
"""How the timed children are scheduled (printed by every benchmark)."""


def child_env(pycache: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for timed children: bytecode cached under ``pycache``."""
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


@dataclass(frozen=True)
class Run:
    wall: float
    """Seconds, wall clock."""
    cpu: float
    """Seconds of CPU (user + system) of the process and its children."""
    rss_kib: int
    """Peak resident set size of the process (KiB)."""


def run(cmd: list[str], **kw: object) -> Run:
    """One command, timed; fails loudly on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(  # type: ignore[call-overload]
        [*RT_PREFIX, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench: {' '.join(map(str, cmd))} failed: {err.strip()}")
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def best(runs: list[Run]) -> Run:
    """Best wall, best CPU and the largest peak memory over repeated runs."""
    return Run(min(r.wall for r in runs), min(r.cpu for r in runs), max(r.rss_kib for r in runs))


_TWO_CORES = """
import hashlib, os, threading, time
block = os.urandom(1 << 20)
def hash_mib(n):
    h = hashlib.sha256()
    for _ in range(n):
        h.update(block)
def rate(threads, mib=96):
    workers = [threading.Thread(target=hash_mib, args=(mib,)) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return threads * mib / (time.perf_counter() - start)
one = max(rate(1) for _ in range(3))
two = max(rate(2) for _ in range(3))
print(f"{one:.0f} {two:.0f}")
"""


def two_core_gain() -> tuple[float, float]:
    """SHA-256 MiB/s on one thread and on two at once, measured now as a timed child is
    (same scheduling): a multi-core command (tcr's combine and split hash on both cores)
    gains what the second core gives, which a busy host cuts while a single-threaded
    anchor hardly notices. Returns (one thread's rate, two threads' aggregate rate)."""
    proc = subprocess.run(
        [*RT_PREFIX, sys.executable, "-c", _TWO_CORES], capture_output=True, text=True, check=True
    )
    one, two = proc.stdout.split()
    return float(one), float(two)
