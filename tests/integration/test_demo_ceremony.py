"""The ceremony steps the lead calls from the demo run end to end (real SoftHSM2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.stack import SoftHsm
from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration

DRIVER = """
import sys
from pathlib import Path
from cli.demo import Demo, DemoFailed
from cli.demo_ceremony import run_ceremony
out = Path(sys.argv[1])
out.mkdir()
try:
    run_ceremony(Demo(out))
except DemoFailed as exc:
    print(f"DEMO FAILED: {exc}")
    sys.exit(1)
print("CEREMONY OK")
"""


def test_run_ceremony_activates_with_three_of_seven_cards_and_verifies_the_transcript(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    out = tmp_path / "demo"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(out)],
        capture_output=True, text=True, env=env, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "CEREMONY OK" in proc.stdout
    assert "2 of 3 shares presented for HSM-E: 1 more needed" in proc.stdout
    assert "signature verified with the HSM key's public half: ok" in proc.stdout
    assert "verdict: ready: 7 of 7 available" in proc.stdout
    assert (out / "zone.sig").exists() and (out / "transcript-ceremony-1.json").exists()
    assert not list((out / "shares").glob("*share*"))  # plain shares destroyed after enrolment
