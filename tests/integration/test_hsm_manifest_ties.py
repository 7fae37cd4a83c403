"""A marker raise is justified by the set's *signed* manifests, not by what the ledger
records beside them: a ledger writer holding the actor's key can record a share count, a
native set id or a revision number, but not a roster signer's manifest. Each forged
ledger below verifies as a log (its events are signed by the actor); the activation still
refuses the raise in one line (exit 3) before any share is read, and the marker stays;
'tcr hsm config-extend' refuses to write the forged count.
And the supported way forward for a set registered without a manifest works end to end.
SoftHSM2, real shares, a real ledger, the real CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.custody.ledger import Ledger
from tests.fixtures.stack import SoftHsm
from tests.integration.conftest import one_error_line, run_tcr
from tests.integration.hsm_helpers import ledgered_hsm, make_hsm

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _local_activation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCR_ACTIVATION_LOG", str(tmp_path / "activations.log"))


def tcr(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a ``tcr`` command that must succeed."""
    done = run_tcr(list(args))
    assert done.returncode == 0, (args, done.stderr)
    return done


def _resigned(manifest: Any, signer: Any, **update: Any) -> Any:
    """``manifest`` changed by ``update`` and signed again by the roster's CA."""
    from tcr_kit.custody.share_manifests import sign_manifest

    bare = manifest.model_copy(update={"signer": None, "signature": None, "signed_at": None})
    return sign_manifest(bare.model_copy(update=update), signer, "ca")


def _forge(led: Ledger, ca: Any, set_id: str, manifest: Any, kind: str, native: str) -> None:
    """What a ledger writer can record without ``register_manifest``'s checks: a manifest
    event saying ``native`` whatever the manifest says, and the set's n raised to its count."""
    from tcr_kit.custody.models import revalidate

    extra = {
        "manifest_sha256": manifest.signing_digest().hex(), "native_set_id": native,
        "revision": manifest.revision, "signer": "ca", "indices": manifest.indices,
        "new_indices": [s.index for s in manifest.new_shares], "replaces": [],
        "manifest": manifest.model_dump(mode="json"),
    }  # fmt: skip
    current = led.share_set(set_id)
    with led._change(ca, kind, [f"share-set:{set_id}", f"native-set:{native}"], extra):
        led._put(revalidate(current.model_copy(update={"n": manifest.count})))


REFUSALS = {
    "n-only": "has 4 shares in the ledger; its latest signed manifest (audit event",
    "other-native-set": "the HSM's marker names native set",
    "other-threshold": "has threshold 3; the ledger's m is 2",
    "out-of-order": "is revision 2 following 0000",
    "second-split": "is revision 0 following None; the set's chain needs revision 1",
    "retired-signer": "its signer ca-2 was retired at audit event",
}
"""What each forgery's one line names (the manifest check that refuses it)."""
FORGERIES = list(REFUSALS)


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_marker_raise_needs_the_count_the_signed_manifests_make(
    softhsm: SoftHsm, tmp_path: Path, forgery: str
) -> None:
    from tcr_kit.audit.signing import SoftwareEd25519Signer
    from tcr_kit.custody.ledger import Actor
    from tcr_kit.custody.models import Person, Role, build, revalidate
    from tcr_kit.custody.share_manifests import extend_set, sign_manifest
    from tcr_kit.hsm.activation import Activation
    from tcr_kit.hsm.config import load_config
    from tcr_kit.sharing.manifest import load_manifest
    from tests.integration.hsm_helpers import custody_ledger, register_shares

    hsm, other = make_hsm(tmp_path, softhsm, m=2, n=3), make_hsm(tmp_path, softhsm, m=2, n=3)
    config, files, set_id = hsm.config_path, hsm.plan.share_files, hsm.loaded.share_set.id
    native = hsm.plan.set_id
    path = tmp_path / "ledger.sqlite"
    keys: dict[str, Any] = {}
    ledger, ca = custody_ledger(path, set_id, m=2, n=3, keys=keys)
    register_shares(ledger, ca, set_id, 3)
    sa, ca2 = Actor("sa", keys["sa"]), SoftwareEd25519Signer.generate()
    ledger.add_person(sa, build(Person, id="ca-2", name="CA2", roles=(Role.CA,),
                                key_algorithm="ed25519",
                                public_key=ca2.public_key_bytes().hex()))  # fmt: skip
    split = sign_manifest(load_manifest(hsm.plan.manifest_file), ca.signer, "ca")
    ledger.register_manifest(ca, set_id, split)
    out = tmp_path / "ext"
    out.mkdir()
    if forgery == "n-only":  # n raised by a plain change, no manifest revision
        with ledger._change(ca, "share-set.add", [f"share-set:{set_id}"]):
            current = ledger.share_set(set_id)
            ledger._put(revalidate(current.model_copy(update={"n": 4})))
    elif forgery == "other-native-set":  # another set's signed revision, recorded as ours
        theirs = sign_manifest(load_manifest(other.plan.manifest_file), ca.signer, "ca")
        ext = extend_set(other.plan.share_files[:2], theirs, ca.signer, "ca", out, count=1)
        _forge(ledger, ca, set_id, ext.manifest, "share-set.extend", native)
    else:
        mine = extend_set(files[:2], split, ca.signer, "ca", out, count=1).manifest
        if forgery == "other-threshold":
            forged = _resigned(mine, ca.signer, threshold=3)
            kind = "share-set.extend"
        elif forgery == "retired-signer":  # signed by a staff member retired since
            (out / "2").mkdir()
            forged = extend_set(files[:2], split, ca2, "ca-2", out / "2", count=1).manifest
            ledger.retire_person(sa, "ca-2")
            kind = "share-set.extend"
        elif forgery == "out-of-order":
            forged = _resigned(mine, ca.signer, revision=2, previous_sha256="0" * 64)
            kind = "share-set.extend"
        else:  # a second split manifest, counting 4
            forged = _resigned(split, ca.signer, count=4)
            kind = "share-set.manifest"
        _forge(ledger, ca, set_id, forged, kind, native)
    assert ledger.share_set(set_id).n == 4
    ledger.close()
    ca.signer.save(tmp_path / "ca.pem")  # type: ignore[attr-defined]
    audit = ["--ledger", str(path), "--as", "ca", "--key", str(tmp_path / "ca.pem")]
    assert run_tcr(["audit", "verify", "--ledger", str(path)]).returncode == 0

    # config-extend does not write a version the signed manifests do not make either.
    before = config.read_bytes()
    extend = run_tcr(["hsm", "config-extend", "--config", str(config), "--output", str(config),
                      "--force", "--yes", *audit])  # fmt: skip
    assert extend.returncode == 3, extend.stderr
    assert f"share set {set_id}" in one_error_line(extend) and config.read_bytes() == before
    # A configuration saying what the ledger says (2-of-4): only the signed text differs.
    config.write_text(config.read_text().replace("count = 3", "count = 4"))
    refused = run_tcr(["hsm", "activate", "--config", str(config), *audit, "--ceremony", "1",
                       "--in-person", "tcr-1", "--in-person", "tcr-3", "--share", str(files[0]),
                       "--share", str(files[2]), "--", "true"])  # fmt: skip
    assert refused.returncode == 3, refused.stderr
    line = one_error_line(refused)
    assert f"share set {set_id}" in line and REFUSALS[forgery] in line
    assert "marker (3 shares) is not raised to 4, refused before any share is read" in line
    marker = Activation(load_config(config)).token().marker()
    assert marker is not None and marker.count == 3


def test_a_set_registered_without_a_manifest_is_extended_and_raised_after_registering_it(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """A set in the ledger without a manifest (as 'tcr hsm register-set' without --manifest
    records it), then the way forward: sign and register the HSM's split manifest for the
    set, extend, config-extend; the first activation with the ledger raises the marker."""
    from tcr_kit.hsm.activation import Activation
    from tcr_kit.hsm.config import load_config

    hsm, _path, _, audit = ledgered_hsm(tmp_path, softhsm)
    config, files, set_id = hsm.config_path, hsm.plan.share_files, hsm.loaded.share_set.id
    key = tmp_path / "ca.pem"

    # A count typed above the ledger's: the refusal names the way that works, which the
    # steps below follow (the version reviewed, counting 3, is put back first).
    reviewed = config.read_text()
    config.write_text(reviewed.replace("count = 3", "count = 4"))
    refused = run_tcr(["hsm", "activate", "--config", str(config), *audit, "--ceremony", "1",
                       "--in-person", "tcr-1", "--in-person", "tcr-3", "--share",
                       str(files[0]), "--share", str(files[2]), "--", "true"])  # fmt: skip
    assert refused.returncode == 3, refused.stderr
    line = one_error_line(refused)
    assert "go back to the configuration's reviewed version" in line
    assert "'tcr shares extend --share-set', after the set's signed split manifest is" in line
    assert "registered ('tcr shares register MANIFEST --share-set')" in line
    config.write_text(reviewed)
    manifest = hsm.plan.manifest_file
    tcr("shares", "sign", str(manifest), "--as", "ca", "--key", str(key))
    signed = manifest.with_name(manifest.name.removesuffix(".json") + ".signed.json")
    tcr("shares", "register", str(signed), "--share-set", set_id, *audit)
    tcr("shares", "extend", str(files[0]), str(files[1]), "--manifest", str(signed), "--count",
        "1", "--output-dir", str(tmp_path / "ext"), "--share-set", set_id, *audit)  # fmt: skip
    tcr("hsm", "config-extend", "--config", str(config), "--output", str(config), "--force",
        "--yes", *audit)  # fmt: skip
    done = tcr("hsm", "activate", "--config", str(config), *audit, "--ceremony", "1",
               "--in-person", "tcr-1", "--in-person", "tcr-3", "--share", str(files[0]),
               "--share", str(files[2]), "--json", "--", "true")  # fmt: skip
    assert json.loads(done.stdout)["marker_count"] == {"old": 3, "new": 4}
    marker = Activation(load_config(config)).token().marker()
    assert marker is not None and marker.count == 4


@pytest.mark.parametrize("forgery", ["other-native-set", "out-of-order"])
def test_config_rekey_counts_only_extensions_the_signed_manifests_make(
    softhsm: SoftHsm, tmp_path: Path, forgery: str
) -> None:
    """After a rekey (2-of-4) and its registered signed manifest, a ledger writer records an
    "extension" to 5 that is another set's signed revision recorded as the rekey's native
    set, or a revision out of the chain's order: config-rekey refuses in one line (exit 3),
    dry run or not, and writes and records nothing."""
    from tcr_kit.custody.share_manifests import extend_set, sign_manifest
    from tcr_kit.hsm.activation import Activation, ShareFile
    from tcr_kit.hsm.provision import manifest_path
    from tcr_kit.hsm.rekey import rekey
    from tcr_kit.sharing.manifest import load_manifest
    from tests.integration.hsm_helpers import custody_ledger, register_shares

    hsm, other = make_hsm(tmp_path, softhsm, m=2, n=3), make_hsm(tmp_path, softhsm, m=2, n=3)
    config, old_id = hsm.config_path, hsm.loaded.share_set.id
    path = tmp_path / "ledger.sqlite"
    ledger, ca = custody_ledger(path, old_id, m=2, n=3, config=hsm.loaded)
    holders = register_shares(ledger, ca, old_id, 3)
    new_dir, out = tmp_path / "new", tmp_path / "ext"
    new_dir.mkdir()
    out.mkdir()
    result = rekey(Activation(hsm.loaded, ledger=ledger, actor=ca, in_person=holders),
                   [ShareFile(p) for p in hsm.plan.share_files[:2]], threshold=2, count=4,
                   output_dir=new_dir, new_share_set_id="set-e2")  # fmt: skip
    split = load_manifest(manifest_path(new_dir, hsm.label, 2))
    split = sign_manifest(split, ca.signer, "ca")
    ledger.register_manifest(ca, "set-e2", split)
    if forgery == "other-native-set":
        theirs = sign_manifest(load_manifest(other.plan.manifest_file), ca.signer, "ca")
        forged = extend_set(other.plan.share_files[:2], theirs, ca.signer, "ca", out,
                            count=2).manifest  # fmt: skip
    else:
        mine = extend_set(result.share_files[:2], split, ca.signer, "ca", out, count=1)
        forged = _resigned(mine.manifest, ca.signer, revision=2, previous_sha256="0" * 64)
    _forge(ledger, ca, "set-e2", forged, "share-set.extend", result.new.set_id)
    assert ledger.share_set("set-e2").n == 5
    ledger.close()
    ca.signer.save(tmp_path / "ca.pem")  # type: ignore[attr-defined]
    audit = ["--ledger", str(path), "--as", "ca", "--key", str(tmp_path / "ca.pem")]
    before = config.read_bytes()
    for extra in ("--dry-run", "--yes"):
        refused = run_tcr(["hsm", "config-rekey", "--config", str(config), "--output",
                           str(config), "--force", *audit, extra])  # fmt: skip
        assert refused.returncode == 3, refused.stderr
        line = one_error_line(refused)
        assert "share set set-e2's signed manifest of audit event" in line
        if forgery == "other-native-set":
            assert f"(recorded as {result.new.set_id})" in line
        else:
            assert "is revision 2 following 0000" in line
    assert config.read_bytes() == before
    with Ledger.open(path, create=False) as led:
        kinds = [json.loads(e.body)["kind"] for e in led.audit.events()]
    assert "hsm.config-rekey" not in kinds


def test_a_manifest_signed_before_its_signer_replaced_their_key_still_raises_the_marker(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """The CA signs and registers the split and an extension, then replaces their key ('tcr
    roster' key replacement): the manifests were signed with the key registered to them at
    the time, so the extension still raises the marker at the next activation, and
    config-extend still writes its count."""
    from tcr_kit.audit.signing import SoftwareEd25519Signer
    from tcr_kit.custody.ledger import Actor
    from tcr_kit.custody.share_manifests import extend_set, sign_manifest
    from tcr_kit.sharing.manifest import load_manifest
    from tests.integration.hsm_helpers import custody_ledger, register_shares

    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    config, files, set_id = hsm.config_path, hsm.plan.share_files, hsm.loaded.share_set.id
    path = tmp_path / "ledger.sqlite"
    keys: dict[str, Any] = {}
    ledger, ca = custody_ledger(path, set_id, m=2, n=3, keys=keys)
    register_shares(ledger, ca, set_id, 3)
    split = sign_manifest(load_manifest(hsm.plan.manifest_file), ca.signer, "ca")
    ledger.register_manifest(ca, set_id, split)
    out = tmp_path / "ext"
    out.mkdir()
    extend_set(files[:2], split, ca.signer, "ca", out, count=1, ledger=ledger, actor=ca,
               share_set_id=set_id)  # fmt: skip
    new_key = SoftwareEd25519Signer.generate()
    ledger.replace_key(Actor("sa", keys["sa"]), "ca", new_key.public_key_bytes())
    ledger.close()
    new_key.save(tmp_path / "ca.pem")
    audit = ["--ledger", str(path), "--as", "ca", "--key", str(tmp_path / "ca.pem")]
    extend = run_tcr(["hsm", "config-extend", "--config", str(config), "--output", str(config),
                      "--force", "--yes", *audit])  # fmt: skip
    assert extend.returncode == 0, extend.stderr
    done = run_tcr(["hsm", "activate", "--config", str(config), *audit, "--ceremony", "1",
                    "--in-person", "tcr-1", "--in-person", "tcr-3", "--share", str(files[0]),
                    "--share", str(files[2]), "--json", "--", "true"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["marker_count"] == {"old": 3, "new": 4}
    assert run_tcr(["audit", "verify", "--ledger", str(path)]).returncode == 0


def test_rekey_config_rekey_extension_config_extend_then_the_activation_raises_the_marker(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """The whole legitimate path after a rekey, with the ledger at every step: rekey (2-of-4),
    its manifest signed and registered, config-rekey, one more share ('tcr shares extend'),
    config-extend, and the activation with the ledger raises the marker from 4 to 5."""
    from tcr_kit.hsm.activation import Activation, ShareFile
    from tcr_kit.hsm.config import load_config
    from tcr_kit.hsm.provision import manifest_path
    from tcr_kit.hsm.rekey import rekey
    from tests.integration.hsm_helpers import custody_ledger, register_shares

    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    config, old_id = hsm.config_path, hsm.loaded.share_set.id
    path, key = tmp_path / "ledger.sqlite", tmp_path / "ca.pem"
    ledger, ca = custody_ledger(path, old_id, m=2, n=3)
    holders = register_shares(ledger, ca, old_id, 3)
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    result = rekey(Activation(hsm.loaded, ledger=ledger, actor=ca, in_person=holders),
                   [ShareFile(p) for p in hsm.plan.share_files[:2]], threshold=2, count=4,
                   output_dir=new_dir, new_share_set_id="set-e2")  # fmt: skip
    register_shares(ledger, ca, "set-e2", 3)
    ledger.close()
    ca.signer.save(key)  # type: ignore[attr-defined]
    audit = ["--ledger", str(path), "--as", "ca", "--key", str(key)]

    signed = tmp_path / "e2.manifest.signed.json"
    tcr("shares", "sign", str(manifest_path(new_dir, hsm.label, 2)), "--output", str(signed),
        "--as", "ca", "--key", str(key))  # fmt: skip
    tcr("shares", "register", str(signed), "--share-set", "set-e2", *audit)
    tcr("hsm", "config-rekey", "--config", str(config), "--output", str(config), "--force",
        "--yes", *audit)  # fmt: skip
    shares = result.share_files
    tcr("shares", "extend", str(shares[0]), str(shares[1]), "--manifest", str(signed), "--count",
        "1", "--output-dir", str(tmp_path / "ext"), "--share-set", "set-e2", *audit)  # fmt: skip
    tcr("hsm", "config-extend", "--config", str(config), "--output", str(config), "--force",
        "--yes", *audit)  # fmt: skip
    assert load_config(config).share_set.count == 5
    done = tcr("hsm", "activate", "--config", str(config), *audit, "--ceremony", "1",
               "--in-person", "tcr-1", "--in-person", "tcr-3", "--share", str(shares[0]),
               "--share", str(shares[2]), "--json", "--", "true")  # fmt: skip
    assert json.loads(done.stdout)["marker_count"] == {"old": 4, "new": 5}
    marker = Activation(load_config(config)).token().marker()
    assert marker is not None and (marker.current, marker.count) == (result.new, 5)
    tcr("audit", "verify", "--ledger", str(path))
