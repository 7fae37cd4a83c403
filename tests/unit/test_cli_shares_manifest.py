"""``tcr shares sign | register | check | extend`` as a ceremony runs them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.cli_runner import run_tcr


class Tcr:
    """``tcr`` in this process, in a folder with a ledger whose roster has sa-1 and ca-1."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp
        monkeypatch.setenv("TCR_LEDGER", str(tmp / "ledger.sqlite"))
        for name in ("TCR_KEY", "TCR_AS", "TCR_CEREMONY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.chdir(tmp)

    def __call__(self, *args: str | Path, code: int = 0) -> str:
        proc = run_tcr(*args, expect=code, in_process=True)
        return proc.stdout if code == 0 else proc.stderr

    def json(self, *args: str | Path) -> dict[str, object]:
        return dict(json.loads(self(*args, "--json")))


SA = ("--as", "sa-1", "--key", "sa.pem")
CA = ("--as", "ca-1", "--key", "ca.pem")


@pytest.fixture
def tcr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tcr:
    t = Tcr(tmp_path, monkeypatch)
    t("key", "generate", "--output", "sa.pem")
    ca_key = t.json("key", "generate", "--output", "ca.pem")["public_key"]
    t("roster", "init", "--id", "sa-1", "--name", "Admin", "--role", "SA", "--key", "sa.pem")
    t("roster", "add", *SA, "--id", "ca-1", "--name", "CA", "--role", "CA",
      "--public-key", str(ca_key))  # fmt: skip
    secret = tmp_path / "pin.txt"
    secret.write_bytes(b"activation-pin-8675309")
    secret.chmod(0o600)
    (tmp_path / "out").mkdir()
    t("shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", "out", "-q")
    return t


def share(i: int) -> Path:
    return Path("out") / f"pin.txt.share-{i:03d}.txt"


SIGNED = Path("out/pin.txt.manifest.signed.json")


def kinds() -> list[str]:
    """The kinds of the ledger's events about share set ``pin``, oldest first."""
    from tcr_kit.custody.ledger import Ledger

    with Ledger.open(Path("ledger.sqlite"), create=False) as led:
        return [str(e["kind"]) for e in led.history("share-set:pin")]


def sign_and_register(tcr: Tcr) -> dict[str, object]:
    signed = tcr.json("shares", "sign", "out/pin.txt.manifest.json", *SA)
    assert signed["manifest"] == str(SIGNED) and signed["signer"] == "sa-1"
    tcr("shares", "register", SIGNED, "--share-set", "pin", "--purpose", "HSM PIN", *SA)
    return signed


def test_each_tcr_checks_their_share_alone_against_the_registered_manifest(tcr: Tcr) -> None:
    signed = sign_and_register(tcr)
    assert len(str(signed["manifest_pgp_words"]).split()) == 32
    for i in (1, 2, 3):
        out = tcr("shares", "check", share(i), "--manifest", SIGNED, "--use-ledger")
        assert f"share {i} of set {signed['set_id']}" in out
        assert "signature and signer verified; registered in the ledger at event" in out
    facts = tcr.json("shares", "check", share(2), "--manifest", SIGNED, "--use-ledger")
    assert facts["index"] == 2 and facts["signer_checked"] is True
    assert facts["manifest_sha256"] == signed["manifest_sha256"]


def test_check_without_a_signer_check_says_so_plainly(tcr: Tcr) -> None:
    sign_and_register(tcr)
    err = tcr("shares", "check", share(1), "--manifest", SIGNED, code=3)
    assert "the signer was NOT checked" in err
    out = tcr("shares", "check", share(1), "--manifest", SIGNED, "--self-signed-only")
    assert "signer NOT checked" in out
    facts = tcr.json("shares", "check", share(1), "--manifest", SIGNED, "--self-signed-only")
    assert facts["signer_checked"] is False


def test_check_with_the_signers_key_and_with_another_key(tcr: Tcr) -> None:
    sign_and_register(tcr)
    doc = json.loads(SIGNED.read_text())
    sa_key = doc["signer"]["public_key"]
    tcr("shares", "check", share(3), "--manifest", SIGNED, "--signer-key", sa_key)
    ca_key = json.loads(tcr("roster", "show", "ca-1", "--json"))["person"]["public_key"]
    err = tcr("shares", "check", share(3), "--manifest", SIGNED, "--signer-key", ca_key, code=3)
    assert "not by the expected key" in err
    tcr("shares", "check", share(3), "--manifest", SIGNED, "--signer-key", "xyz", code=2)


def test_check_names_what_is_wrong_with_exit_3(tcr: Tcr, tmp_path: Path) -> None:
    sign_and_register(tcr)
    # A share of another set (same secret, split again).
    (tmp_path / "other").mkdir()
    tcr("shares", "split", "-m", "2", "-n", "3", "-i", "pin.txt", "-o", "other", "-q")
    err = tcr("shares", "check", "other/pin.txt.share-001.txt", "--manifest", SIGNED,
              "--use-ledger", code=3)  # fmt: skip
    assert "belongs to share set" in err
    # A mistyped share.
    text = share(2).read_text()
    bad = tmp_path / "typo.txt"
    bad.write_text(text[:12] + ("X" if text[12] != "X" else "Y") + text[13:])
    err = tcr("shares", "check", bad, "--manifest", SIGNED, "--use-ledger", code=3)
    assert "checksum" in err
    # A manifest whose signature no longer covers it.
    doc = json.loads(SIGNED.read_text())
    doc["threshold"] = 3
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc))
    err = tcr("shares", "check", share(2), "--manifest", forged, "--self-signed-only", code=3)
    assert "signature does not verify" in err
    # A signer not on the roster: signed with a key the ledger does not know.
    tcr("key", "generate", "--output", "stray.pem")
    tcr("shares", "sign", "out/pin.txt.manifest.json", "--as", "stray", "--key", "stray.pem",
        "--output", "stray.json")  # fmt: skip
    err = tcr("shares", "check", share(2), "--manifest", "stray.json", "--use-ledger", code=3)
    assert "stray is not on the roster" in err
    # An unsigned manifest.
    err = tcr("shares", "check", share(2), "--manifest", "out/pin.txt.manifest.json",
              "--self-signed-only", code=3)  # fmt: skip
    assert "not signed" in err


def test_extend_replaces_a_lost_share_and_the_new_ones_combine_with_the_old(
    tcr: Tcr,
) -> None:
    sign_and_register(tcr)
    report = tcr.json(
        "shares", "extend", share(1), share(3), "--manifest", SIGNED, "--count", "2",
        "--replaces", "2", "-o", "out", "--share-set", "pin", *CA,
    )  # fmt: skip
    rows = report["new_shares"]
    assert isinstance(rows, list)
    assert [(r["index"], r["replaces"]) for r in rows] == [(4, 2), (5, None)]
    revised = Path(str(report["manifest"]))
    assert revised.name == "pin.txt.manifest-r1.json" and report["revision"] == 1
    assert report["signer"] == "ca-1" and report["indices"] == [1, 2, 3, 4, 5]
    for i in (4, 5):
        assert stat.S_IMODE(share(i).stat().st_mode) == 0o600
        out = tcr("shares", "check", share(i), "--manifest", revised, "--use-ledger")
        assert f"share {i} of set" in out
    # The old shares still check against the new revision too.
    tcr("shares", "check", share(2), "--manifest", revised, "--use-ledger")
    # Interop: `tcr shares combine` takes old and new shares together.
    for pair in ((share(4), share(2)), (share(5), share(4)), (share(3), share(5))):
        tcr("shares", "combine", "-o", "secret.out", "--force", *pair)
        assert Path("secret.out").read_bytes() == b"activation-pin-8675309"
    assert kinds() == ["share-set.manifest", "share-set.extend"]


def test_extend_refusals_and_their_exit_codes(tcr: Tcr, tmp_path: Path) -> None:
    sign_and_register(tcr)
    common = ("--manifest", SIGNED, "-o", "out", "--share-set", "pin", *CA)
    before = sorted(p.name for p in Path("out").iterdir())
    # Fewer than m shares: 4.
    err = tcr("shares", "extend", share(1), "--count", "1", *common, code=4)
    assert "more share" in err
    # An index already issued: 3.
    err = tcr("shares", "extend", share(1), share(2), "--index", "3", *common, code=3)
    assert "already issued" in err
    # Shares of two sets: 3.
    (tmp_path / "other").mkdir()
    tcr("shares", "split", "-m", "2", "-n", "3", "-i", "pin.txt", "-o", "other", "-q")
    err = tcr("shares", "extend", share(1), share(2), "other/pin.txt.share-003.txt",
              "--count", "1", *common, code=3)  # fmt: skip
    assert "belongs to share set" in err or "more than one set" in err
    # Replacing a credential that is not recorded lost: refused, nothing written.
    tcr("credential", "add", *CA, "--id", "PAPER-2", "--kind", "paper-share", "--serial",
        "P-2", "--holder", "ca-1", "--share-set", "pin", "--share-index", "2")  # fmt: skip
    err = tcr("shares", "extend", share(1), share(3), "--count", "1", "--replaces", "2",
              *common, code=2)  # fmt: skip
    assert "record it lost" in err
    # Replacing a share that was given, or one the set never had: bad input.
    err = tcr("shares", "extend", share(1), share(3), "--count", "1", "--replaces", "3",
              *common, code=2)  # fmt: skip
    assert "share 3 was given" in err
    err = tcr("shares", "extend", share(1), share(3), "--count", "1", "--replaces", "9",
              *common, code=2)  # fmt: skip
    assert "no share 9 to replace" in err
    # Usage: neither --share-set nor --no-ledger, or both --count and --index.
    tcr("shares", "extend", share(1), share(3), "--manifest", SIGNED, "--count", "1",
        "-o", "out", *CA, code=2)  # fmt: skip
    tcr("shares", "extend", share(1), share(3), "--count", "1", "--index", "9", *common, code=2)
    assert sorted(p.name for p in Path("out").iterdir()) == before
    assert kinds() == ["share-set.manifest"]


def test_extend_dry_run_writes_and_records_nothing(tcr: Tcr) -> None:
    sign_and_register(tcr)
    before = sorted(p.name for p in Path("out").iterdir())
    out = tcr("shares", "extend", share(2), share(3), "--manifest", SIGNED, "--count", "1",
              "-o", "out", "--share-set", "pin", *CA, "--dry-run")  # fmt: skip
    assert "dry run: would make 1 new share(s)" in out and "nothing was written" in out
    assert sorted(p.name for p in Path("out").iterdir()) == before
    assert kinds() == ["share-set.manifest"]


def test_extend_without_the_ledger_then_register_the_revision(tcr: Tcr) -> None:
    sign_and_register(tcr)
    tcr("shares", "extend", share(1), share(2), "--manifest", SIGNED, "--index", "7",
        "-o", "out", "--no-ledger", *CA)  # fmt: skip
    revised = Path("out/pin.txt.manifest-r1.json")
    err = tcr("shares", "check", share(7), "--manifest", revised, "--use-ledger", code=3)
    assert "not registered in the ledger" in err
    tcr("shares", "register", revised, "--share-set", "pin", *CA)
    tcr("shares", "check", share(7), "--manifest", revised, "--use-ledger")
    # The next extension continues above index 7.
    report = tcr.json("shares", "extend", share(7), share(3), "--manifest", revised,
                      "--count", "1", "-o", "out", "--share-set", "pin", *CA)  # fmt: skip
    assert report["revision"] == 2 and report["indices"] == [1, 2, 3, 7, 8]


def test_a_real_process_reports_one_line_and_exit_3(tcr: Tcr) -> None:
    sign_and_register(tcr)
    proc = run_tcr("shares", "check", share(1), "--manifest", SIGNED)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("error:")]


CO = ("--as", "co-1", "--key", "co.pem")


def add_crypto_officer(tcr: Tcr) -> None:
    """Put co-1, a crypto officer (a TCR, no staff role), on the roster with key co.pem."""
    key = tcr.json("key", "generate", "--output", "co.pem")["public_key"]
    tcr("roster", "add", *SA, "--id", "co-1", "--name", "CO", "--role", "CO",
        "--facility", "east", "--public-key", str(key))  # fmt: skip


def audit_count() -> int:
    from tcr_kit.custody.ledger import Ledger

    with Ledger.open(Path("ledger.sqlite"), create=False) as led:
        return led.audit.count()


def test_register_refuses_a_manifest_signed_by_a_tcr_with_exit_5_and_records_nothing(
    tcr: Tcr,
) -> None:
    add_crypto_officer(tcr)
    tcr("shares", "sign", "out/pin.txt.manifest.json", *CO, "--output", "co.json")
    count = audit_count()
    register = ("shares", "register", "co.json", "--share-set", "pin", "--purpose", "HSM PIN")
    for extra in ((), ("--dry-run",)):
        err = tcr(*register, *SA, *extra, code=5)
        assert len(err.strip().splitlines()) == 1, err
        assert "share-set.sign-manifest" in err and "signer co-1 is CO" in err
        assert "CA/SA" in err
    assert audit_count() == count and kinds() == []
    # The same split, signed by a staff member with the role, registers.
    sign_and_register(tcr)
    assert kinds() == ["share-set.manifest"]


def test_an_extension_signed_by_a_tcr_is_refused_at_register_with_exit_5(tcr: Tcr) -> None:
    add_crypto_officer(tcr)
    sign_and_register(tcr)
    tcr("shares", "extend", share(1), share(3), "--manifest", SIGNED, "--count", "1",
        "-o", "out", "--no-ledger", *CO)  # fmt: skip
    revised = Path("out/pin.txt.manifest-r1.json")
    count = audit_count()
    err = tcr("shares", "register", revised, "--share-set", "pin", *CA, code=5)
    assert "signer co-1 is CO" in err and "share-set.sign-manifest" in err
    assert audit_count() == count and kinds() == ["share-set.manifest"]


def test_a_policy_from_before_sign_manifest_gets_its_default_roles_at_extend(tcr: Tcr) -> None:
    """A policy recorded before share-set.sign-manifest existed does not list it: the
    default's roles (SA, CA) apply and 'tcr policy show' says so. Here that policy lets a
    crypto officer change share sets, yet the extension they would sign is refused."""
    from tcr_kit.custody.policy import default_policy_text

    add_crypto_officer(tcr)
    sign_and_register(tcr)
    lines = default_policy_text().replace(
        '"share-set.change" = ["SA", "CA"]', '"share-set.change" = ["SA", "CA", "CO"]'
    )
    old = [ln for ln in lines.splitlines() if not ln.startswith('"share-set.sign-manifest"')]
    Path("old.toml").write_text("\n".join(old).replace('name = "default"', 'name = "east-2025"'))
    tcr("policy", "set", "old.toml", *SA)
    assert json.loads(tcr("policy", "show", "--json"))["defaulted"] == ["share-set.sign-manifest"]
    assert "defaults apply: share-set.sign-manifest" in tcr("policy", "show")
    before, count = sorted(p.name for p in Path("out").iterdir()), audit_count()
    err = tcr("shares", "extend", share(1), share(3), "--manifest", SIGNED, "--count", "1",
              "-o", "out", "--share-set", "pin", *CO, code=5)  # fmt: skip
    assert "signer co-1 is CO" in err and "CA/SA" in err
    assert sorted(p.name for p in Path("out").iterdir()) == before
    assert audit_count() == count and kinds() == ["share-set.manifest"]
    tcr("shares", "extend", share(1), share(3), "--manifest", SIGNED, "--count", "1",
        "-o", "out", "--share-set", "pin", *CA)  # fmt: skip
    assert kinds() == ["share-set.manifest", "share-set.extend"]


def test_registering_again_a_manifest_registered_under_an_earlier_policy_says_it_is_registered(
    tcr: Tcr,
) -> None:
    """A policy let crypto officers sign manifests and co-1's was registered; a later policy
    no longer does. Registering that manifest again (a retried script) is told it is already
    registered (exit 2, nothing recorded), not that its signer may not sign (exit 5): the
    policy governs what enters the ledger, and this one is in already."""
    from tcr_kit.custody.policy import default_policy_text

    add_crypto_officer(tcr)
    text = default_policy_text()
    lenient = text.replace(
        '"share-set.sign-manifest" = ["SA", "CA"]', '"share-set.sign-manifest" = ["SA", "CA", "CO"]'
    )
    assert lenient != text
    Path("lenient.toml").write_text(lenient.replace('name = "default"', 'name = "lenient"'))
    Path("strict.toml").write_text(text.replace('name = "default"', 'name = "strict"'))
    tcr("policy", "set", "lenient.toml", *SA)
    tcr("shares", "sign", "out/pin.txt.manifest.json", *CO, "--output", "co.json")
    register = ("shares", "register", "co.json", "--share-set", "pin", "--purpose", "HSM PIN")
    tcr(*register, *SA)
    tcr("policy", "set", "strict.toml", *SA)
    count = audit_count()
    err = tcr(*register, *SA, code=2)
    assert "already registered (event" in err and len(err.strip().splitlines()) == 1
    assert audit_count() == count and kinds() == ["share-set.manifest"]
