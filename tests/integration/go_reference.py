"""Go's reference code for the transparency-log formats, built once per test session.

The Go program (tests/integration/gotlog/main.go) is built in GOPATH mode against Debian's
golang-golang-x-mod-dev (``golang.org/x/mod/sumdb/note`` and ``sumdb/tlog``), offline. With
``TCR_REQUIRE_STACK=1`` a missing Go toolchain or library fails the tests that use it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import find_tool, stack_required

GOPATH = Path("/usr/share/gocode")
X_MOD = GOPATH / "src/golang.org/x/mod/sumdb"
SOURCE = Path(__file__).parent / "gotlog" / "main.go"


@pytest.fixture(scope="session", name="gotlog")
def gotlog_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go reference helper, built once per test session, offline."""
    go = find_tool("go")
    if not (X_MOD / "note").is_dir() or not (X_MOD / "tlog").is_dir():
        message = f"golang.org/x/mod/sumdb not found under {GOPATH} (golang-golang-x-mod-dev)"
        if stack_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    work = tmp_path_factory.mktemp("gotlog")
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
    binary = work / "gotlog"
    result = subprocess.run(
        [go, "build", "-o", str(binary), str(SOURCE)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"go build failed:\n{result.stderr}"
    return binary


def go(binary: Path, *args: str, stdin: str = "", ok: bool = True) -> str:
    result = subprocess.run(
        [str(binary), *args], input=stdin, capture_output=True, text=True, timeout=60
    )
    if ok:
        assert result.returncode == 0, f"gotlog {args[0]}: {result.stderr}"
        return result.stdout
    assert result.returncode != 0, f"gotlog {args[0]} accepted what it must refuse"
    return result.stderr
