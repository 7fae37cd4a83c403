"""``plan_config_extension`` against a real ledger: the new count is the ledger's n for the
set, only the ``[share_set]`` count line changes (comments, CRLF and layout kept), and every
mismatch between the configuration and the ledger is refused with its exit code. Also
``register_share_set`` with a manifest: the configuration's m of n, one event."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.audit.signing import Signer, SoftwareEd25519Signer
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Person, Role, ShareSet, build
from tcr_kit.custody.share_manifests import sign_manifest
from tcr_kit.errors import (
    ExitCode,
    FileExistsRefused,
    InputError,
    IntegrityError,
    NotPermitted,
    TcrError,
)
from tcr_kit.hsm.config import load_config, render_config, render_site
from tcr_kit.hsm.config_extend import extend_config, plan_config_extension
from tcr_kit.hsm.errors import ConfigError, WrongShareSet
from tcr_kit.hsm.register import register_share_set
from tcr_kit.sharing.manifest import ManifestEntry, ShareManifest

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SET = "hsm-e-activation"


def _config(folder: Path, *, count: int = 3, epoch: int = 1) -> Path:
    text = render_config(name="HSM-E", module=MODULE, token_label="KSK-HSM-E",
                         share_set_id=SET, threshold=2, count=count, epoch=epoch,
                         site="hsm-site.toml")  # fmt: skip
    (folder / "hsm.toml").write_text(text)
    (folder / "hsm-site.toml").write_text(render_site(module=MODULE))
    return folder / "hsm.toml"


@pytest.fixture
def world(tmp_path: Path) -> tuple[Ledger, Actor]:
    key = SoftwareEd25519Signer.generate()
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    ledger.initialise(
        build(Person, id="ca-1", name="CA", roles=(Role.CA,), key_algorithm="ed25519",
              public_key=key.public_key_bytes().hex()),
        key,
    )  # fmt: skip
    return ledger, Actor("ca-1", key)


def _set(ledger: Ledger, actor: Actor, *, n: int, epoch: int = 1, m: int = 2) -> None:
    ledger.add_share_set(actor, build(ShareSet, id=SET, m=m, n=n, purpose="HSM", epoch=epoch))


def test_only_the_count_line_changes_comments_and_crlf_kept(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    text = path.read_text().replace("count = 3", "count   = 3   # n after the split")
    text = text.replace("[share_set]", "# count = 1 (a comment above)\n[ share_set ]")
    path.write_bytes(text.replace("\n", "\r\n").encode())
    _set(ledger, actor, n=5)
    plan = plan_config_extension(load_config(path), ledger, path, force=True)
    assert plan.new_count == 5 and plan.replaces
    assert plan.data == text.replace("count   = 3", "count   = 5").replace("\n", "\r\n").encode()
    event, back = extend_config(plan, ledger, actor, force=True)
    assert back is not None and back.share_set.count == 5
    assert back.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == plan.new_sha256
    assert ledger.last_change()[0].kind == "hsm.config-extend" and event.seq > 1
    ledger.verify()


def test_a_dry_run_writes_and_records_nothing(tmp_path: Path, world: tuple[Ledger, Actor]) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    _set(ledger, actor, n=4)
    before, count = path.read_bytes(), ledger.audit.count()
    out = tmp_path / "hsm-v2.toml"
    plan = plan_config_extension(load_config(path), ledger, out)
    _, back = extend_config(plan, ledger, actor, dry_run=True)
    assert back is None and not out.exists() and path.read_bytes() == before
    assert ledger.audit.count() == count
    extend_config(plan, ledger, actor)
    assert load_config(out).share_set.count == 4 and load_config(path).share_set.count == 3
    assert (out.stat().st_mode & 0o777) == 0o644


@pytest.mark.parametrize(
    ("ledger_n", "ledger_epoch", "ledger_m", "error", "code", "words"),
    [
        (3, 1, 2, InputError, ExitCode.USAGE, "nothing to extend"),
        (2, 1, 2, WrongShareSet, ExitCode.INTEGRITY, "records only 2"),
        (5, 2, 2, WrongShareSet, ExitCode.INTEGRITY, "epoch 2"),
        (5, 1, 3, WrongShareSet, ExitCode.INTEGRITY, "m=3"),
    ],
)
def test_a_ledger_that_does_not_raise_this_sets_count_is_refused(
    tmp_path: Path,
    world: tuple[Ledger, Actor],
    ledger_n: int,
    ledger_epoch: int,
    ledger_m: int,
    error: type[TcrError],
    code: ExitCode,
    words: str,
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    _set(ledger, actor, n=ledger_n, epoch=ledger_epoch, m=ledger_m)
    with pytest.raises(error, match=words) as caught:
        plan_config_extension(load_config(path), ledger, tmp_path / "new.toml")
    assert caught.value.exit_code == code


def test_unregistered_set_existing_output_and_unfindable_count_are_refused(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    with pytest.raises(WrongShareSet, match="not in the ledger"):
        plan_config_extension(load_config(path), ledger, tmp_path / "new.toml")
    _set(ledger, actor, n=4)
    with pytest.raises(FileExistsRefused):
        plan_config_extension(load_config(path), ledger, path)
    loaded = load_config(path)
    path.write_text(path.read_text().replace("count = 3", "count = 3\n# edited"))
    with pytest.raises(IntegrityError, match="changed since it was read"):
        plan_config_extension(loaded, ledger, path, force=True)
    # The share set as an inline table: no count line to change, so none is guessed at.
    path.write_text(
        'format = "tcr-kit.hsm-config"\nversion = 1\nsite = "hsm-site.toml"\n'
        f'share_set = {{ id = "{SET}", threshold = 2, count = 3, epoch = 1 }}\n\n'
        '[hsm]\nname = "HSM-E"\ntoken_label = "KSK-HSM-E"\n'
    )
    with pytest.raises(ConfigError, match="no single 'count = N' line"):
        plan_config_extension(load_config(path), ledger, path, force=True)


def _manifest(m: int, n: int, signer: Signer, signer_id: str = "ca-1") -> ShareManifest:
    entries = tuple(ManifestEntry(index=i, sha256=f"{i:02x}" * 32) for i in range(1, n + 1))
    unsigned = ShareManifest(count=n, format_version=1, label="HSM-E activation epoch 1",
                             manifest="tcr-kit share set", manifest_version=1, secret_length=32,
                             set_id="0011223344556677", shares=entries, threshold=m)  # fmt: skip
    return sign_manifest(unsigned, signer, signer_id)


def test_register_set_with_a_manifest_is_one_event_and_needs_the_configs_m_of_n(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    loaded = load_config(_config(tmp_path))
    count = ledger.audit.count()
    with pytest.raises(IntegrityError, match="the manifest is 2-of-4"):
        register_share_set(loaded, ledger, actor, manifest=_manifest(2, 4, actor.signer))
    assert ledger.audit.count() == count
    register_share_set(loaded, ledger, actor, manifest=_manifest(2, 3, actor.signer))
    assert [e.kind for e in ledger.last_change()] == ["share-set.manifest"]
    assert ledger.audit.count() == count + 1
    recorded = ledger.share_set(SET)
    assert (recorded.m, recorded.n, recorded.epoch) == (2, 3, 1)
    assert len(ledger.manifest_history(SET)) == 1
    with pytest.raises(InputError, match="already registered"):
        register_share_set(loaded, ledger, actor, manifest=_manifest(2, 3, actor.signer))


def test_register_set_refuses_a_manifest_signed_by_a_tcr_and_records_nothing(
    tmp_path: Path,
) -> None:
    """'tcr hsm register-set --manifest': the manifest's signer needs a role of
    share-set.sign-manifest (default SA, CA); a crypto officer's is refused (exit 5)."""
    keys = {pid: SoftwareEd25519Signer.generate() for pid in ("sa-1", "ca-1", "co-1")}
    people = [
        build(Person, id=pid, name=pid, roles=(role,), key_algorithm="ed25519",
              public_key=keys[pid].public_key_bytes().hex(), facility="east")
        for pid, role in (("sa-1", Role.SA), ("ca-1", Role.CA), ("co-1", Role.CO))
    ]  # fmt: skip
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    ledger.initialise(people[0], keys["sa-1"])
    for person in people[1:]:
        ledger.add_person(Actor("sa-1", keys["sa-1"]), person)
    actor = Actor("ca-1", keys["ca-1"])
    loaded = load_config(_config(tmp_path))
    co_key = keys["co-1"]
    count = ledger.audit.count()
    with pytest.raises(NotPermitted, match="signer co-1 is CO") as caught:
        register_share_set(loaded, ledger, actor, manifest=_manifest(2, 3, co_key, "co-1"))
    assert caught.value.exit_code == ExitCode.NOT_PERMITTED
    assert ledger.audit.count() == count and ledger.manifest_history(SET) == []
    register_share_set(loaded, ledger, actor, manifest=_manifest(2, 3, actor.signer))
    assert ledger.manifest_history(SET)[0]["payload"]["signer"] == "ca-1"


def test_register_set_with_a_manifest_refuses_a_set_registered_without_one(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    loaded = load_config(_config(tmp_path))
    register_share_set(loaded, ledger, actor)
    with pytest.raises(InputError, match=f"share set {SET} already exists"):
        register_share_set(loaded, ledger, actor, manifest=_manifest(2, 3, actor.signer))


def test_a_config_edited_between_the_plan_and_the_write_is_neither_overwritten_nor_recorded(
    tmp_path: Path, world: tuple[Ledger, Actor]
) -> None:
    ledger, actor = world
    path = _config(tmp_path)
    _set(ledger, actor, n=4)
    plan = plan_config_extension(load_config(path), ledger, path, force=True)
    edited = path.read_text() + "# reviewed by iw-1\n"
    path.write_text(edited)
    count = ledger.audit.count()
    with pytest.raises(IntegrityError, match="changed since it was read"):
        extend_config(plan, ledger, actor, force=True)
    assert path.read_text() == edited and ledger.audit.count() == count


@settings(max_examples=60, deadline=None)
@given(
    old=st.integers(2, 200),
    new=st.integers(2, 255),
    spaces=st.tuples(st.sampled_from(["", " ", "   "]), st.sampled_from(["", " ", "\t"])),
    comment=st.sampled_from(["", "  # n", "# count = 9"]),
    crlf=st.booleans(),
)
def test_raising_the_count_changes_that_one_line_and_nothing_else(
    old: int, new: int, spaces: tuple[str, str], comment: str, crlf: bool
) -> None:
    from tcr_kit.hsm.config import parse_config
    from tcr_kit.hsm.config_extend import _raise_count

    text = render_config(name="HSM-E", module=MODULE, token_label="KSK-HSM-E",
                         share_set_id=SET, threshold=2, count=old)  # fmt: skip
    line = f"{spaces[0]}count{spaces[1]}={spaces[1]}{old}{comment}"
    text = text.replace(f"count = {old}", line)
    data = (text.replace("\n", "\r\n") if crlf else text).encode()
    out = _raise_count(data, new, "hsm.toml")
    before, after = data.splitlines(keepends=True), out.splitlines(keepends=True)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    if new == old:
        assert out == data
    else:
        wanted = line.replace(f"={spaces[1]}{old}", f"={spaces[1]}{new}", 1)
        assert [b.decode().rstrip("\r\n") for _, b in changed] == [wanted]
    parsed = parse_config(out)
    assert parsed.share_set.count == new and parsed.hsm == parse_config(data).hsm
