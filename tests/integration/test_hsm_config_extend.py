"""After ``tcr shares extend``, the supported way to the HSM configuration's new count:
``tcr hsm init`` writes the set's manifest, ``tcr hsm register-set --manifest`` records the
set and its signed manifest in one event, ``tcr shares extend`` records the extension, and
``tcr hsm config-extend`` writes the configuration's next version (one line changed, dry run,
typed yes, signed event with old and new hash, read back); a new share then activates the
HSM with an old one. Real processes, SoftHSM2, real shares, a real ledger."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tcr_kit.audit.pgpwords import digest_words
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody.ledger import Ledger
from tests.fixtures.stack import SoftHsm
from tests.integration.conftest import one_error_line, run_tcr
from tests.integration.hsm_helpers import ledgered_hsm, make_hsm

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _local_activation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCR_ACTIVATION_LOG", str(tmp_path / "activations.log"))


def _ledger(tmp_path: Path) -> tuple[list[str], Path]:
    """A ledger whose first person is the CA ca-1 (key ca.pem): ``--ledger L --as --key``."""
    key, ledger = tmp_path / "ca.pem", tmp_path / "ledger.sqlite"
    SoftwareEd25519Signer.generate().save(key)
    init = run_tcr(["roster", "init", "--ledger", str(ledger), "--id", "ca-1", "--name", "CA",
                    "--role", "CA", "--key", str(key)])  # fmt: skip
    assert init.returncode == 0, init.stderr
    return ["--ledger", str(ledger), "--as", "ca-1", "--key", str(key)], ledger


def _kinds(ledger: Path) -> list[str]:
    with Ledger.open(ledger, create=False) as led:
        return [str(json.loads(e.body)["kind"]) for e in led.audit.events()]


def _sign(config: Path, shares: list[Path], out: Path) -> subprocess.CompletedProcess[str]:
    """``tcr hsm activate --no-ledger`` signing a file with ``shares``."""
    data = out.with_suffix(".in")
    data.write_bytes(b"zone to sign")
    args = ["hsm", "activate", "--no-ledger", "--config", str(config), "--sign-key", "ksk-demo",
            "--input", str(data), "--output", str(out), "-q"]  # fmt: skip
    for share in shares:
        args += ["--share", str(share)]
    return run_tcr(args)


def test_extend_a_set_then_the_config_then_a_new_share_activates(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    config, shares = hsm.config_path, hsm.plan.share_files
    audit, ledger = _ledger(tmp_path)
    set_id = hsm.loaded.share_set.id

    # hsm init wrote the set's manifest beside the shares; its signer registers it with the
    # set in one event (an unsigned one is refused and nothing is recorded).
    manifest = hsm.plan.manifest_file
    assert json.loads(manifest.read_text())["set_id"] == hsm.plan.set_id
    register = ["hsm", "register-set", "--config", str(config), *audit]
    unsigned = run_tcr([*register, "--manifest", str(manifest)])
    assert unsigned.returncode == 3 and "not signed" in one_error_line(unsigned)
    assert "share-set.manifest" not in _kinds(ledger)
    signed = run_tcr(["shares", "sign", str(manifest), "--as", "ca-1", "--key", audit[-1]])
    assert signed.returncode == 0, signed.stderr
    signed_path = manifest.with_name(manifest.name.removesuffix(".json") + ".signed.json")
    dry = run_tcr([*register, "--manifest", str(signed_path), "--dry-run"])
    assert dry.returncode == 0 and "dry run: would record" in dry.stdout
    assert "manifest SHA-256" in dry.stdout and "PGP words:" in dry.stdout
    done = run_tcr([*register, "--manifest", str(signed_path), "--json"])
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert [e["kind"] for e in facts["events"]] == ["share-set.manifest"]
    assert facts["revision"] == 0 and facts["manifest_pgp_words"]
    with Ledger.open(ledger, create=False) as led:
        recorded = led.share_set(set_id)
        assert (recorded.m, recorded.n, recorded.epoch) == (2, 3, 1)
    again = run_tcr(["shares", "register", str(signed_path), "--share-set", set_id, *audit])
    assert again.returncode == 2 and "already registered" in one_error_line(again)

    # One more share, recorded in the ledger (n: 3 -> 4).
    out = tmp_path / "extended"
    ext = run_tcr(["shares", "extend", str(shares[0]), str(shares[1]), "--manifest",
                   str(signed_path), "--count", "1", "--output-dir", str(out), "--share-set",
                   set_id, *audit, "--json"])  # fmt: skip
    assert ext.returncode == 0, ext.stderr
    (new_row,) = json.loads(ext.stdout)["new_shares"]
    new_share = Path(new_row["file"])
    if not new_share.is_absolute():
        new_share = out / new_share
    assert new_row["index"] == 4
    # The config still says 2-of-3: the new share is refused before the HSM is tried.
    early = _sign(config, [new_share, shares[2]], tmp_path / "a.sig")
    assert early.returncode == 3 and "is a 2-of-4 share" in one_error_line(early)

    # config-extend: a dry run shows the one-line change and both hashes, changes nothing.
    before = config.read_bytes()
    extend = ["hsm", "config-extend", "--config", str(config), *audit]
    dry = run_tcr([*extend, "--output", str(config), "--force", "--dry-run"])
    assert dry.returncode == 0, dry.stderr
    assert "count 3 -> 4" in dry.stdout and "PGP words:" in dry.stdout
    assert "dry run: would record audit event hsm.config-extend" in dry.stdout
    assert config.read_bytes() == before and "hsm.config-extend" not in _kinds(ledger)
    # Replacing the file needs --force; a "no" writes and records nothing.
    exists = run_tcr([*extend, "--output", str(config), "--yes"])
    assert exists.returncode == 1 and "already exists" in one_error_line(exists)
    refused = run_tcr([*extend, "--output", str(config), "--force"], stdin="no\n")
    assert refused.returncode == 1 and "not confirmed" in refused.stderr
    assert config.read_bytes() == before and "hsm.config-extend" not in _kinds(ledger)
    # A relative site file would not be found from another folder: refused.
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    moved = run_tcr([*extend, "--output", str(elsewhere / "hsm.toml"), "--yes"])
    assert moved.returncode == 2 and "relative to its folder" in one_error_line(moved)
    # Typed yes: the new version, one line changed, recorded with old and new SHA-256.
    written = run_tcr([*extend, "--output", str(config), "--force", "--json"], stdin="yes\n")
    assert written.returncode == 0, written.stderr
    assert "count 3 -> 4" in written.stderr  # shown before the typed yes, off stdout
    facts = json.loads(written.stdout)
    after = config.read_bytes()
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert changed == [(b"count = 3", b"count = 4")]
    assert facts["old_config_sha256"] == hashlib.sha256(before).hexdigest()
    assert facts["new_config_sha256"] == hashlib.sha256(after).hexdigest()
    assert facts["site_sha256"] == hsm.loaded.site_sha256 and facts["manifest_sha256"]
    assert config.stat().st_mode & 0o777 == 0o644
    with Ledger.open(ledger, create=False) as led:
        (event,) = [
            json.loads(e.body) for e in led.audit.events()
            if json.loads(e.body)["kind"] == "hsm.config-extend"
        ]  # fmt: skip
    payload = event["payload"]
    assert (payload["old_count"], payload["new_count"]) == (3, 4)
    assert payload["new_config_sha256"] == facts["new_config_sha256"]
    assert f"share-set:{set_id}" in event["subjects"]

    # The new share activates the HSM together with an old one, under the new version.
    data = tmp_path / "zone.txt"
    data.write_bytes(b"zone signed with an extended set")
    signed = run_tcr(["hsm", "activate", "--no-ledger", "--config", str(config), "--share",
                      str(new_share), "--share", str(shares[2]), "--sign-key", "ksk-demo",
                      "--input", str(data), "--output", str(tmp_path / "b.sig"),
                      "--json"])  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    used = json.loads(signed.stdout)
    assert used["config_sha256"] == facts["new_config_sha256"]
    assert used["site_sha256"] == hsm.loaded.site_sha256
    assert sorted(p["index"] for p in used["presented"]) == [3, 4]
    assert (tmp_path / "b.sig").stat().st_size > 0
    # The timeline shows the config-extend event's old and new hash, as hex and PGP words.
    transcript = tmp_path / "transcript.json"
    exported = run_tcr(["audit", "export", "--ledger", audit[1], "--output", str(transcript)])
    assert exported.returncode == 0, exported.stderr
    shown = run_tcr(["audit", "show", str(transcript), "--all"])
    assert shown.returncode == 0, shown.stderr
    words = digest_words(bytes.fromhex(facts["new_config_sha256"]))[1]
    assert f"new config SHA-256: {facts['new_config_sha256']}" in shown.stdout
    assert f"PGP words: {words}" in shown.stdout
    # Nothing left to extend; the ledger verifies.
    nothing = run_tcr([*extend, "--output", str(config), "--force", "--yes"])
    assert nothing.returncode == 2 and "nothing to extend" in one_error_line(nothing)
    verify = run_tcr(["audit", "verify", "--ledger", audit[1]])
    assert verify.returncode == 0, verify.stderr


def test_with_custody_the_extended_set_activates_under_the_new_config_in_the_ceremony(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """The library path with a custody ledger and a ceremony open that recorded the
    configuration and site file: extension recorded, configuration raised, the new share's
    credential registered, and the holders present activate with the new share."""
    from tcr_kit.custody.models import Credential, CredentialKind, build
    from tcr_kit.custody.share_manifests import extend_set, sign_manifest
    from tcr_kit.hsm.activation import Activation, ShareFile
    from tcr_kit.hsm.config_extend import extend_config, plan_config_extension
    from tcr_kit.sharing.manifest import load_manifest
    from tests.integration.hsm_helpers import custody_ledger, register_shares

    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    cfg = hsm.loaded.share_set
    ledger, ca = custody_ledger(tmp_path / "l.sqlite", cfg.id, m=2, n=3, config=hsm.loaded)
    holders = register_shares(ledger, ca, cfg.id, 3)
    signed = sign_manifest(load_manifest(hsm.plan.manifest_file), ca.signer, "ca")
    ledger.register_manifest(ca, cfg.id, signed)
    out = tmp_path / "extended"
    out.mkdir()
    files = hsm.plan.share_files
    extended = extend_set(files[:2], signed, ca.signer, "ca", out, count=1, ledger=ledger,
                          actor=ca, share_set_id=cfg.id)  # fmt: skip
    (new_share,) = extended.outcome.paths
    ledger.add_credential(
        ca,
        build(Credential, id=f"{cfg.id}-4", kind=CredentialKind.SMARTCARD, serial="S4",
              holder="tcr-1", share_set=cfg.id, share_index=4),
    )  # fmt: skip

    plan = plan_config_extension(hsm.loaded, ledger, hsm.config_path, force=True)
    assert (plan.old_count, plan.new_count) == (3, 4)
    assert plan.manifest_sha256 == extended.manifest.signing_digest().hex()
    event, raised = extend_config(plan, ledger, ca, force=True)
    assert raised is not None and raised.share_set.count == 4
    assert raised.site_sha256 == hsm.loaded.site_sha256  # the ceremony's site file: accepted

    activation = Activation(raised, ledger=ledger, actor=ca, in_person=holders)
    with activation.session([ShareFile(new_share), ShareFile(files[2])]) as session:
        session.sign("ksk-demo", b"zone")
    first = activation.events[0]
    assert first.outcome == "activated" and first.config_sha256 == plan.new_sha256
    assert first.marker_count == {"old": 3, "new": 4}  # the ledger's n: raised
    assert [p.credential for p in first.presented] == [f"{cfg.id}-4", f"{cfg.id}-3"]
    kinds = [json.loads(e.body)["kind"] for e in ledger.audit.events()]
    assert kinds[-4:] == ["credential.add", "hsm.config-extend", "hsm.activate", "hsm.deactivate"]
    assert event.seq == len(kinds) - 2
    ledger.verify()
    ledger.close()


def test_the_marker_count_follows_the_extended_config_at_the_next_activation(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """The HSM's activation marker says how many shares the set has. After an extension
    the first activation under the raised configuration raises it (read back, recorded in
    that activation's event); a share whose index is above the original count activates."""
    from tcr_kit.custody.share_manifests import extend_set, sign_manifest
    from tcr_kit.hsm.activation import Activation, ShareFile
    from tcr_kit.hsm.config import load_config
    from tcr_kit.sharing.manifest import load_manifest

    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    files, signer = hsm.plan.share_files, SoftwareEd25519Signer.generate()
    signed = sign_manifest(load_manifest(hsm.plan.manifest_file), signer, "ca")
    out = tmp_path / "extended"
    out.mkdir()
    (new_share,) = extend_set(files[:2], signed, signer, "ca", out, count=1).outcome.paths
    before = Activation(hsm.loaded).token().marker()
    assert before is not None and before.count == 3

    # Under the configuration that still says 3, the marker is left as it is.
    activation = Activation(hsm.loaded)
    with activation.session([ShareFile(files[0]), ShareFile(files[2])]):
        pass
    assert activation.events[0].marker_count is None
    assert activation.token().marker() == before

    # The configuration raised (tcr hsm config-extend, above): the share of index 4 activates
    # with an old one, and the marker now says 4, nothing else changed.
    hsm.config_path.write_text(hsm.config_path.read_text().replace("count = 3", "count = 4"))
    raised = load_config(hsm.config_path)
    activation = Activation(raised)
    with activation.session([ShareFile(new_share), ShareFile(files[1])]) as session:
        session.sign("ksk-demo", b"zone")
    first = activation.events[0]
    assert first.outcome == "activated" and [p.index for p in first.presented] == [4, 2]
    assert first.marker_count == {"old": 3, "new": 4}
    assert first.payload()["marker_count"] == {"old": 3, "new": 4}
    after = activation.token().marker()
    assert after is not None and after.count == 4
    assert (after.current, after.threshold, after.retired) == (
        before.current,
        before.threshold,
        before.retired,
    )
    # Once raised, the next activation (here a PIN handed off) changes nothing more.
    again = Activation(raised)
    again.user_pin([ShareFile(new_share), ShareFile(files[0])]).wipe()
    assert again.events[0].marker_count is None and "marker_count" not in again.events[0].payload()
    assert again.token().marker() == after


def test_with_a_ledger_the_marker_is_raised_only_to_the_count_the_ledger_records(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """A configuration whose count was raised by hand (no extension recorded) would raise
    the HSM's marker to a count only the file says: with a ledger, 'tcr hsm activate' refuses
    it in one line (exit 3) before any share is read, and the marker stays. A count below
    the ledger's is refused too, until config-extend writes the ledger's. Without a ledger
    the marker follows the file as before."""
    from tcr_kit.custody.share_manifests import extend_set, sign_manifest
    from tcr_kit.hsm.activation import Activation
    from tcr_kit.hsm.config import load_config
    from tcr_kit.sharing.manifest import load_manifest

    hsm, path, ca, audit = ledgered_hsm(tmp_path, softhsm, ledger_m=2, ledger_n=3)
    config, files, set_id = hsm.config_path, hsm.plan.share_files, hsm.loaded.share_set.id
    custody = [*audit, "--ceremony", "1", "--in-person", "tcr-1", "--in-person", "tcr-3"]

    def activate(*extra: str) -> subprocess.CompletedProcess[str]:
        return run_tcr(["hsm", "activate", "--config", str(config), *extra, "--share",
                        str(files[0]), "--share", str(files[2]), "--", "true"])  # fmt: skip

    def marker_count() -> int:
        marker = Activation(load_config(config)).token().marker()
        assert marker is not None
        return marker.count

    def last_activation() -> dict:  # type: ignore[type-arg]
        with Ledger.open(path, create=False) as led:
            bodies = [json.loads(e.body) for e in led.audit.events()]
        return [b for b in bodies if b["kind"] == "hsm.activate"][-1]["payload"]

    # A hand edit: count 4, which no recorded extension made.
    config.write_text(config.read_text().replace("count = 3", "count = 4"))
    refused = activate(*custody)
    assert refused.returncode == 3, refused.stderr
    line = one_error_line(refused)
    assert "says share set" in line and "is 2-of-4; the ledger records 2-of-3" in line
    assert "marker (3 shares) is not raised" in line
    assert marker_count() == 3
    event = last_activation()
    assert event["outcome"].startswith("refused: ") and event["presented"] == []

    # Two shares recorded since (ledger n 5): a count of 4 still is not the ledger's.
    with Ledger.open(path, create=False) as led:
        signed = sign_manifest(load_manifest(hsm.plan.manifest_file), ca.signer, "ca")
        led.register_manifest(ca, set_id, signed)
        out = tmp_path / "extended"
        out.mkdir()
        extend_set(files[:2], signed, ca.signer, "ca", out, count=2, ledger=led, actor=ca,
                   share_set_id=set_id)  # fmt: skip
        assert led.share_set(set_id).n == 5
    below = activate(*custody)
    assert below.returncode == 3 and "the ledger records 2-of-5" in one_error_line(below)
    assert "'tcr hsm config-extend'" in one_error_line(below) and marker_count() == 3
    # config-extend writes the ledger's count from the hand-edited file's; then it is raised.
    config.write_text(config.read_text().replace("count = 4", "count = 3"))
    raised = run_tcr(["hsm", "config-extend", "--config", str(config), "--output", str(config),
                      "--force", "--yes", *audit])  # fmt: skip
    assert raised.returncode == 0, raised.stderr
    done = activate(*custody, "--json")
    assert done.returncode == 0, done.stderr
    assert last_activation()["marker_count"] == {"old": 3, "new": 5} and marker_count() == 5
    assert json.loads(done.stdout)["marker_count"] == {"old": 3, "new": 5}  # for scripts

    # Without a ledger, today's behaviour: the marker follows the configuration file.
    config.write_text(config.read_text().replace("count = 5", "count = 6"))
    local = activate("--no-ledger")
    assert local.returncode == 0, local.stderr
    assert marker_count() == 6
    assert "activation marker now counts 6 shares (was 5)" in local.stdout


@pytest.mark.parametrize("ledger_m", [2, 3], ids=["count-above-the-ledgers", "other-threshold"])
def test_a_refused_marker_raise_names_a_way_forward_that_works(
    softhsm: SoftHsm, tmp_path: Path, ledger_m: int
) -> None:
    """The one line refusing a marker raise must not send the operator to a command that
    refuses in turn: a count no extension recorded goes back to the reviewed version (after
    an extension recorded later, that version activates and config-extend writes it), and
    a threshold other than the ledger's m is not something config-extend can change."""

    hsm, _, _, audit = ledgered_hsm(tmp_path, softhsm, ledger_m=ledger_m, ledger_n=3)
    config, files = hsm.config_path, hsm.plan.share_files
    config.write_text(config.read_text().replace("count = 3", "count = 4"))
    refused = run_tcr(["hsm", "activate", "--config", str(config), *audit, "--ceremony", "1",
                       "--in-person", "tcr-1", "--in-person", "tcr-2", "--share", str(files[0]),
                       "--share", str(files[1]), "--", "true"])  # fmt: skip
    assert refused.returncode == 3, refused.stderr
    line = one_error_line(refused)
    assert f"the ledger records {ledger_m}-of-3" in line
    extend = run_tcr(["hsm", "config-extend", "--config", str(config), "--output",
                      str(config), "--force", "--yes", *audit])  # fmt: skip
    assert extend.returncode != 0  # neither case is config-extend's to settle
    if ledger_m == 2:
        assert "go back to the configuration's reviewed version" in line
        assert "then 'tcr hsm config-extend'" not in line
    else:
        assert "the threshold is not the ledger's m" in line and "config-extend" not in line


def test_a_marker_raise_is_refused_when_the_ledgers_manifest_is_another_hsms_shares(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """The ledger set the configuration names holds the signed manifest of another HSM's
    shares (registered for it by mistake) and an extension of them: 'tcr hsm config-extend'
    writes that count, but the activation refuses the marker raise in one line (exit 3)
    before any share is read, since the ledger's set is not the marker's native set. With
    the HSM's own manifest registered the same steps raise the marker (the test above)."""
    from tcr_kit.custody.share_manifests import extend_set, sign_manifest
    from tcr_kit.hsm.activation import Activation
    from tcr_kit.hsm.config import load_config
    from tcr_kit.sharing.manifest import load_manifest
    from tests.integration.hsm_helpers import custody_ledger, register_shares

    hsm, other = make_hsm(tmp_path, softhsm, m=2, n=3), make_hsm(tmp_path, softhsm, m=2, n=3)
    config, files, set_id = hsm.config_path, hsm.plan.share_files, hsm.loaded.share_set.id
    path = tmp_path / "ledger.sqlite"
    ledger, ca = custody_ledger(path, set_id, m=2, n=3)
    register_shares(ledger, ca, set_id, 3)
    wrong = sign_manifest(load_manifest(other.plan.manifest_file), ca.signer, "ca")
    ledger.register_manifest(ca, set_id, wrong)
    out = tmp_path / "extended"
    out.mkdir()
    extend_set(other.plan.share_files[:2], wrong, ca.signer, "ca", out, count=1, ledger=ledger,
               actor=ca, share_set_id=set_id)  # fmt: skip
    ledger.close()
    ca.signer.save(tmp_path / "ca.pem")  # type: ignore[attr-defined]
    audit = ["--ledger", str(path), "--as", "ca", "--key", str(tmp_path / "ca.pem")]
    written = run_tcr(["hsm", "config-extend", "--config", str(config), "--output", str(config),
                       "--force", "--yes", *audit])  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert load_config(config).share_set.count == 4

    activate = ["hsm", "activate", "--config", str(config), *audit, "--ceremony", "1",
                "--in-person", "tcr-1", "--in-person", "tcr-3", "--share", str(files[0]),
                "--share", str(files[2])]  # fmt: skip
    refused = run_tcr([*activate, "--", "true"])
    assert refused.returncode == 3, refused.stderr
    line = one_error_line(refused)
    mine, theirs = hsm.plan.set_id, other.plan.set_id
    assert f"holds the signed manifest of native set {theirs}" in line
    assert f"the HSM's marker names native set {mine}" in line
    assert "marker (3 shares) is not raised to 4, refused before any share is read" in line
    assert "a configuration counting the marker's 3 activates without a raise" in line
    marker = Activation(load_config(config)).token().marker()
    assert marker is not None and marker.count == 3
    with Ledger.open(path, create=False) as led:
        bodies = [json.loads(e.body) for e in led.audit.events()]
    event = [b for b in bodies if b["kind"] == "hsm.activate"][-1]["payload"]
    assert event["outcome"].startswith("refused: ") and event["presented"] == []
    assert "marker_count" not in event
    # The way forward the line names works: the version counting 3 activates, no raise.
    config.write_text(config.read_text().replace("count = 4", "count = 3"))
    done = run_tcr([*activate, "--json", "--", "true"])
    assert done.returncode == 0, done.stderr
    assert "marker_count" not in json.loads(done.stdout)


def test_a_marker_raise_is_refused_when_the_ledger_holds_no_manifest_of_the_set(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """The ledger's set was registered with a count above the HSM's (no extension recorded,
    no manifest): nothing recorded ties it to the marker's native set, and a marker only
    moves forward, so the raise is refused in one line (exit 3) before any share is read.
    The way forward the line names works: the configuration counting the marker's shares
    activates without a raise."""
    from tcr_kit.hsm.activation import Activation
    from tcr_kit.hsm.config import load_config

    hsm, path, _, audit = ledgered_hsm(tmp_path, softhsm, ledger_m=2, ledger_n=4)
    config, files, set_id = hsm.config_path, hsm.plan.share_files, hsm.loaded.share_set.id
    activate = ["hsm", "activate", "--config", str(config), *audit, "--ceremony", "1",
                "--in-person", "tcr-1", "--in-person", "tcr-2", "--share", str(files[0]),
                "--share", str(files[1]), "--json", "--", "true"]  # fmt: skip
    config.write_text(config.read_text().replace("count = 3", "count = 4"))
    refused = run_tcr(activate)
    assert refused.returncode == 3, refused.stderr
    line = one_error_line(refused)
    assert f"share set {set_id} holds no signed manifest in the ledger" in line
    assert f"ties it to the HSM's native set {hsm.plan.set_id}" in line
    assert "marker (3 shares) is not raised to 4, refused before any share is read" in line
    assert "a configuration counting the marker's 3 activates without a raise" in line
    marker = Activation(load_config(config)).token().marker()
    assert marker is not None and marker.count == 3

    config.write_text(config.read_text().replace("count = 4", "count = 3"))
    done = run_tcr(activate)
    assert done.returncode == 0, done.stderr
    assert "marker_count" not in json.loads(done.stdout)
    verify = run_tcr(["audit", "verify", "--ledger", str(path)])
    assert verify.returncode == 0, verify.stderr
