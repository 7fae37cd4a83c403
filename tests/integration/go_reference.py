"""Go's reference code for the transparency-log formats, built once per test run (the
pytest-xdist workers of a run share the one build).

The Go program (tests/integration/gotlog/main.go) is built in GOPATH mode against Debian's
golang-golang-x-mod-dev (``golang.org/x/mod/sumdb/note`` and ``sumdb/tlog``), offline. With
``TCR_REQUIRE_STACK=1`` a missing Go toolchain or library fails the tests that use it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import find_tool, stack_required

GOPATH = Path("/usr/share/gocode")
X_MOD = GOPATH / "src/golang.org/x/mod/sumdb"
SOURCE = Path(__file__).parent / "gotlog" / "main.go"


def _run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder of the whole run: under xdist each worker's basetemp is a
    sub-folder of it (``popen-gwN``)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session", name="gotlog")
def gotlog_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go reference helper, built once per test run, offline: a cold Go build compiles
    the standard library it needs, which is worth doing once, not once per worker."""
    go = find_tool("go")
    if not (X_MOD / "note").is_dir() or not (X_MOD / "tlog").is_dir():
        message = f"golang.org/x/mod/sumdb not found under {GOPATH} (golang-golang-x-mod-dev)"
        if stack_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    work = _run_root(tmp_path_factory) / "gotlog"
    binary = work / "gotlog"
    lock = os.open(work.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building it: wait for it
        if not binary.exists():
            work.mkdir(exist_ok=True)
            _build(go, work, binary)
    finally:
        os.close(lock)
    return binary


def _build(go: str, work: Path, binary: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(work / "cache"),
        "GOFLAGS": "",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }
    partial = work / "gotlog.partial"
    result = subprocess.run(
        [go, "build", "-o", str(partial), str(SOURCE)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"go build failed:\n{result.stderr}"
    partial.rename(binary)  # whole or absent: a failed build is not taken for a finished one


def go(binary: Path, *args: str, stdin: str = "", ok: bool = True) -> str:
    result = subprocess.run(
        [str(binary), *args], input=stdin, capture_output=True, text=True, timeout=60
    )
    if ok:
        assert result.returncode == 0, f"gotlog {args[0]}: {result.stderr}"
        return result.stdout
    assert result.returncode != 0, f"gotlog {args[0]} accepted what it must refuse"
    return result.stderr
