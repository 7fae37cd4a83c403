"""``plan_config_rekey`` against a real ledger holding a recorded ``hsm.rekey`` event: the
new share set's id, epoch, m and n come from that event and the ledger, only those
``[share_set]`` lines change (comments, CRLF and layout kept), and every mismatch between
the configuration, the rekey and the ledger is refused with its exit code. (The rekey of a
real SoftHSM2 token and the command: tests/integration/test_hsm_config_rekey.py.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Person, Role, ShareSet, build
from tcr_kit.errors import ExitCode, InputError, IntegrityError, NotPermitted
from tcr_kit.hsm.config import load_config, render_config, render_site
from tcr_kit.hsm.config_rekey import plan_config_rekey, rekey_config
from tcr_kit.hsm.errors import ConfigError, WrongShareSet
from tcr_kit.hsm.events import REKEY, ActivationEvent, HsmRef, ShareSetRef
from tcr_kit.hsm.token import EpochRef
from tcr_kit.sharing.manifest import ShareManifest

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
OLD, NEW = "hsm-e-activation", "hsm-e-activation-2"


def _config(folder: Path) -> Path:
    text = render_config(name="HSM-E", module=MODULE, token_label="KSK-HSM-E",
                         share_set_id=OLD, threshold=2, count=3, epoch=1,
                         site="hsm-site.toml")  # fmt: skip
    (folder / "hsm.toml").write_text(text)
    (folder / "hsm-site.toml").write_text(render_site(module=MODULE))
    return folder / "hsm.toml"


@pytest.fixture
def world(tmp_path: Path) -> tuple[Ledger, Actor]:
    key = SoftwareEd25519Signer.generate()
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    ledger.initialise(
        build(Person, id="ca-1", name="CA", roles=(Role.SA, Role.CA), key_algorithm="ed25519",
              public_key=key.public_key_bytes().hex()),
        key,
    )  # fmt: skip
    ledger.add_share_set(actor := Actor("ca-1", key), build(ShareSet, id=OLD, m=2, n=3,
                         purpose="HSM", epoch=1))  # fmt: skip
    return ledger, actor


def _rekeyed(
    ledger: Ledger,
    actor: Actor,
    config: Path,
    *,
    m: int = 3,
    n: int = 5,
    epoch: int = 2,
    shape: tuple[int, int] | None = None,
    new: tuple[str, tuple[str, ...]] | None = None,
) -> int:
    """What ``tcr hsm rekey`` leaves in the ledger: the new set added (m-of-n, ``epoch``),
    the old one retired, and the ``hsm.rekey`` event (made with ``config``). The event is
    in the format of rekeys recorded before they kept the new set's threshold and count,
    unless ``shape`` gives them (``(threshold, count)``, as rekeys record them now).
    ``new`` is the new shares' native set id and digests (made-up ones by default)."""
    loaded = load_config(config)
    ledger.add_share_set(actor, build(ShareSet, id=NEW, m=m, n=n, purpose="HSM", epoch=epoch))
    ledger.retire_share_set(actor, OLD)
    event = ActivationEvent(
        kind=REKEY, hsm=HsmRef("HSM-E", MODULE), config_sha256=loaded.sha256,
        share_set=ShareSetRef(OLD, 1, 2, 3), presented=(), outcome="rekeyed to epoch 2",
        at="2026-12-02T10:00:00Z", old=EpochRef("aa" * 8, 1),
        new=EpochRef(new[0] if new else "bb" * 8, 2), new_share_set=NEW,
        new_share_digests=new[1] if new else tuple("cd" * 32 for _ in range(5)),
        site_sha256=loaded.site_sha256,
        new_threshold=shape[0] if shape else None, new_count=shape[1] if shape else None,
    )  # fmt: skip
    return ledger.record_event(actor, REKEY, event.subjects, event.payload()).seq


def test_the_id_epoch_and_changed_m_n_lines_change_comments_and_crlf_kept(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    text = path.read_text().replace("epoch = 1", "epoch  =  1   # bumped by every rekey")
    text = text.replace("[share_set]", "# id = 'a comment'\n[ share_set ]")
    path.write_bytes(text.replace("\n", "\r\n").encode())
    seq = _rekeyed(ledger, actor, path)
    plan = plan_config_rekey(load_config(path), ledger, path, force=True)
    assert plan.changed() == ["id", "epoch", "threshold", "count"] and plan.rekey_seq == seq
    expected = (
        text.replace(f'id = "{OLD}"', f'id = "{NEW}"')
        .replace("epoch  =  1", "epoch  =  2")
        .replace("threshold = 2", "threshold = 3")
        .replace("count = 3", "count = 5")
    )
    assert plan.data == expected.replace("\n", "\r\n").encode()
    before = ledger.audit.count()
    _, nothing = rekey_config(plan, ledger, actor, force=True, dry_run=True)
    assert nothing is None and ledger.audit.count() == before
    assert path.read_bytes() == text.replace("\n", "\r\n").encode()
    event, back = rekey_config(plan, ledger, actor, force=True)
    assert back is not None and back.share_set.id == NEW and back.share_set.epoch == 2
    assert back.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == plan.new_sha256
    assert event.seq == seq + 1 and ledger.last_change()[0].kind == "hsm.config-rekey"
    ledger.verify()
    # Done: the new version names the rekey's set; nothing more to change (exit 2).
    with pytest.raises(InputError, match=f"already names share set {NEW}"):
        plan_config_rekey(back, ledger, path, force=True)


def test_without_a_recorded_rekey_of_this_set_there_is_nothing_to_change(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, _ = world
    path = _config(tmp_path)
    with pytest.raises(InputError, match="records no rekey of HSM HSM-E") as caught:
        plan_config_rekey(load_config(path), ledger, path, force=True)
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("m", "n", "epoch", "words"),
    [(3, 4, 2, "with 5 shares"), (3, 5, 3, "made epoch 2")],
)
def test_a_ledger_set_that_is_not_the_rekeys_is_refused(
    tmp_path: Path, world: tuple[Ledger, Actor], m: int, n: int, epoch: int, words: str
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    _rekeyed(ledger, actor, path, m=m, n=n, epoch=epoch)
    with pytest.raises(WrongShareSet, match=words) as caught:
        plan_config_rekey(load_config(path), ledger, path, force=True)
    assert caught.value.exit_code == ExitCode.INTEGRITY
    ledger.retire_share_set(actor, NEW)
    with pytest.raises(WrongShareSet, match="is retired"):
        plan_config_rekey(load_config(path), ledger, path, force=True)


def test_a_config_other_than_the_one_the_rekey_used_is_refused(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    _rekeyed(ledger, actor, path)
    loaded = load_config(path)
    path.write_text(path.read_text() + "# edited after the rekey\n")
    with pytest.raises(IntegrityError, match="only from the version the rekey used"):
        plan_config_rekey(load_config(path), ledger, path, force=True)
    # Edited between reading and planning: refused too (exit 3).
    with pytest.raises(IntegrityError, match="changed since it was read"):
        plan_config_rekey(loaded, ledger, path, force=True)


def test_an_id_line_that_cannot_be_changed_safely_is_not_guessed_at(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    path.write_text(path.read_text().replace(f'id = "{OLD}"', 'id = "hsm-e-\\u0061ctivation"'))
    _rekeyed(ledger, actor, path)
    with pytest.raises(ConfigError, match="""no single 'id = "ID"' line"""):
        plan_config_rekey(load_config(path), ledger, path, force=True)


def test_only_someone_the_policy_lets_change_share_sets_may_write_it(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    _rekeyed(ledger, actor, path)
    key = SoftwareEd25519Signer.generate()
    ledger.add_person(actor, build(Person, id="tcr-1", name="T", roles=(Role.CO,), facility="e",
                                   key_algorithm="ed25519",
                                   public_key=key.public_key_bytes().hex()))  # fmt: skip
    plan = plan_config_rekey(load_config(path), ledger, path, force=True)
    before = path.read_bytes()
    with pytest.raises(NotPermitted):
        rekey_config(plan, ledger, Actor("tcr-1", key), force=True)
    assert path.read_bytes() == before


def test_a_rekey_recorded_before_it_kept_the_threshold_is_written_and_says_so(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    _rekeyed(ledger, actor, path)  # an hsm.rekey payload without new_threshold/new_count
    plan = plan_config_rekey(load_config(path), ledger, path, force=True)
    assert not plan.threshold_checked and plan.payload()["threshold_checked"] is False
    (note,) = [line for line in plan.describe() if "not cross-checked" in line]
    assert "threshold not cross-checked" in note and "3 is the ledger's m" in note
    assert plan.notes() == [note] and plan.new["threshold"] == 3


def test_a_ledger_threshold_other_than_the_rekeys_recorded_one_is_refused(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    seq = _rekeyed(ledger, actor, path, m=3, n=5, shape=(2, 5))
    with pytest.raises(WrongShareSet, match=f"3-of-5 in the ledger; the rekey of audit event"
                       f" {seq} made epoch 2, 2-of-5") as caught:  # fmt: skip
        plan_config_rekey(load_config(path), ledger, path, force=True)
    assert caught.value.exit_code == ExitCode.INTEGRITY


def test_a_rekey_that_records_its_threshold_and_count_is_cross_checked(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    _rekeyed(ledger, actor, path, m=3, n=5, shape=(3, 5))
    plan = plan_config_rekey(load_config(path), ledger, path, force=True)
    assert plan.threshold_checked and plan.notes() == [] and plan.extensions == ()
    assert not any("cross-checked" in line for line in plan.describe())


def test_an_event_whose_count_is_not_its_share_digests_is_refused(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    _rekeyed(ledger, actor, path, m=3, n=5, shape=(3, 6))
    with pytest.raises(WrongShareSet, match="records 6 shares but 5 share digests"):
        plan_config_rekey(load_config(path), ledger, path, force=True)


def test_more_shares_in_the_ledger_than_the_rekey_made_need_a_recorded_extension(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    _rekeyed(ledger, actor, path, m=3, n=6, shape=(3, 5))
    with pytest.raises(WrongShareSet, match="no recorded extension of its set"):
        plan_config_rekey(load_config(path), ledger, path, force=True)


def test_tcr_hsm_config_rekey_says_in_one_line_the_threshold_was_not_cross_checked(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    from tests.cli_runner import run_tcr

    ledger, actor = world
    path = _config(tmp_path)
    _rekeyed(ledger, actor, path)  # recorded before rekeys kept the threshold
    ledger.close()
    actor.signer.save(tmp_path / "ca.pem")  # type: ignore[attr-defined]
    args = ["hsm", "config-rekey", "--config", path, "--output", path, "--force", "--ledger",
            tmp_path / "ledger.sqlite", "--as", "ca-1", "--key", tmp_path / "ca.pem"]  # fmt: skip
    dry = run_tcr(*args, "--dry-run", expect=0)
    written = run_tcr(*args, "--yes", expect=0)
    for shown in (dry.stdout, written.stderr, written.stdout):
        (line,) = [x for x in shown.splitlines() if "cross-checked" in x]
        assert "threshold not cross-checked: the hsm.rekey event" in line
    assert load_config(path).share_set.threshold == 3


def _split(actor: Actor, m: int = 3, n: int = 5) -> tuple[ShareManifest, tuple[str, ...]]:
    """A real m-of-n split of a random secret: its manifest signed by ``actor``, and the
    shares' digests (what a rekey records in its event)."""
    from tcr_kit.custody.share_manifests import sign_manifest
    from tcr_kit.hsm.provision import manifest_record
    from tcr_kit.secrets import random_bytes
    from tcr_kit.sharing.manifest import parse_manifest
    from tcr_kit.sharing.native_split import split_bytes

    shares = split_bytes(random_bytes(32), m, n, label="HSM-E activation epoch 2")
    files = [Path(f"HSM-E-epoch2-share-{i:03d}.txt") for i in range(1, n + 1)]
    signed = sign_manifest(parse_manifest(manifest_record(shares, files)), actor.signer, "ca-1")
    return signed, tuple(s.digest().hex() for s in shares)


def test_a_rekey_recorded_before_it_kept_the_threshold_is_checked_against_the_manifest(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    """The old hsm.rekey event says nothing of m; the new set's registered signed manifest
    of the rekey's own shares does: the threshold counts as cross-checked, the note says
    against what, and the new version's event names the manifest's registration."""
    ledger, actor = world
    path = _config(tmp_path)
    manifest, digests = _split(actor)
    seq = _rekeyed(ledger, actor, path, new=(manifest.set_id, digests))  # the old format
    registered = ledger.register_manifest(actor, NEW, manifest)
    plan = plan_config_rekey(load_config(path), ledger, path, force=True)
    assert plan.threshold_checked and not plan.event_threshold and plan.rekey_seq == seq
    assert plan.payload()["threshold_checked"] is True
    assert plan.payload()["manifest_event"] == {
        "seq": registered.seq,
        "hash": registered.hash,
        "manifest_sha256": manifest.signing_digest().hex(),
    }
    assert not any("not cross-checked" in line for line in plan.describe())
    (note,) = plan.notes()
    assert "threshold 3 cross-checked against the new set's signed manifest" in note
    assert f"(audit event {registered.seq})" in note and f"hsm.rekey event {seq}" in note
    _, back = rekey_config(plan, ledger, actor, force=True)
    assert back is not None and back.share_set.threshold == 3
    ledger.verify()


@pytest.mark.parametrize("shape", [None, (3, 5)], ids=["old-event", "event-with-threshold"])
def test_a_manifest_of_other_shares_than_the_rekeys_is_refused(
    tmp_path: Path, world: tuple[Ledger, Actor], shape: tuple[int, int] | None
) -> None:
    """A signed manifest registered for the new set that is of another split (another
    native set), or of the rekey's set id with other share digests, is not the rekey's
    shares: refused in one line (exit 3), whatever the event records."""
    ledger, actor = world
    path = _config(tmp_path)
    manifest, digests = _split(actor)
    _rekeyed(ledger, actor, path, shape=shape, new=("ee" * 8, digests))
    registered = ledger.register_manifest(actor, NEW, manifest)
    with pytest.raises(WrongShareSet) as caught:
        plan_config_rekey(load_config(path), ledger, path, force=True)
    assert caught.value.exit_code == ExitCode.INTEGRITY
    assert str(caught.value) == (
        f"share set {NEW}'s signed manifest of audit event {registered.seq} is of native set"
        f" {manifest.set_id}; the rekey of audit event {registered.seq - 1} made native set"
        f" {'ee' * 8}"
    )


def test_a_manifest_of_the_rekeys_set_id_listing_other_shares_is_refused(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    manifest, digests = _split(actor)
    other = (*digests[:4], "ab" * 32)
    _rekeyed(ledger, actor, path, new=(manifest.set_id, other))
    ledger.register_manifest(actor, NEW, manifest)
    with pytest.raises(WrongShareSet, match="lists shares other than the 5 the rekey of audit"):
        plan_config_rekey(load_config(path), ledger, path, force=True)
