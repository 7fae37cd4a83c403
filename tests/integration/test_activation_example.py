"""The activation script of docs/guide-activation-scripts.md, run for real against SoftHSM2,
and the guide's copy of it kept identical to the file."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS

import tcr_kit.hsm
from tests.cli_runner import CHILD
from tests.fixtures.stack import SoftHsm
from tests.integration.conftest import ROOT
from tests.integration.hsm_helpers import make_hsm

pytestmark = pytest.mark.integration
SCRIPT = ROOT / "docs" / "examples" / "activation_script.py"
GUIDE = ROOT / "docs" / "guide-activation-scripts.md"


def test_the_guide_shows_the_script_that_is_tested() -> None:
    guide = GUIDE.read_text()
    start = guide.index("```python\n# docs/examples/activation_script.py\n") + len("```python\n")
    block = guide[start : guide.index("```", start)]
    assert block.split("\n", 1)[1] == SCRIPT.read_text()


def test_the_script_imports_only_names_of_the_public_api() -> None:
    tree = ast.parse(SCRIPT.read_text())
    imported = [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tcr_kit")
        for alias in node.names
    ]
    assert imported
    for module, name in imported:
        assert module in ("tcr_kit.hsm", "tcr_kit.errors")
        assert name in importlib.import_module(module).__all__


def test_every_public_name_is_importable_and_in_the_guide() -> None:
    guide = GUIDE.read_text()
    for name in tcr_kit.hsm.__all__:
        assert getattr(tcr_kit.hsm, name) is not None
        assert f"`{name}`" in guide, name


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True, text=True, env=env, timeout=60, check=False, **CHILD,
    )  # fmt: skip


def test_example_script_activates_signs_and_reports_faults(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    hsm = make_hsm(tmp_path, softhsm)
    data = tmp_path / "data"
    data.write_bytes(b"sign me")
    sig = tmp_path / "data.sig"
    files = hsm.plan.share_files
    ok = _run(hsm.config_path, data, sig, files[4], files[1], files[3])
    assert ok.returncode == 0, ok.stderr
    assert "hsm.activate activated [5, 2, 4]" in ok.stdout
    DSS.new(ECC.import_key(bytes.fromhex(hsm.plan.public_key_der)), "fips-186-3",
            encoding="der").verify(SHA256.new(b"sign me"), sig.read_bytes())  # fmt: skip
    short = _run(hsm.config_path, data, tmp_path / "other.sig", files[0])
    assert short.returncode == 4 and "2 more needed" in short.stderr
    again = _run(hsm.config_path, data, sig, files[0], files[1], files[2])
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
