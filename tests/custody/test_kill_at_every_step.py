"""Fault injection for the ledger (issue 11, item 3): every custody write is killed with
SIGKILL before each SQL statement it sends, in a real process on a real file. After each
kill the ledger opens and verifies (chain, signatures, every row against its event, SQLite's
integrity check), the change is wholly there or wholly absent, and running the same
command again completes it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody import Tranche
from tcr_kit.custody.artifacts import describe_file
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Credential, CredentialKind

from .conftest import FACILITY, KEYS, make_world

KILLER = Path(__file__).with_name("killer.py")
ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = [
    "person.add",
    "person.retire",
    "person.rekey",
    "credential.add",
    "bag.seal",
    "audit.checkpoint",
    "artifact.release",
    "credential.retire",
    "share-set.add",
    "discrepancy.open",
]


def _run(ledger: Path, operation: str, step: int, keys: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(KILLER), str(ledger), operation, str(step), str(keys)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=False,
    )


def _state(ledger: Path) -> tuple[int, int]:
    """Verify the whole ledger; its event count and checkpoint count."""
    with Ledger.open(ledger, create=False, read_only=True) as led:
        report = led.verify(workers=1)
        return report.events, report.checkpoints


def _steps(total: int) -> list[int]:
    """Every step with ``TCR_KILL_EVERY_STEP=1`` (minutes); else a bounded spread (CI):
    the first, every n-th, and the last three (around BEGIN, the writes and COMMIT)."""
    if os.environ.get("TCR_KILL_EVERY_STEP") == "1":
        return list(range(1, total + 1))
    stride = max(1, total // 5)
    return sorted({1, *range(1, total + 1, stride), *range(max(1, total - 2), total + 1)})


def _drive_out_of_its_bag(led: Ledger, ca: Actor, drive: Path) -> None:
    """For ``artifact.release``: a registered artifact whose drive is out of a bag opened
    at ceremony 1 (killer.py releases its tranche Q1 from ``drive`` into ``out``)."""
    drive.mkdir()
    (drive / "q1.xml").write_bytes(b"<skr/>" * 1000)
    led.add_credential(ca, Credential(id="SKR-USB", kind=CredentialKind.USB_DRIVE, serial="U-1"))
    tranche = Tranche(
        label="Q1",
        not_before=datetime(2020, 1, 1, tzinfo=UTC),
        files=(describe_file(drive / "q1.xml"),),
    )
    led.register_artifact(ca, "skr", "SKR-USB", [tranche])
    led.begin_ceremony(ca, 1, facility="east")
    led.use_ceremony(None)
    led.seal_bag(ca, "TEB-8008", ["SKR-USB"], witness="iw-1", location=FACILITY)
    led.inspect_bag(ca, "TEB-8008", serial_read="TEB-8008", checklist={"seal": True},
                    witness="iw-1")  # fmt: skip
    led.open_bag(ca, "TEB-8008", serial_read="TEB-8008", witness="iw-1")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("kill-base")
    world = make_world(folder / "ledger.sqlite")
    _drive_out_of_its_bag(world.ledger, world.ca, folder / "drive")
    world.ledger.close()
    keys = folder / "keys"
    keys.mkdir()
    for name in ("sa", "ca", "iw"):
        KEYS[name].save(keys / f"{name}.pem")
    SoftwareEd25519Signer.generate().save(keys / "new.pem")
    return world.path, keys


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_write_killed_at_any_step_leaves_all_or_nothing_and_a_rerun_completes(
    base: tuple[Path, Path], tmp_path: Path, operation: str
) -> None:
    ledger0, keys = base
    before = _state(ledger0)
    work = tmp_path / "ledger.sqlite"
    shutil.copy(ledger0, work)
    clean = _run(work, operation, 0, keys)
    assert clean.returncode == 0, clean.stderr
    steps = int(clean.stdout.split()[-1])
    after = _state(work)
    assert after[0] > before[0]  # one change: its event (and a key registration)
    assert steps > 3
    for step in _steps(steps):
        for extra in work.parent.glob("ledger.sqlite*"):
            extra.unlink()
        shutil.copy(ledger0, work)
        killed = _run(work, operation, step, keys)
        assert killed.returncode == -signal.SIGKILL, (step, killed.stderr)
        assert _state(work) in (before, after), f"{operation} killed at step {step}"
        if _state(work) == before:
            again = _run(work, operation, 0, keys)
            assert again.returncode == 0, (step, again.stderr)
        assert _state(work) == after, f"{operation}: the re-run after step {step}"
