"""The site file (module path, ``[hsm.env]``, token) an activation used is in its audit
events beside the configuration's hash, and in the readable timeline as hex and PGP words;
a site file changed since the ceremony in force was opened is refused (exit 3) before any
share is read, and the refusal is recorded (real SoftHSM2, real shares, real ledger)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tcr_kit.audit.pgpwords import digest_words
from tcr_kit.audit.timeline import entries_of
from tcr_kit.errors import ExitCode
from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.config import load_config
from tcr_kit.hsm.errors import SiteFileChanged
from tcr_kit.hsm.events import ActivationEvent
from tests.fixtures.stack import SoftHsm
from tests.integration.hsm_helpers import custody_ledger, make_hsm, register_shares

pytestmark = pytest.mark.integration


def test_activation_records_the_site_file_hash_and_refuses_one_changed_since_the_ceremony_opened(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    loaded = hsm.loaded
    assert loaded.site_path is not None and loaded.site_sha256 is not None
    cfg = loaded.share_set
    ledger, ca = custody_ledger(tmp_path / "ledger.sqlite", cfg.id, m=2, n=3, config=loaded)
    holders = register_shares(ledger, ca, cfg.id, 3)
    files = hsm.plan.share_files

    activation = Activation(loaded, ledger=ledger, actor=ca, in_person=holders)
    with activation.session([ShareFile(files[0]), ShareFile(files[2])]) as session:
        session.sign("ksk-demo", b"zone")
    site_hash = hashlib.sha256(loaded.site_path.read_bytes()).hexdigest()
    assert [e.site_sha256 for e in activation.events] == [site_hash, site_hash]
    stored = ledger.history(f"hsm:{loaded.hsm.name}")
    assert [e["payload"]["site_sha256"] for e in stored] == [site_hash, site_hash]
    assert (
        ActivationEvent.from_payload(stored[0]["kind"], stored[0]["payload"])
        == (activation.events[0])
    )
    hex_, words = digest_words(bytes.fromhex(site_hash))
    assert f"  site file SHA-256: {hex_}" in activation.events[0].describe()
    assert f"    PGP words: {words}" in activation.events[0].describe()

    # The timeline (tcr audit show) shows both hashes of the activation, and those the
    # ceremony recorded when it opened, each with its PGP words.
    entries = entries_of(ledger.audit.events())
    opened = next(e for e in entries if e.action == "ceremony.open")
    activated = next(e for e in entries if e.action == "hsm.activate")
    assert opened.hashes == activated.hashes == (("config", loaded.sha256), ("site file", hex_))
    assert ("site file", hex_, words) in activated.hash_lines()
    assert {"what": "site file", "sha256": hex_, "pgp_words": words} in (
        activated.to_json()["hashes"]
    )

    # Someone edits the site file after the ceremony opened (another module, say): the
    # activation is refused before any share is read, and the refusal is recorded with the
    # site file's new hash.
    assert loaded.site_path is not None
    loaded.site_path.write_text(loaded.site_path.read_text() + "# edited after the opening\n")
    changed = load_config(hsm.config_path)
    assert changed.sha256 == loaded.sha256 and changed.site_sha256 != site_hash
    refused = Activation(changed, ledger=ledger, actor=ca, in_person=holders)
    with pytest.raises(SiteFileChanged, match="changed since the ceremony opened") as caught:
        with refused.session([ShareFile(files[0]), ShareFile(files[1])]):
            pass
    assert caught.value.exit_code == ExitCode.INTEGRITY
    assert site_hash in str(caught.value) and str(changed.site_sha256) in str(caught.value)
    (event,) = refused.events
    assert event.refused and event.presented == () and event.site_sha256 == changed.site_sha256
    last = ledger.history(f"hsm:{loaded.hsm.name}")[-1]
    assert last["payload"]["outcome"].startswith("refused: site file")
    ledger.verify()
    ledger.close()


def test_without_a_site_hash_in_the_ceremony_any_site_file_is_recorded_not_refused(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    cfg = hsm.loaded.share_set
    ledger, ca = custody_ledger(tmp_path / "ledger.sqlite", cfg.id, m=2, n=3)
    holders = register_shares(ledger, ca, cfg.id, 3)
    assert hsm.loaded.site_path is not None
    hsm.loaded.site_path.write_text(hsm.loaded.site_path.read_text() + "# local note\n")
    changed = load_config(hsm.config_path)
    activation = Activation(changed, ledger=ledger, actor=ca, in_person=holders)
    with activation.session([ShareFile(p) for p in hsm.plan.share_files[1:]]):
        pass
    assert activation.events[0].site_sha256 == changed.site_sha256
    assert activation.events[0].outcome == "activated"
    ledger.close()


def test_tcr_hsm_activate_refuses_a_changed_site_file_in_one_line_with_exit_3(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    """The same through the command line, in real processes: ``tcr hsm activate --as``."""
    import json

    from tests.integration.conftest import one_error_line, run_tcr

    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    loaded = hsm.loaded
    cfg = loaded.share_set
    path = tmp_path / "ledger.sqlite"
    ledger, ca = custody_ledger(path, cfg.id, m=2, n=3, config=loaded)
    register_shares(ledger, ca, cfg.id, 3)
    ledger.close()
    ca.signer.save(tmp_path / "ca.pem")  # type: ignore[attr-defined]
    files = hsm.plan.share_files
    args = ["hsm", "activate", "--config", str(hsm.config_path), "--ledger", str(path),
            "--as", "ca", "--key", str(tmp_path / "ca.pem"), "--ceremony", "1",
            "--in-person", "tcr-1", "--in-person", "tcr-3",
            "--share", str(files[0]), "--share", str(files[2])]  # fmt: skip
    done = run_tcr([*args, "--json", "--", "true"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["site_sha256"] == loaded.site_sha256
    human = run_tcr([*args, "--", "true"])
    hex_, words = digest_words(bytes.fromhex(str(loaded.site_sha256)))
    assert f"site file SHA-256: {hex_}" in human.stdout and words in human.stdout
    assert loaded.site_path is not None
    loaded.site_path.write_text(loaded.site_path.read_text() + "# edited\n")
    refused = run_tcr([*args, "--", "true"])
    assert refused.returncode == 3
    assert "changed since the ceremony opened" in one_error_line(refused)
