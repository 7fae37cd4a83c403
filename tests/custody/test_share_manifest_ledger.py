"""Signed manifests in the ledger: the split's registration, extensions and what they replace."""

from __future__ import annotations

import pytest

from tcr_kit.custody.errors import NotFound
from tcr_kit.custody.lifecycle import CredentialAction
from tcr_kit.custody.models import Credential, CredentialKind
from tcr_kit.custody.share_manifests import check_share_alone, sign_manifest
from tcr_kit.errors import ExitCode, InputError, IntegrityError, NotPermitted
from tcr_kit.sharing import native
from tcr_kit.sharing.manifest import ManifestEntry, ShareManifest, parse_manifest
from tcr_kit.sharing.native_extend import extend_bytes

from .conftest import KEYS, World


def split_and_sign(
    world: World, m: int = 2, n: int = 3
) -> tuple[list[native.NativeShare], ShareManifest]:
    shares = native.split_bytes(b"activation pin 97531", m, n, label="HSM-A")
    h = shares[0].header
    record = native.SplitManifest(
        h.set_id, m, n, h.secret_length, h.label, [s.digest() for s in shares]
    ).record()
    return shares, sign_manifest(parse_manifest(native.canonical_json(record)), KEYS["sa"], "sa-1")


def extension(
    base: ShareManifest, shares: list[native.NativeShare], index: int, replaces: int | None
) -> tuple[native.NativeShare, ShareManifest]:
    new = extend_bytes(shares, [index])[0]
    entry = ManifestEntry(index=index, sha256=new.digest().hex())
    revised = base.next_revision([entry], {index: replaces} if replaces else {})
    return new, sign_manifest(revised, KEYS["ca"], "ca-1")


def paper_share(world: World, cid: str, index: int) -> None:
    world.ledger.add_credential(
        world.ca,
        Credential(
            id=cid,
            kind=CredentialKind.PAPER_SHARE,
            serial=f"PAPER-{index}",
            holder="tcr-3",
            share_set="hsm-a",
            share_index=index,
        ),
    )


def test_the_split_manifest_registers_and_creates_the_share_set(world: World) -> None:
    shares, manifest = split_and_sign(world)
    event = world.ledger.register_manifest(world.ca, "hsm-a", manifest, purpose="HSM A PIN")
    share_set = world.ledger.share_set("hsm-a")
    assert (share_set.m, share_set.n) == (2, 3)
    body = world.ledger.history("share-set:hsm-a")[-1]
    assert body["kind"] == "share-set.manifest" and body["seq"] == event.seq
    assert body["payload"]["manifest_sha256"] == manifest.signing_digest().hex()
    assert body["payload"]["signer"] == "sa-1" and body["payload"]["indices"] == [1, 2, 3]
    assert f"native-set:{manifest.set_id}" in body["subjects"]
    assert world.ledger.manifest_registration(manifest) == event.seq
    check = check_share_alone(shares[1], manifest, ledger=world.ledger)
    assert check.signer_checked and check.registered_at == event.seq
    with pytest.raises(InputError, match="already registered"):
        world.ledger.register_manifest(world.ca, "hsm-a", manifest)
    world.ledger.verify()


def test_an_unregistered_manifest_or_a_stranger_signer_fails_the_ledger_check(
    world: World,
) -> None:
    shares, manifest = split_and_sign(world)
    with pytest.raises(IntegrityError, match="is not registered in the ledger") as info:
        check_share_alone(shares[0], manifest, ledger=world.ledger)
    assert info.value.exit_code == ExitCode.INTEGRITY
    from tcr_kit.audit.signing import SoftwareEd25519Signer

    forged = sign_manifest(manifest.model_copy(update={"signature": None, "signer": None,
                                              "signed_at": None}),
                  SoftwareEd25519Signer.generate(), "sa-1")  # fmt: skip
    with pytest.raises(IntegrityError, match="not the one registered to sa-1"):
        world.ledger.register_manifest(world.ca, "hsm-a", forged, purpose="x")
    stranger = sign_manifest(manifest.model_copy(update={"signature": None, "signer": None,
                                                "signed_at": None}),
                    SoftwareEd25519Signer.generate(), "nobody")  # fmt: skip
    with pytest.raises(IntegrityError, match="nobody is not on the roster"):
        check_share_alone(shares[0], stranger, ledger=world.ledger)


def test_registration_must_match_an_existing_share_set(world: World) -> None:
    from tcr_kit.custody.models import ShareSet, build

    world.ledger.add_share_set(
        world.ca, build(ShareSet, id="hsm-a", m=2, n=4, purpose="HSM A", epoch=0)
    )
    _, manifest = split_and_sign(world)
    with pytest.raises(IntegrityError, match="2-of-3; share set hsm-a is 2-of-4"):
        world.ledger.register_manifest(world.ca, "hsm-a", manifest)
    with pytest.raises(NotFound):
        world.ledger.register_manifest(world.ca, "hsm-b", manifest)


def test_only_staff_with_the_share_set_role_register(world: World) -> None:
    _, manifest = split_and_sign(world)
    with pytest.raises(NotPermitted) as info:
        world.ledger.register_manifest(world.tcr, "hsm-a", manifest, purpose="x")
    assert info.value.exit_code == ExitCode.NOT_PERMITTED


def test_an_extension_records_new_indices_and_the_lost_credential_it_replaces(
    world: World,
) -> None:
    shares, manifest = split_and_sign(world)
    world.ledger.register_manifest(world.ca, "hsm-a", manifest, purpose="HSM A PIN")
    paper_share(world, "PAPER-2", 2)
    new, revised = extension(manifest, [shares[0], shares[2]], 4, replaces=2)
    with pytest.raises(InputError, match="PAPER-2 holding share 2 is issued"):
        world.ledger.register_manifest(world.ca, "hsm-a", revised)
    world.ledger.credential_action(world.ca, "PAPER-2", CredentialAction.LOSE)
    dry = world.ledger.register_manifest(world.ca, "hsm-a", revised, dry_run=True)
    assert world.ledger.share_set("hsm-a").n == 3 and dry.seq == world.ledger.audit.count() + 1
    event = world.ledger.register_manifest(world.ca, "hsm-a", revised)
    assert world.ledger.share_set("hsm-a").n == 4
    body = world.ledger.history("share-set:hsm-a")[-1]
    assert body["kind"] == "share-set.extend" and body["seq"] == event.seq
    assert body["payload"]["new_indices"] == [4]
    assert body["payload"]["replaces"] == [{"index": 4, "replaces": 2, "credentials": ["PAPER-2"]}]
    assert body["payload"]["signer"] == "ca-1" and body["actor"] == "ca-1"
    assert any(e["seq"] == event.seq for e in world.ledger.history("credential:PAPER-2"))
    # The new share checks alone against the new revision; the old revision stays valid
    # for the old shares.
    assert check_share_alone(new, revised, ledger=world.ledger).registered_at == event.seq
    assert check_share_alone(shares[1], manifest, ledger=world.ledger).entry.index == 2
    # A credential may now hold the new index (n was raised in the same change).
    paper_share(world, "PAPER-4", 4)
    world.ledger.verify()


def test_revisions_register_in_order_only(world: World) -> None:
    shares, manifest = split_and_sign(world)
    _, first = extension(manifest, shares[:2], 4, replaces=None)
    with pytest.raises(NotFound):
        world.ledger.register_manifest(world.ca, "hsm-a", first)
    world.ledger.register_manifest(world.ca, "hsm-a", manifest, purpose="HSM A PIN")
    new, first = extension(manifest, shares[:2], 4, replaces=None)
    _, second = extension(first, [new, shares[0]], 5, replaces=None)
    with pytest.raises(IntegrityError, match="but the latest registered"):
        world.ledger.register_manifest(world.ca, "hsm-a", second)
    world.ledger.register_manifest(world.ca, "hsm-a", first)
    world.ledger.register_manifest(world.ca, "hsm-a", second)
    assert world.ledger.share_set("hsm-a").n == 5
    kinds = [b["kind"] for b in world.ledger.manifest_history("hsm-a")]
    assert kinds == ["share-set.manifest", "share-set.extend", "share-set.extend"]


def resigned(manifest: ShareManifest, who: str) -> ShareManifest:
    """``manifest`` signed again by roster member ``who`` (``tcr-3``, ``iw-1``, ...)."""
    bare = manifest.model_copy(update={"signature": None, "signer": None, "signed_at": None})
    return sign_manifest(bare, KEYS[who.split("-")[0]], who)


def test_a_manifest_signed_by_a_tcr_or_a_witness_is_refused_and_nothing_is_recorded(
    world: World,
) -> None:
    """Rule action-role for share-set.sign-manifest: the signer (not only the registering
    actor) must hold its roles (default SA, CA) when the manifest enters the ledger."""
    shares, manifest = split_and_sign(world)
    count = world.ledger.audit.count()
    for who, roles in (("tcr-3", "CO"), ("iw-1", "IW")):
        for dry_run in (True, False):
            with pytest.raises(NotPermitted) as info:
                world.ledger.register_manifest(
                    world.ca, "hsm-a", resigned(manifest, who), purpose="x", dry_run=dry_run
                )
            assert info.value.exit_code == ExitCode.NOT_PERMITTED
            assert info.value.rule == "action-role"
            message = str(info.value)
            assert "share-set.sign-manifest" in message and f"signer {who} is {roles}" in message
            assert "CA/SA" in message and "\n" not in message
    assert world.ledger.audit.count() == count
    with pytest.raises(NotFound):
        world.ledger.share_set("hsm-a")
    # Signed by an allowed role (SA), the same split registers; an extension signed by the
    # TCR is refused and the set keeps its n; signed by the CA it registers.
    world.ledger.register_manifest(world.ca, "hsm-a", manifest, purpose="HSM A PIN")
    _, revised = extension(manifest, [shares[0], shares[1]], 4, replaces=None)
    count = world.ledger.audit.count()
    with pytest.raises(NotPermitted, match="signer tcr-3 is CO"):
        world.ledger.register_manifest(world.ca, "hsm-a", resigned(revised, "tcr-3"))
    assert world.ledger.audit.count() == count and world.ledger.share_set("hsm-a").n == 3
    world.ledger.register_manifest(world.ca, "hsm-a", revised)
    assert world.ledger.share_set("hsm-a").n == 4
    world.ledger.verify()


def test_the_recorded_policy_decides_who_signs_manifests(world: World) -> None:
    from tcr_kit.custody.policy import default_policy_text

    text = default_policy_text().replace(
        '"share-set.sign-manifest" = ["SA", "CA"]', '"share-set.sign-manifest" = ["IW"]'
    )
    assert '"share-set.sign-manifest" = ["IW"]' in text
    world.ledger.set_policy(world.sa, text)
    _, manifest = split_and_sign(world)
    with pytest.raises(NotPermitted, match="signer sa-1 is SA"):
        world.ledger.register_manifest(world.ca, "hsm-a", manifest, purpose="x")
    world.ledger.register_manifest(world.ca, "hsm-a", resigned(manifest, "iw-1"), purpose="x")
    assert world.ledger.manifest_history("hsm-a")[0]["payload"]["signer"] == "iw-1"
