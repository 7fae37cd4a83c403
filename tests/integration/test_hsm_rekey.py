"""Rekey on SoftHSM2: new shares written and verified before the PIN changes, the old epoch
retired on the HSM and in the ledger, and a re-run after an interruption completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.errors import OperationalError
from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.config import load_config
from tcr_kit.hsm.errors import WrongShareSet
from tcr_kit.hsm.rekey import STATE_NAME, rekey
from tests.cli_runner import CHILD
from tests.fixtures.stack import SoftHsm
from tests.integration.conftest import run_tcr
from tests.integration.hsm_helpers import custody_ledger, make_hsm, register_shares

pytestmark = pytest.mark.integration


def _ledger(path: Path, set_id: str) -> tuple[Ledger, Actor]:
    ledger, actor = custody_ledger(path, set_id)
    register_shares(ledger, actor, set_id, 5)
    return ledger, actor


HOLDERS = tuple(f"tcr-{i}" for i in range(1, 6))
"""Every TCR is in the room at ceremony 1 and presents their own share in person."""


def test_rekey_refused_then_resumed_retires_the_old_epoch(softhsm: SoftHsm, tmp_path: Path) -> None:
    hsm = make_hsm(tmp_path, softhsm)
    old_files = hsm.plan.share_files
    ledger, actor = _ledger(tmp_path / "ledger.sqlite", hsm.loaded.share_set.id)
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    activation = Activation(hsm.loaded, ledger=ledger, actor=actor, in_person=HOLDERS)
    kwargs = {"threshold": 2, "count": 4, "output_dir": new_dir, "new_share_set_id": "set-e2"}
    # Interrupted before the PIN change: the operator did not confirm.
    with pytest.raises(OperationalError, match="not confirmed"):
        rekey(activation, [ShareFile(p) for p in old_files[:3]], confirm=lambda r: False, **kwargs)
    assert (new_dir / STATE_NAME).exists()
    new_files = sorted(new_dir.glob("*share*.txt"))
    assert len(new_files) == 4
    # The old shares still activate the HSM.
    with Activation(hsm.loaded).session([ShareFile(p) for p in old_files[2:]]):
        pass
    # Re-run: the same new shares are reused, the PIN changes, the old epoch is retired.
    result = rekey(
        Activation(hsm.loaded, ledger=ledger, actor=actor, in_person=HOLDERS),
        [ShareFile(p) for p in old_files[1:4]],
        confirm=lambda r: True,
        **kwargs,
    )
    assert result.resumed and result.new.epoch == 2
    assert sorted(result.share_files) == new_files
    assert not (new_dir / STATE_NAME).exists()
    assert ledger.share_set(hsm.loaded.share_set.id).status == "retired"
    assert ledger.share_set("set-e2").epoch == 2
    # The new config (new set id, epoch 2, 2-of-4) activates with 2 new shares ...
    text = hsm.config_path.read_text()
    text = text.replace(f'id = "{hsm.loaded.share_set.id}"', 'id = "set-e2"')
    text = text.replace("epoch = 1", "epoch = 2").replace("threshold = 3", "threshold = 2")
    new_config = tmp_path / "new.toml"
    new_config.write_text(text.replace("count = 5", "count = 4"))
    register_shares(ledger, actor, "set-e2", 4)  # the new shares, handed to the same TCRs
    activation = Activation(load_config(new_config), ledger=ledger, actor=actor, in_person=HOLDERS)
    with activation.session([ShareFile(new_files[3]), ShareFile(new_files[0])]) as s:
        s.sign("ksk-demo", b"after rekey")
    # ... and an old share is refused as a retired epoch, before any PIN try.
    with pytest.raises(WrongShareSet, match="retired epoch 1"):
        Activation(load_config(new_config)).quorum().add(ShareFile(old_files[0]))
    ledger.verify()
    ledger.close()


class _Interrupted(Exception):
    """Stands for the process dying right after a durable step."""


@pytest.mark.parametrize(
    "step", ["state-written", "pin-changed", "marker-written", "ledger-updated"]
)
def test_rekey_interrupted_after_each_step_is_completed_by_a_rerun(
    step: str, softhsm: SoftHsm, tmp_path: Path
) -> None:
    hsm = make_hsm(tmp_path, softhsm)
    old_files = hsm.plan.share_files
    ledger, actor = _ledger(tmp_path / "ledger.sqlite", hsm.loaded.share_set.id)
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    kwargs = {"threshold": 2, "count": 3, "output_dir": new_dir, "new_share_set_id": "set-e2"}

    def interrupt(done: str) -> None:
        if done == step:
            raise _Interrupted(done)

    with pytest.raises(_Interrupted):
        rekey(
            Activation(hsm.loaded, ledger=ledger, actor=actor, in_person=HOLDERS),
            [ShareFile(p) for p in old_files[:3]],
            confirm=lambda r: True,
            after_step=interrupt,
            **kwargs,
        )
    new_files = sorted(new_dir.glob("*share*.txt"))
    assert len(new_files) == 3  # the new shares exist, verified, whatever the step
    # The re-run gets the old shares only lazily: once the PIN changed it must not need them.
    result = rekey(
        Activation(hsm.loaded, ledger=ledger, actor=actor, in_person=HOLDERS),
        lambda: Activation(hsm.loaded).collect([ShareFile(p) for p in old_files[2:]]),
        confirm=lambda r: True,
        **kwargs,
    )
    assert result.resumed  # the state file outlives every step but the last
    assert sorted(result.share_files) == new_files
    assert not (new_dir / STATE_NAME).exists()
    assert ledger.share_set(hsm.loaded.share_set.id).status == "retired"
    text = hsm.config_path.read_text()
    text = text.replace(f'id = "{hsm.loaded.share_set.id}"', 'id = "set-e2"')
    text = text.replace("epoch = 1", "epoch = 2").replace("threshold = 3", "threshold = 2")
    new_config = tmp_path / "new.toml"
    new_config.write_text(text.replace("count = 5", "count = 3"))
    with Activation(load_config(new_config)).session(
        [ShareFile(new_files[2]), ShareFile(new_files[0])]
    ) as s:
        s.sign("ksk-demo", b"after an interrupted rekey")
    with pytest.raises(WrongShareSet, match="retired epoch 1"):
        Activation(load_config(new_config)).quorum().add(ShareFile(old_files[0]))
    ledger.verify()
    ledger.close()


KILLER = Path(__file__).with_name("rekey_killer.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("step", ["state-written", "pin-changed", "marker-written"])
def test_rekey_killed_after_each_step_is_completed_by_a_rerun(
    step: str, softhsm: SoftHsm, tmp_path: Path
) -> None:
    """As above, but the process is SIGKILLed (a real crash: nothing runs after it)."""
    hsm = make_hsm(tmp_path, softhsm)
    old_files = [str(p) for p in hsm.plan.share_files]
    ledger, actor = _ledger(tmp_path / "ledger.sqlite", hsm.loaded.share_set.id)
    ledger.close()
    assert isinstance(actor.signer, SoftwareEd25519Signer)
    actor.signer.save(tmp_path / "ca.pem")
    new_dir = tmp_path / "new"
    new_dir.mkdir()

    def run(at: str, shares: list[str]) -> subprocess.CompletedProcess[str]:
        args = [str(hsm.config_path), str(new_dir), str(tmp_path / "ledger.sqlite"),
                str(tmp_path / "ca.pem"), at, *shares]  # fmt: skip
        return subprocess.run(
            [sys.executable, str(KILLER), *args], capture_output=True, text=True, timeout=120,
            env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False, **CHILD,
        )  # fmt: skip

    killed = run(step, old_files[:3])
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(sorted(new_dir.glob("*share*.txt"))) == 3 and (new_dir / STATE_NAME).exists()
    again = run("none", old_files[2:])
    assert again.returncode == 0 and again.stdout.strip() == "done", again.stderr
    assert not (new_dir / STATE_NAME).exists()
    with Ledger.open(tmp_path / "ledger.sqlite", create=False) as ledger:
        ledger.verify()
        assert ledger.share_set(hsm.loaded.share_set.id).status == "retired"
        assert ledger.share_set("set-e2").epoch == 2
    text = hsm.config_path.read_text()
    text = text.replace(f'id = "{hsm.loaded.share_set.id}"', 'id = "set-e2"')
    text = text.replace("epoch = 1", "epoch = 2").replace("threshold = 3", "threshold = 2")
    new_config = tmp_path / "new.toml"
    new_config.write_text(text.replace("count = 5", "count = 3"))
    new_files = sorted(new_dir.glob("*share*.txt"))
    # In a new process: this one's SoftHSM2 holds the token as it was before the children.
    pair = ["--share", str(new_files[1]), "--share", str(new_files[2])]
    activate = ["hsm", "activate", "--no-ledger", "--config", str(new_config), "-q", *pair,
                "--", "true"]  # fmt: skip
    done = run_tcr(activate, env={"TCR_ACTIVATION_LOG": str(tmp_path / "activations.log")})
    assert done.returncode == 0, done.stderr
