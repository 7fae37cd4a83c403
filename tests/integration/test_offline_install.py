"""The air-gapped install: ``scripts/wheelhouse.sh DIR`` then ``scripts/setup.sh --offline DIR``.

The wheelhouse is built once for the module (that side may use the network and pip's cache)
and deleted afterwards. The install runs with the index disabled and, where the machine
allows it (root), in a network namespace of its own where any connection fails.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli_runner import run_tcr

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / "scripts" / "wheelhouse.sh"
SETUP = ROOT / "scripts" / "setup.sh"
NO_NETWORK_ENV = {"PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/"}

# One pytest-xdist worker runs the whole module: the wheelhouse is built once, not per worker.
pytestmark = pytest.mark.xdist_group("offline-install")


def _no_network_prefix() -> list[str]:
    """``unshare -n`` (a network namespace with no interfaces up) when it works here."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def _setup_offline(house: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env.update(
        NO_NETWORK_ENV,
        PYTHON=sys.executable,
        TCR_VENV=str(tmp / "venv"),
        TCR_PREFIX=str(tmp / "prefix"),
    )
    return subprocess.run(
        [*_no_network_prefix(), SETUP, "--offline", house],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def wheelhouse() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tcr-wheelhouse-") as tmp:
        house = Path(tmp) / "wheels"
        proc = subprocess.run(
            [WHEELHOUSE, house],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHON=sys.executable),
            timeout=900,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        yield house


def _dist_name(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert name is not None
    return re.sub(r"[-_.]+", "_", name.group()).lower()


@pytest.mark.integration
def test_wheelhouse_holds_tcr_kit_and_every_dependency_with_their_sums(wheelhouse: Path) -> None:
    lines = (wheelhouse / "SHA256SUMS").read_text().splitlines()
    sums = dict(reversed(line.split("  ", 1)) for line in lines)
    assert sorted(sums) == sorted(p.name for p in wheelhouse.glob("*.whl"))
    assert len(sums) == len(lines) == len(list(wheelhouse.iterdir())) - 1
    for name, digest in sums.items():
        assert hashlib.sha256((wheelhouse / name).read_bytes()).hexdigest() == digest
    dists = {name.split("-", 1)[0].lower() for name in sums}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {"tcr_kit", *map(_dist_name, project["dependencies"])} <= dists
    (ours,) = wheelhouse.glob("tcr_kit-*.whl")
    with zipfile.ZipFile(ours) as wheel:
        top = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == {"tcr_kit", "tcr_cli"}


@pytest.mark.integration
def test_offline_setup_installs_a_working_tcr_without_network(
    wheelhouse: Path, tmp_path: Path
) -> None:
    proc = _setup_offline(wheelhouse, tmp_path)
    assert proc.returncode == 0, proc.stderr
    venv_tcr = tmp_path / "venv" / "bin" / "tcr"
    on_path = tmp_path / "prefix" / "bin" / "tcr"
    assert on_path.resolve() == venv_tcr.resolve()
    assert (
        (tmp_path / "prefix" / "share" / "man" / "man1" / "tcr.1")
        .read_text()
        .startswith(".TH TCR 1")
    )

    # The installed wheel, not this checkout: run away from it, without PYTHONPATH.
    env = {"PYTHONPATH": "", "PATH": f"{on_path.parent}{os.pathsep}{os.environ['PATH']}"}
    where = subprocess.run(
        [tmp_path / "venv" / "bin" / "python", "-c", "import tcr_cli; print(tcr_cli.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, **env}, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(tmp_path / "venv"))
    tcr = [shutil.which("tcr", path=env["PATH"]) or "tcr"]
    assert tcr == [str(on_path)]
    version = run_tcr("--version", program=tcr, env=env, cwd=tmp_path, expect=0)
    assert version.stdout == "tcr, version 0.1.0\n"

    secret = tmp_path / "secret.bin"
    secret.write_bytes(os.urandom(48))
    secret.chmod(0o600)
    (tmp_path / "shares").mkdir()
    run_tcr(
        "shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", tmp_path / "shares",
        program=tcr, env=env, cwd=tmp_path, expect=0,
    )  # fmt: skip
    shares = sorted((tmp_path / "shares").glob("*.share-*"))
    assert len(shares) == 3
    out = tmp_path / "recovered.bin"
    run_tcr(
        "shares", "combine", "--output", out, shares[0], shares[2],
        program=tcr, env=env, cwd=tmp_path, expect=0,
    )  # fmt: skip
    assert out.read_bytes() == secret.read_bytes()


# -- a wheelhouse that does not match its manifest is refused before anything is installed --


def _fake_wheelhouse(path: Path) -> Path:
    path.mkdir()
    for name in ("tcr_kit-0.1.0-py3-none-any.whl", "click-8.1.7-py3-none-any.whl"):
        (path / name).write_bytes(b"PK\x05\x06" + name.encode())
    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(path.iterdir())
    ]
    (path / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return path


def _tamper_content(house: Path) -> str:
    (house / "click-8.1.7-py3-none-any.whl").write_bytes(b"PK\x05\x06 evil")
    return "does not match its SHA-256"


def _tamper_extra(house: Path) -> str:
    (house / "evil-1.0-py3-none-any.whl").write_bytes(b"PK")
    return "not in the manifest: evil-1.0-py3-none-any.whl"


def _tamper_missing(house: Path) -> str:
    (house / "click-8.1.7-py3-none-any.whl").unlink()
    return "missing: click-8.1.7-py3-none-any.whl"


def _tamper_path(house: Path) -> str:
    sums = house / "SHA256SUMS"
    sums.write_text(sums.read_text().replace("  click", "  ../click"))
    return "a line that is not"


def _tamper_manifest_gone(house: Path) -> str:
    (house / "SHA256SUMS").unlink()
    return "no manifest"


@pytest.mark.parametrize(
    "tamper",
    [_tamper_content, _tamper_extra, _tamper_missing, _tamper_path, _tamper_manifest_gone],
)
def test_offline_setup_refuses_a_wheelhouse_that_differs_from_its_manifest(
    tmp_path: Path, tamper: Callable[[Path], str]
) -> None:
    house = _fake_wheelhouse(tmp_path / "wheels")
    reason = tamper(house)
    proc = _setup_offline(house, tmp_path)
    assert proc.returncode == 1
    assert reason in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("setup: offline: ")
    assert not (tmp_path / "venv").exists()
    assert not (tmp_path / "prefix").exists()


def test_wheelhouse_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "old.whl").write_bytes(b"")
    proc = subprocess.run([WHEELHOUSE, tmp_path], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "is not empty" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["old.whl"]
