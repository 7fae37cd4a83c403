"""After ``tcr hsm rekey``, the supported way to the HSM configuration's new share set:
``tcr hsm config-rekey`` writes the configuration's next version (the new set's id, epoch,
m and n from the signed ``hsm.rekey`` event and the ledger; dry run, typed yes, a signed
event with old and new hash, read back); the new shares then activate the HSM under it.
Real processes, SoftHSM2, a real rekey, a real ledger. The two commands of the activation
guide's "After a rekey" block are run as the guide writes them."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.audit.pgpwords import digest_words
from tcr_kit.custody.ledger import Ledger
from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.config import load_config
from tcr_kit.hsm.rekey import rekey
from tests.fixtures.stack import SoftHsm
from tests.integration.conftest import ROOT, one_error_line, run_tcr
from tests.integration.hsm_helpers import custody_ledger, make_hsm, register_shares

pytestmark = pytest.mark.integration

GUIDE = ROOT / "docs" / "guide-activation-scripts.md"


@pytest.fixture(autouse=True)
def _local_activation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCR_ACTIVATION_LOG", str(tmp_path / "activations.log"))


def _guide_commands() -> list[list[str]]:
    """The ``tcr hsm config-rekey`` commands of the guide's "After a rekey" section."""
    text = GUIDE.read_text()
    section = text[text.index("## After a rekey") :]
    start = section.index("```text\n") + len("```text\n")
    block = section[start : section.index("```", start)]
    joined = re.sub(r"\\\n\s*", "", block)
    commands = [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]
    assert commands and all(c[:3] == ["tcr", "hsm", "config-rekey"] for c in commands)
    return [c[1:] for c in commands]


def _kinds(ledger: Path) -> list[str]:
    with Ledger.open(ledger, create=False) as led:
        return [str(json.loads(e.body)["kind"]) for e in led.audit.events()]


def test_after_a_rekey_config_rekey_writes_the_new_set_and_the_new_shares_activate(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    config, old_files, old_id = hsm.config_path, hsm.plan.share_files, hsm.loaded.share_set.id
    keys: dict = {}  # type: ignore[type-arg]
    path = tmp_path / "ledger.sqlite"
    ledger, ca = custody_ledger(path, old_id, m=2, n=3, keys=keys, config=hsm.loaded)
    holders = register_shares(ledger, ca, old_id, 3)
    keys["ca"].save(tmp_path / "ca.pem")
    audit = ["--ledger", str(path), "--as", "ca", "--key", str(tmp_path / "ca.pem")]
    rekey_cmd = ["hsm", "config-rekey", "--config", str(config), *audit]

    # Before any rekey there is nothing to change.
    early = run_tcr([*rekey_cmd, "--output", str(config), "--force", "--yes"])
    assert early.returncode == 2 and "records no rekey of HSM" in one_error_line(early)

    # The rekey: 2-of-3 epoch 1 -> 2-of-4 epoch 2, the new set "set-e2" in the ledger.
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    result = rekey(Activation(hsm.loaded, ledger=ledger, actor=ca, in_person=holders),
                   [ShareFile(p) for p in old_files[:2]], threshold=2, count=4,
                   output_dir=new_dir, new_share_set_id="set-e2")  # fmt: skip
    new_files = result.share_files
    hint = "\n".join(result.describe(hsm.label, config, recorded=True))
    assert f"tcr hsm config-rekey --config {config}" in hint
    ledger.close()
    # The old configuration now activates nothing: the marker says epoch 2.
    data = tmp_path / "zone.txt"
    data.write_bytes(b"zone signed after a rekey")
    activate = ["hsm", "activate", "--no-ledger", "--config", str(config), "--sign-key",
                "ksk-demo", "--input", str(data), "-q"]  # fmt: skip
    stale = run_tcr([*activate, "--output", str(tmp_path / "a.sig"), "--share",
                     str(new_files[0]), "--share", str(new_files[1])])  # fmt: skip
    assert stale.returncode == 3, stale.stderr

    # A copy of the configuration edited since the rekey is refused: the new version is
    # made only from the version the rekey was recorded with.
    edited = tmp_path / "edited.toml"
    edited.write_bytes(config.read_bytes() + b"# reviewed again\n")
    other = run_tcr(["hsm", "config-rekey", "--config", str(edited), *audit, "--output",
                     str(edited), "--force", "--yes"])  # fmt: skip
    assert other.returncode == 3 and "only from the version the rekey used" in one_error_line(other)

    # The guide's commands, as written (hsm.toml, ca-1 and ca.pem are this test's), run in
    # the folder of the configuration with the ledger named by $TCR_LEDGER.
    before = config.read_bytes()
    names = {"hsm.toml": config.name, "ca-1": "ca", "ca.pem": "ca.pem"}
    dry_args, write_args = ([names.get(a, a) for a in c] for c in _guide_commands())
    assert "--dry-run" in dry_args and "--dry-run" not in write_args
    env = {"TCR_LEDGER": str(path)}
    dry = run_tcr(dry_args, env=env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert f'id = "{old_id}"  becomes  id = "set-e2"' in dry.stdout
    assert "epoch = 1  becomes  epoch = 2" in dry.stdout
    assert "count = 3  becomes  count = 4" in dry.stdout and "threshold =" not in dry.stdout
    assert "PGP words:" in dry.stdout
    assert "dry run: would record audit event hsm.config-rekey" in dry.stdout
    assert config.read_bytes() == before and "hsm.config-rekey" not in _kinds(path)
    # Replacing the file needs --force; a "no" writes and records nothing.
    exists = run_tcr([*rekey_cmd, "--output", str(config), "--yes"])
    assert exists.returncode == 1 and "already exists" in one_error_line(exists)
    refused = run_tcr([*rekey_cmd, "--output", str(config), "--force"], stdin="no\n")
    assert refused.returncode == 1 and "not confirmed" in refused.stderr
    assert config.read_bytes() == before and "hsm.config-rekey" not in _kinds(path)
    # Typed yes: the new version, three lines changed, recorded with old and new SHA-256.
    written = run_tcr([*write_args, "--json"], stdin="yes\n", env=env, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert "becomes  epoch = 2" in written.stderr  # shown before the typed yes, off stdout
    facts = json.loads(written.stdout)
    after = config.read_bytes()
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert changed == [
        (f'id = "{old_id}"'.encode(), b'id = "set-e2"'),
        (b"count = 3", b"count = 4"),
        (b"epoch = 1", b"epoch = 2"),
    ]
    assert facts["old_config_sha256"] == hashlib.sha256(before).hexdigest()
    assert facts["new_config_sha256"] == hashlib.sha256(after).hexdigest()
    assert facts["new_share_set"] == {"id": "set-e2", "epoch": 2, "threshold": 2, "count": 4}
    assert facts["new_set_id"] == result.new.set_id and facts["site_sha256"]
    assert config.stat().st_mode & 0o777 == 0o644
    with Ledger.open(path, create=False) as led:
        bodies = [json.loads(e.body) for e in led.audit.events()]
        (rekeyed,) = [b for b in bodies if b["kind"] == "hsm.rekey"]
        (event,) = [b for b in bodies if b["kind"] == "hsm.config-rekey"]
        (stored,) = led.audit.events(rekeyed["seq"], rekeyed["seq"])
    assert event["payload"]["rekey_event"] == {"seq": rekeyed["seq"], "hash": stored.hash}
    assert event["payload"]["old_config_sha256"] == rekeyed["payload"]["config_sha256"]
    assert {f"share-set:{old_id}", "share-set:set-e2"} <= set(event["subjects"])

    # The new shares activate the HSM under the new version; an old share is refused.
    signed = run_tcr([*activate, "--output", str(tmp_path / "b.sig"), "--share",
                      str(new_files[3]), "--share", str(new_files[0]), "--json"])  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    assert json.loads(signed.stdout)["config_sha256"] == facts["new_config_sha256"]
    old = run_tcr([*activate, "--output", str(tmp_path / "c.sig"), "--share",
                   str(old_files[0]), "--share", str(old_files[2])])  # fmt: skip
    assert old.returncode == 3 and "retired epoch 1" in one_error_line(old)
    # The timeline shows the new hash as hex and PGP words; nothing is left to change.
    transcript = tmp_path / "transcript.json"
    exported = run_tcr(["audit", "export", "--ledger", str(path), "--output", str(transcript)])
    assert exported.returncode == 0, exported.stderr
    shown = run_tcr(["audit", "show", str(transcript), "--all"])
    words = digest_words(bytes.fromhex(facts["new_config_sha256"]))[1]
    assert f"new config SHA-256: {facts['new_config_sha256']}" in shown.stdout
    assert f"PGP words: {words}" in shown.stdout
    again = run_tcr([*rekey_cmd, "--output", str(config), "--force", "--yes"])
    assert again.returncode == 2 and "already names share set set-e2" in one_error_line(again)
    verify = run_tcr(["audit", "verify", "--ledger", str(path)])
    assert verify.returncode == 0, verify.stderr


def _guide_extension_commands(label: str, names: dict[str, str]) -> list[list[str]]:
    """The commands of the guide's "An extension before config-rekey" block, with its
    names (``HSM-E``, ``hsm.toml``, ...) replaced by this test's."""
    text = GUIDE.read_text()
    section = text[text.index("### An extension before config-rekey") :]
    start = section.index("```text\n") + len("```text\n")
    block = section[start : section.index("```", start)].replace("HSM-E", label)
    joined = re.sub(r"\\\n\s*", "", block)
    commands = [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]
    assert commands and all(c[0] == "tcr" for c in commands)
    return [[names.get(a, a) for a in c[1:]] for c in commands]


def test_an_extension_recorded_before_config_rekey_is_counted_in_the_new_version(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """Rekey, then 'tcr shares extend' on the new set, then config-rekey: the new version
    names the new set with the count the ledger has now (the extension's event named), and
    the extension's share activates the HSM under it. The guide's block runs as written."""
    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    config, old_id = hsm.config_path, hsm.loaded.share_set.id
    keys: dict = {}  # type: ignore[type-arg]
    path = tmp_path / "ledger.sqlite"
    ledger, ca = custody_ledger(path, old_id, m=2, n=3, keys=keys, config=hsm.loaded)
    holders = register_shares(ledger, ca, old_id, 3)
    keys["ca"].save(tmp_path / "ca.pem")
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    result = rekey(Activation(hsm.loaded, ledger=ledger, actor=ca, in_person=holders),
                   [ShareFile(p) for p in hsm.plan.share_files[:2]], threshold=2, count=4,
                   output_dir=new_dir, new_share_set_id="hsm-e-activation-2")  # fmt: skip
    ledger.close()

    # The guide's block, as written: sign and register the new set's manifest, extend the
    # set by one share (ledger n: 4 -> 5), then config-rekey (dry run, then written).
    names = {"hsm.toml": config.name, "ca-1": "ca", "ca.pem": "ca.pem"}
    sign, register, extend, dry_args, write_args = _guide_extension_commands(hsm.label, names)
    env = {"TCR_LEDGER": str(path)}
    for args in (sign, register, extend):
        done = run_tcr(args, env=env, cwd=tmp_path)
        assert done.returncode == 0, (args, done.stderr)
    (new_share,) = sorted((tmp_path / "ext").glob("*share*5*"))
    with Ledger.open(path, create=False) as led:
        assert led.share_set("hsm-e-activation-2").n == 5
        (extended,) = [e for e in led.audit.events() if json.loads(e.body)["kind"]
                       == "share-set.extend"]  # fmt: skip
    # config-extend cannot go first: the configuration still names the retired old set.
    audit = ["--ledger", str(path), "--as", "ca", "--key", str(tmp_path / "ca.pem")]
    extend_cfg = ["hsm", "config-extend", "--config", str(config), "--output", str(config),
                  "--force", "--yes", *audit]  # fmt: skip
    first = run_tcr(extend_cfg)
    assert first.returncode == 3 and f"{old_id} is retired" in one_error_line(first)
    before = config.read_bytes()
    dry = run_tcr(dry_args, env=env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "count = 3  becomes  count = 5" in dry.stdout
    assert f"audit event {extended.seq}" in dry.stdout and "4 -> 5" in dry.stdout
    assert config.read_bytes() == before
    written = run_tcr([*write_args, "--json"], stdin="yes\n", env=env, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    facts = json.loads(written.stdout)
    assert facts["new_share_set"] == {"id": "hsm-e-activation-2", "epoch": 2, "threshold": 2,
                                      "count": 5}  # fmt: skip
    assert facts["extensions"] == [
        {"seq": extended.seq, "hash": extended.hash, "old_count": 4, "new_count": 5}
    ]
    # Nothing left for config-extend; the extension's share activates with a rekey share,
    # and that first activation raises the marker from the rekey's 4 to 5.
    nothing = run_tcr(extend_cfg)
    assert nothing.returncode == 2 and "nothing to extend" in one_error_line(nothing)
    data = tmp_path / "zone.txt"
    data.write_bytes(b"zone signed after a rekey and an extension")
    signed = run_tcr(["hsm", "activate", "--no-ledger", "--config", str(config), "--sign-key",
                      "ksk-demo", "--input", str(data), "--output", str(tmp_path / "e.sig"),
                      "--share", str(new_share), "--share", str(result.share_files[1]),
                      "--json"])  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    assert sorted(p["index"] for p in json.loads(signed.stdout)["presented"]) == [2, 5]
    marker = Activation(load_config(config)).token().marker()
    assert marker is not None and (marker.current, marker.count) == (result.new, 5)
    verify = run_tcr(["audit", "verify", "--ledger", str(path)])
    assert verify.returncode == 0, verify.stderr


def _rekey_recorded_by_hand(
    tmp_path: Path, softhsm: SoftHsm, *, ledger_m: int, with_threshold: bool
) -> tuple[Any, Any]:
    """A ledger as an earlier version could leave it: a 2-of-3 HSM rekeyed on SoftHSM2 to
    2-of-4 shares in ``tmp_path / "new"`` (no ledger during the rekey), then the new set put
    in the ledger as ``ledger_m``-of-4, the old one retired and the ``hsm.rekey`` event
    recorded (without its new threshold and count unless ``with_threshold``), as that
    version's ledger step did. The ledger is ``tmp_path / "ledger.sqlite"``, the actor's key
    ``tmp_path / "ca.pem"``. Returns the HSM and the rekey's result."""
    from dataclasses import replace

    from tcr_kit.custody.models import ShareSet, build
    from tcr_kit.hsm.events import ActivationEvent

    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    old_id = hsm.loaded.share_set.id
    keys: dict = {}  # type: ignore[type-arg]
    ledger, ca = custody_ledger(tmp_path / "ledger.sqlite", old_id, m=2, n=3, keys=keys,
                                config=hsm.loaded)  # fmt: skip
    register_shares(ledger, ca, old_id, 3)
    keys["ca"].save(tmp_path / "ca.pem")
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    events: list[ActivationEvent] = []
    result = rekey(Activation(hsm.loaded, on_event=events.append),
                   [ShareFile(p) for p in hsm.plan.share_files[:2]], threshold=2, count=4,
                   output_dir=new_dir, new_share_set_id="set-e2")  # fmt: skip
    (event,) = [e for e in events if e.kind == "hsm.rekey"]
    if not with_threshold:
        event = replace(event, new_threshold=None, new_count=None)
        assert not {"new_threshold", "new_count"} & set(event.payload())
    ledger.add_share_set(ca, build(ShareSet, id="set-e2", m=ledger_m, n=4, purpose="HSM",
                                   epoch=2))  # fmt: skip
    ledger.retire_share_set(ca, old_id)
    ledger.record_event(ca, "hsm.rekey", event.subjects, event.payload())
    ledger.close()
    return hsm, result


def test_config_rekey_refuses_a_ledger_threshold_other_than_the_rekeys(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """A ledger written by a version whose rekey kept a set it found under the new id: the
    set was put in the ledger as 3-of-4 before the rekey made it 2-of-4 (a rekey now refuses
    that, tests/integration/test_hsm_rekey_existing_set.py). The signed hsm.rekey event
    records 2-of-4, so config-rekey refuses in one line (exit 3) instead of writing a
    threshold the shares do not have. The ledger is made as that version made it: the rekey
    on SoftHSM2, then its ledger step and its event recorded as it recorded them."""
    hsm, _ = _rekey_recorded_by_hand(tmp_path, softhsm, ledger_m=3, with_threshold=True)
    config, path = hsm.config_path, tmp_path / "ledger.sqlite"
    with Ledger.open(path, create=False) as led:
        (rekeyed,) = [json.loads(e.body) for e in led.audit.events()
                      if json.loads(e.body)["kind"] == "hsm.rekey"]  # fmt: skip
    assert (rekeyed["payload"]["new_threshold"], rekeyed["payload"]["new_count"]) == (2, 4)

    before = config.read_bytes()
    audit = ["--ledger", str(path), "--as", "ca", "--key", str(tmp_path / "ca.pem")]
    for extra in (["--dry-run"], ["--yes"]):
        refused = run_tcr(["hsm", "config-rekey", "--config", str(config), "--output",
                           str(config), "--force", *audit, *extra])  # fmt: skip
        assert refused.returncode == 3, refused.stderr
        assert "3-of-4 in the ledger; the rekey of audit event" in one_error_line(refused)
        assert "made epoch 2, 2-of-4" in one_error_line(refused)
    assert config.read_bytes() == before and "hsm.config-rekey" not in _kinds(path)


def test_a_rekey_recorded_without_its_threshold_is_cross_checked_against_the_signed_manifest(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """A ledger whose hsm.rekey event was recorded the old way (no new_threshold, no
    new_count): config-rekey says "threshold not cross-checked" only while the ledger holds
    no signed manifest of the new set. Once the rekey's manifest is signed and registered
    ('tcr shares sign', 'tcr shares register') the threshold and count are checked against
    it, the note names it instead, and the event records it; the new shares activate."""
    from tcr_kit.hsm.provision import manifest_path

    hsm, result = _rekey_recorded_by_hand(tmp_path, softhsm, ledger_m=2, with_threshold=False)
    config, path, new_dir = hsm.config_path, tmp_path / "ledger.sqlite", tmp_path / "new"
    audit = ["--ledger", str(path), "--as", "ca", "--key", str(tmp_path / "ca.pem")]
    cmd = ["hsm", "config-rekey", "--config", str(config), "--output", str(config), "--force",
           *audit]  # fmt: skip
    unchecked = run_tcr([*cmd, "--dry-run"])
    assert unchecked.returncode == 0, unchecked.stderr
    assert "threshold not cross-checked" in unchecked.stdout

    manifest = manifest_path(new_dir, hsm.label, 2)
    signed = tmp_path / "e2.manifest.signed.json"
    for args in (["shares", "sign", str(manifest), "--output", str(signed), *audit[2:]],
                 ["shares", "register", str(signed), "--share-set", "set-e2", *audit]):  # fmt: skip
        done = run_tcr(args)
        assert done.returncode == 0, (args, done.stderr)
    with Ledger.open(path, create=False) as led:
        (registered,) = [e for e in led.audit.events()
                         if json.loads(e.body)["kind"] == "share-set.manifest"]  # fmt: skip
    before = config.read_bytes()
    dry = run_tcr([*cmd, "--dry-run"])
    assert dry.returncode == 0, dry.stderr
    assert "not cross-checked" not in dry.stdout
    (note,) = [x for x in dry.stdout.splitlines() if "cross-checked" in x]
    assert "threshold 2 cross-checked against the new set's signed manifest" in note
    assert f"(audit event {registered.seq})" in note
    assert config.read_bytes() == before
    written = run_tcr([*cmd, "--yes", "--json"])
    assert written.returncode == 0, written.stderr
    facts = json.loads(written.stdout)
    assert facts["threshold_checked"] is True
    assert facts["manifest_event"]["seq"] == registered.seq
    assert facts["manifest_event"]["hash"] == registered.hash
    assert facts["new_share_set"] == {"id": "set-e2", "epoch": 2, "threshold": 2, "count": 4}
    with Ledger.open(path, create=False) as led:
        (recorded,) = [json.loads(e.body) for e in led.audit.events()
                       if json.loads(e.body)["kind"] == "hsm.config-rekey"]  # fmt: skip
    assert recorded["payload"]["manifest_event"] == facts["manifest_event"]

    data = tmp_path / "zone.txt"
    data.write_bytes(b"zone signed after an old rekey")
    signs = run_tcr(["hsm", "activate", "--no-ledger", "--config", str(config), "--sign-key",
                     "ksk-demo", "--input", str(data), "--output", str(tmp_path / "z.sig"),
                     "--share", str(result.share_files[0]), "--share",
                     str(result.share_files[3]), "-q"])  # fmt: skip
    assert signs.returncode == 0, signs.stderr
    verify = run_tcr(["audit", "verify", "--ledger", str(path)])
    assert verify.returncode == 0, verify.stderr
