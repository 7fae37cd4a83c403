"""``tcr hsm rekey`` when the ledger already holds a share set with the new id: it is kept
only if it is the set the rekey makes (m, n, epoch, active), as when a re-run finishes a
rekey whose ledger step was done; otherwise the rekey is refused in one line (exit 3)
before it writes a share or touches the HSM, since the HSM would be moved to a set the
ledger describes otherwise and ``tcr hsm config-rekey`` would then refuse it. Real
processes, SoftHSM2, a real ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import ShareSet, build
from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.config import load_config
from tests.fixtures.stack import SoftHsm
from tests.integration.conftest import one_error_line, run_tcr
from tests.integration.hsm_helpers import DemoHsm, custody_ledger, make_hsm, register_shares

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _local_activation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCR_ACTIVATION_LOG", str(tmp_path / "activations.log"))


def _setup(
    tmp_path: Path, softhsm: SoftHsm, existing: dict[str, Any] | None
) -> tuple[DemoHsm, Path, list[str]]:
    """A 2-of-3 HSM at epoch 1, its ledger (ceremony 1 open, every TCR in the room), the
    set ``set-e2`` added to it first when ``existing`` gives its fields, and the arguments
    of 'tcr hsm rekey' to 2-of-4 epoch 2 named ``set-e2``."""
    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    keys: dict[str, Any] = {}
    path = tmp_path / "ledger.sqlite"
    old_id = hsm.loaded.share_set.id
    ledger, ca = custody_ledger(path, old_id, m=2, n=3, keys=keys, config=hsm.loaded)
    register_shares(ledger, ca, old_id, 3)
    if existing is not None:
        status = existing.pop("status", "active")
        ledger.add_share_set(ca, build(ShareSet, id="set-e2", purpose="HSM", **existing))
        if status == "retired":
            ledger.retire_share_set(ca, "set-e2")
    ledger.close()
    keys["ca"].save(tmp_path / "ca.pem")
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    args = ["hsm", "rekey", "--config", str(hsm.config_path), "-m", "2", "-n", "4",
            "--output-dir", str(new_dir), "--new-set-id", "set-e2", "--yes",
            "--ledger", str(path), "--as", "ca", "--key", str(tmp_path / "ca.pem"),
            "--ceremony", "1", "--in-person", "tcr-1", "--in-person", "tcr-2",
            "--share", str(hsm.plan.share_files[0]),
            "--share", str(hsm.plan.share_files[1])]  # fmt: skip
    return hsm, path, args


def _kinds(path: Path) -> list[str]:
    with Ledger.open(path, create=False) as led:
        return [str(json.loads(e.body)["kind"]) for e in led.audit.events()]


@pytest.mark.parametrize(
    ("existing", "shown"),
    [
        ({"m": 3, "n": 4, "epoch": 2}, "epoch 2, 3-of-4 (active)"),
        ({"m": 2, "n": 5, "epoch": 2}, "epoch 2, 2-of-5 (active)"),
        ({"m": 2, "n": 4, "epoch": 7}, "epoch 7, 2-of-4 (active)"),
        ({"m": 2, "n": 4, "epoch": 2, "status": "retired"}, "epoch 2, 2-of-4 (retired)"),
    ],
    ids=["other-m", "other-n", "other-epoch", "retired"],
)
def test_rekey_refuses_a_ledger_set_of_the_new_id_that_is_not_the_rekeys_before_the_hsm_changes(
    softhsm: SoftHsm, tmp_path: Path, existing: dict[str, Any], shown: str
) -> None:
    hsm, path, args = _setup(tmp_path, softhsm, existing)
    before = _kinds(path)
    refused = run_tcr(args)
    assert refused.returncode == 3, refused.stderr
    line = one_error_line(refused)
    assert f"share set set-e2 is in the ledger as {shown}" in line
    assert "this rekey makes epoch 2, 2-of-4" in line and "HSM unchanged" in line
    # Nothing done: no share or state file, no event, the marker and the PIN are epoch 1's.
    assert not list((tmp_path / "new").iterdir())
    assert _kinds(path) == before
    marker = Activation(load_config(hsm.config_path)).token().marker()
    assert marker is not None and (marker.current.epoch, marker.count) == (1, 3)
    files = [ShareFile(p) for p in hsm.plan.share_files[1:]]
    with Activation(load_config(hsm.config_path)).session(files) as session:
        session.sign("ksk-demo", b"the old shares still activate")


def test_rekey_keeps_a_ledger_set_of_the_new_id_that_is_the_rekeys(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """A set put in the ledger beforehand as the rekey will make it (2-of-4, epoch 2) is
    kept, not added again, and config-rekey then writes it."""
    hsm, path, args = _setup(tmp_path, softhsm, {"m": 2, "n": 4, "epoch": 2})
    done = run_tcr(args)
    assert done.returncode == 0, done.stderr
    assert "share set set-e2 added" not in done.stdout
    kinds = _kinds(path)
    assert kinds.count("share-set.add") == 2 and kinds[-1] == "hsm.rekey"
    config = hsm.config_path
    written = run_tcr(["hsm", "config-rekey", "--config", str(config), "--output", str(config),
                       "--force", "--yes", "--ledger", str(path), "--as", "ca", "--key",
                       str(tmp_path / "ca.pem")])  # fmt: skip
    assert written.returncode == 0, written.stderr
    cfg = load_config(config).share_set
    assert (cfg.id, cfg.epoch, cfg.threshold, cfg.count) == ("set-e2", 2, 2, 4)


def test_rekey_refuses_the_new_id_of_the_set_it_retires(softhsm: SoftHsm, tmp_path: Path) -> None:
    """--new-set-id naming the configuration's own set would keep that set (epoch 1) as the
    'new' one and never retire it: refused like any set that is not the rekey's."""
    hsm, path, args = _setup(tmp_path, softhsm, None)
    old_id = hsm.loaded.share_set.id
    args[args.index("set-e2")] = old_id
    refused = run_tcr(args)
    assert refused.returncode == 3, refused.stderr
    assert f"share set {old_id} is in the ledger as epoch 1, 2-of-3 (active)" in one_error_line(
        refused
    )
    assert not list((tmp_path / "new").iterdir()) and "hsm.rekey" not in _kinds(path)


def test_a_rekey_resumed_with_other_values_than_it_was_begun_with_is_refused(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """A rekey answered 'no' leaves its shares and state; a re-run asking for 3-of-5 named
    set-e3 would have silently finished the 2-of-4 set-e2 of the state. It is refused in one
    line (exit 2) with the HSM and the state untouched; the values it was begun with finish
    it."""
    hsm, path, args = _setup(tmp_path, softhsm, None)
    begun = [a for a in args if a != "--yes"]
    stopped = run_tcr(begun, stdin="no\n")
    assert stopped.returncode == 1 and "not confirmed" in stopped.stderr
    state = (tmp_path / "new" / "rekey-state.json").read_bytes()
    other = list(args)
    other[other.index("-m") + 1], other[other.index("-n") + 1] = "3", "5"
    other[other.index("set-e2")] = "set-e3"
    refused = run_tcr(other)
    assert refused.returncode == 2, refused.stderr
    line = one_error_line(refused)
    assert "is a rekey to 2-of-4 named set-e2; this run asks for 3-of-5 named set-e3" in line
    assert (tmp_path / "new" / "rekey-state.json").read_bytes() == state
    marker = Activation(load_config(hsm.config_path)).token().marker()
    assert marker is not None and marker.current.epoch == 1
    assert "hsm.rekey" not in _kinds(path)
    done = run_tcr(args)
    assert done.returncode == 0, done.stderr
    assert "resumed from" in done.stdout and "set-e2" in done.stdout


def test_a_rerun_after_the_marker_was_written_refuses_a_set_added_since_and_says_so(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """The rekey stopped after the marker step; a set of the new id that is not the rekey's
    was added before the re-run. The re-run records no rekey with it, and its one line says
    that the HSM has already moved (never 'HSM unchanged'); the state file stays."""
    from tcr_kit.hsm.errors import WrongShareSet
    from tcr_kit.hsm.rekey import STATE_NAME, rekey

    class Stop(Exception):
        pass

    def stop(step: str) -> None:
        if step == "marker-written":
            raise Stop(step)

    hsm, path, _ = _setup(tmp_path, softhsm, None)
    new_dir = tmp_path / "new"
    kwargs: dict[str, Any] = {"threshold": 2, "count": 4, "output_dir": new_dir,
                              "new_share_set_id": "set-e2"}  # fmt: skip
    holders = ("tcr-1", "tcr-2")
    with Ledger.open(path, create=False) as led:
        ca = Actor("ca", SoftwareEd25519Signer.load(tmp_path / "ca.pem"))
        shares = [ShareFile(p) for p in hsm.plan.share_files[:2]]
        with pytest.raises(Stop):
            rekey(Activation(hsm.loaded, ledger=led, actor=ca, in_person=holders), shares,
                  after_step=stop, **kwargs)  # fmt: skip
        led.add_share_set(ca, build(ShareSet, id="set-e2", m=3, n=4, purpose="HSM", epoch=2))
        with pytest.raises(WrongShareSet) as refused:
            rekey(Activation(hsm.loaded, ledger=led, actor=ca, in_person=holders), shares,
                  **kwargs)  # fmt: skip
    message = str(refused.value)
    assert "as epoch 2, 3-of-4 (active); this rekey makes epoch 2, 2-of-4" in message
    assert "the HSM is already at epoch 2" in message and "unchanged" not in message
    assert (new_dir / STATE_NAME).exists() and "hsm.rekey" not in _kinds(path)


def test_rekey_refuses_a_ledger_set_of_the_new_id_holding_another_sets_manifest(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """set-e2 is 2-of-4 at epoch 2, as the rekey makes it, but a signed manifest of other
    shares (another HSM's 2-of-4) is registered with it: the rekey's shares could then never
    have their manifest registered or be extended, and the ledger would describe shares the
    HSM does not take. Refused like a set of another m or n, before anything is done."""
    from tcr_kit.custody.share_manifests import sign_manifest
    from tcr_kit.sharing.manifest import load_manifest

    other = tmp_path / "other"
    other.mkdir()
    foreign = make_hsm(other, softhsm, m=2, n=4)
    hsm, path, args = _setup(tmp_path, softhsm, {"m": 2, "n": 4, "epoch": 2})
    with Ledger.open(path, create=False) as led:
        ca = Actor("ca", SoftwareEd25519Signer.load(tmp_path / "ca.pem"))
        signed = sign_manifest(load_manifest(foreign.plan.manifest_file), ca.signer, "ca")
        led.register_manifest(ca, "set-e2", signed)
    before = _kinds(path)
    refused = run_tcr(args)
    assert refused.returncode == 3, refused.stderr
    line = one_error_line(refused)
    assert f"share set set-e2 holds the manifest of native set {signed.set_id}" in line
    assert "HSM unchanged" in line
    assert not list((tmp_path / "new").iterdir()) and _kinds(path) == before
    marker = Activation(load_config(hsm.config_path)).token().marker()
    assert marker is not None and marker.current.epoch == 1
