"""SoftHSM2 tokens as TCR cards: enrol, check, recombine, sign, rotate, faults."""

from __future__ import annotations

import ast
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tcr_kit.cards.enrol import check_card, enrol, read_share, rotate
from tcr_kit.cards.errors import (
    AlreadyEnrolled,
    CredentialCorrupt,
    ForeignShareSet,
    NotEnrolled,
    PinIncorrect,
    WrongCard,
)
from tcr_kit.cards.pkcs11_backend import LABEL_COMMIT, Pkcs11Card
from tcr_kit.cards.record import EnrolmentRecord, TcrRef, load_record
from tcr_kit.cards.signing import SignatureInvalid, sign_with_card, verify_signature
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.native import combine_shares, decode_share, split_bytes
from tests.fixtures.stack import SO_PIN, TRANSPORT_PIN, SoftHsm
from tests.integration.conftest import MODULE, one_error_line, run_tcr

pytestmark = pytest.mark.integration

NewToken = Callable[..., tuple[str, str]]


def pin(value: str) -> SecretBuffer:
    return SecretBuffer(bytearray(value.encode()))


def _enrol(
    label: str, share: bytes, tmp: Path, n: int, new_pin: str = "tcr-pin-1"
) -> EnrolmentRecord:
    card = Pkcs11Card(MODULE, token_label=label)
    result = enrol(
        card,
        share,
        tcr=TcrRef(name=f"TCR number {n}", id=f"tcr-{n}"),
        current_pin=pin(TRANSPORT_PIN),
        new_pin=pin(new_pin),
        record_path=tmp / f"record-{n}.json",
    )
    return result.record


def test_seven_cards_from_one_3_of_7_split_check_and_any_three_recombine(
    new_token: NewToken, softhsm: SoftHsm, tmp_path: Path
) -> None:
    secret = os.urandom(32)
    shares = split_bytes(secret, 3, 7, label="root-ksk-test")
    tokens = [new_token("TCR") for _ in range(7)]
    records = []
    for n, ((label, _serial), share) in enumerate(zip(tokens, shares, strict=True), 1):
        rec = _enrol(label, share.encode_compact(), tmp_path, n, new_pin=f"pin-of-{n}")
        assert rec.share.set_id == shares[0].set_id_hex
        assert rec.share.index == share.index
        assert rec.share.digest == share.digest().hex()
        assert load_record(tmp_path / f"record-{n}.json") == rec
        records.append(rec)
    read_back = []
    for n, ((_label, serial), rec) in enumerate(zip(tokens, records, strict=True), 1):
        card = Pkcs11Card(MODULE, token_serial=serial)
        no_pin = check_card(card, record=rec)
        assert no_pin.share_intact is None and no_pin.status.state == "enrolled"
        assert no_pin.status.keys == rec.keys
        with_pin = check_card(card, record=rec, pin=pin(f"pin-of-{n}"))
        assert with_pin.share_intact is True
        with read_share(card, pin(f"pin-of-{n}"), record=rec) as raw:
            read_back.append(decode_share(bytes(raw.view()), f"card {n}"))
    for trio in itertools.combinations(read_back, 3):
        result = combine_shares(list(trio))
        assert bytes(result.secret.view()) == secret
        result.secret.wipe()
    # The share never lies in the clear in the token store.
    for path in softhsm.tokens.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            for share in shares:
                assert share.encode_compact()[4:40] not in blob


def test_keys_are_generated_on_card_non_extractable_and_sign(
    new_token: NewToken, tmp_path: Path
) -> None:
    label, _ = new_token()
    rec = _enrol(label, b"opaque share bytes", tmp_path, 1)
    assert rec.keys is not None and rec.share.format == "opaque"
    assert rec.keys.signing.algorithm == "ed25519"  # SoftHSM2 has Ed25519
    assert rec.keys.share_encryption.algorithm == "ec-p256"
    card = Pkcs11Card(MODULE, token_label=label)
    card.verify_keys(pin("tcr-pin-1"), card.status().meta)  # type: ignore[arg-type]
    sig = sign_with_card(card, pin("tcr-pin-1"), b"custody attestation")
    verify_signature(rec.keys.signing, b"custody attestation", sig)
    with pytest.raises(SignatureInvalid):
        verify_signature(rec.keys.signing, b"another attestation", sig)
    with pytest.raises(SignatureInvalid):
        verify_signature(rec.keys.share_encryption, b"custody attestation", sig)


def test_card_signer_signs_for_the_audit_log(new_token: NewToken, tmp_path: Path) -> None:
    from tcr_kit.audit.signing import Signer
    from tcr_kit.audit.signing import verify_signature as audit_verify
    from tcr_kit.cards.signing import CardSigner

    label, _ = new_token()
    rec = _enrol(label, b"signer share", tmp_path, 1)
    with CardSigner(Pkcs11Card(MODULE, token_label=label), pin("tcr-pin-1")) as signer:
        assert isinstance(signer, Signer)
        assert signer.algorithm == "ed25519" and signer.key == rec.keys.signing  # type: ignore[union-attr]
        sig = signer.sign(b"event 42")
        audit_verify(signer.algorithm, signer.public_key_bytes(), b"event 42", sig)
        assert "tcr-pin-1" not in repr(signer)


def test_enrolling_an_enrolled_card_is_refused(new_token: NewToken, tmp_path: Path) -> None:
    label, _ = new_token()
    _enrol(label, b"first share", tmp_path, 1)
    card = Pkcs11Card(MODULE, token_label=label)
    with pytest.raises(AlreadyEnrolled):
        enrol(
            card,
            b"second share",
            tcr=TcrRef(name="x", id="x"),
            current_pin=pin("tcr-pin-1"),
            new_pin=pin("tcr-pin-1"),
            record_path=tmp_path / "other.json",
        )


def test_interrupted_enrolment_is_pending_and_a_rerun_completes(
    new_token: NewToken, tmp_path: Path
) -> None:
    label, _ = new_token()
    rec = _enrol(label, b"share to re-enrol", tmp_path, 1)
    card = Pkcs11Card(MODULE, token_label=label)
    # Simulate an interruption just before the commit marker: remove it.
    with card._session(pin("tcr-pin-1"), rw=True) as session:
        for obj in card._objects(session, LABEL_COMMIT):
            obj.destroy()
    assert card.status().state == "pending"
    with pytest.raises(NotEnrolled, match="pending"):
        check_card(card, record=rec)
    again = enrol(
        card,
        b"share to re-enrol",
        tcr=TcrRef(name="TCR number 1", id="tcr-1"),
        current_pin=pin("tcr-pin-1"),
        new_pin=pin("tcr-pin-1"),
        record_path=tmp_path / "record-1.json",
        force=True,
    )
    assert card.status().state == "enrolled"
    assert again.record.enrolment_id != rec.enrolment_id
    # Interrupted after the commit, before the record: a re-run writes the record.
    (tmp_path / "record-1.json").unlink()
    done = enrol(
        card,
        b"share to re-enrol",
        tcr=TcrRef(name="TCR number 1", id="tcr-1"),
        current_pin=pin("tcr-pin-1"),
        new_pin=pin("tcr-pin-1"),
        record_path=tmp_path / "record-1.json",
    )
    assert done.completed_interrupted and done.record == again.record


def test_wrong_pin_says_the_token_cannot_tell_tries(new_token: NewToken, tmp_path: Path) -> None:
    label, _ = new_token()
    _enrol(label, b"s", tmp_path, 1)
    card = Pkcs11Card(MODULE, token_label=label)
    with pytest.raises(PinIncorrect) as info:
        card.read_credential(pin("not-the-pin"))
    assert info.value.attempts_left is None
    assert card.pin_status().count_low
    assert "does not report" in str(info.value)


def test_change_pin_and_unblock_with_so_pin_keep_the_share(
    new_token: NewToken, tmp_path: Path
) -> None:
    label, _ = new_token()
    rec = _enrol(label, b"kept across PIN changes", tmp_path, 1)
    card = Pkcs11Card(MODULE, token_label=label)
    card.change_pin(pin("tcr-pin-1"), pin("tcr-pin-2"))
    with pytest.raises(PinIncorrect):
        card.verify_pin(pin("tcr-pin-1"))
    card.unblock(pin(SO_PIN), pin("tcr-pin-3"))
    assert check_card(card, record=rec, pin=pin("tcr-pin-3")).share_intact


def test_cli_change_pin_unblock_and_wipe_answer_in_json(
    new_token: NewToken, softhsm: SoftHsm, tmp_path: Path
) -> None:
    label, serial = new_token()
    _enrol(label, b"kept across PIN changes", tmp_path, 1)
    sel = ["card", "--pkcs11-module", MODULE, "--token-label", label]
    env = _env(softhsm)
    proc = run_tcr(
        [sel[0], "change-pin", *sel[1:], "--json"],
        stdin="tcr-pin-1\ntcr-pin-2\ntcr-pin-2\n",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"ok": True, "card": _described(serial), "serial": serial}
    proc = run_tcr(
        [sel[0], "unblock", *sel[1:], "--json"], stdin=f"{SO_PIN}\ntcr-pin-3\ntcr-pin-3\n", env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["serial"] == serial
    proc = run_tcr([sel[0], "wipe", *sel[1:], "--dry-run", "--json", "-q"], env=env)
    assert proc.returncode == 0 and proc.stderr == ""
    assert json.loads(proc.stdout)["would_wipe"]["state"] == "enrolled"
    proc = run_tcr([sel[0], "wipe", *sel[1:], "--yes", "--json"], stdin="tcr-pin-3\n", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["wiped"]["serial"] == serial
    assert Pkcs11Card(MODULE, token_label=label).status().state == "blank"


def _described(serial: str) -> str:
    return Pkcs11Card(MODULE, token_serial=serial).identity().describe()


def test_card_of_another_share_set_is_an_integrity_error(
    new_token: NewToken, tmp_path: Path
) -> None:
    label, _ = new_token()
    first = split_bytes(b"k" * 16, 2, 3)[0]
    rec = _enrol(label, first.encode_compact(), tmp_path, 1)
    card = Pkcs11Card(MODULE, token_label=label)
    card.wipe(pin("tcr-pin-1"))
    other = split_bytes(b"k" * 16, 2, 3)[0]
    enrol(
        card,
        other.encode_compact(),
        tcr=TcrRef(name="TCR number 1", id="tcr-1"),
        current_pin=pin("tcr-pin-1"),
        new_pin=pin("tcr-pin-1"),
        record_path=tmp_path / "other.json",
    )
    with pytest.raises(ForeignShareSet):
        check_card(card, record=rec)


def test_rotate_moves_the_share_verifies_it_and_wipes_the_old_card(
    new_token: NewToken, tmp_path: Path
) -> None:
    old_label, _ = new_token()
    new_label, _ = new_token()
    share = split_bytes(b"r" * 32, 2, 2)[1]
    rec = _enrol(old_label, share.encode_compact(), tmp_path, 1)
    old = Pkcs11Card(MODULE, token_label=old_label)
    new = Pkcs11Card(MODULE, token_label=new_label)
    result = rotate(
        old,
        pin("tcr-pin-1"),
        new,
        new_current_pin=pin(TRANSPORT_PIN),
        new_pin=pin("new-card-pin"),
        record_path=tmp_path / "new.json",
        old_record=rec,
    )
    assert old.status().state == "blank"
    assert result.record.share == rec.share and result.record.card.label == new_label
    assert check_card(new, record=result.record, pin=pin("new-card-pin")).share_intact
    with pytest.raises(WrongCard):
        check_card(old, record=result.record)


def test_tampered_share_object_fails_authentication(new_token: NewToken, tmp_path: Path) -> None:
    from pkcs11 import Attribute

    label, _ = new_token()
    _enrol(label, b"tamper target", tmp_path, 1)
    card = Pkcs11Card(MODULE, token_label=label)
    with card._session(pin("tcr-pin-1"), rw=True) as session:
        (obj,) = card._objects(session, "tcr-share")
        blob = bytearray(obj[Attribute.VALUE])
        blob[-1] ^= 1
        cls = obj[Attribute.CLASS]
        obj.destroy()
        session.create_object(
            {
                Attribute.CLASS: cls,
                Attribute.LABEL: "tcr-share",
                Attribute.VALUE: bytes(blob),
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
            }
        )
    with pytest.raises(CredentialCorrupt):
        card.read_credential(pin("tcr-pin-1"))


# -- the command line --------------------------------------------------------------------


def _env(softhsm: SoftHsm) -> dict[str, str]:
    return {"SOFTHSM2_CONF": str(softhsm.conf)}


def test_cli_enrol_check_list_wipe(new_token: NewToken, softhsm: SoftHsm, tmp_path: Path) -> None:
    label, serial = new_token()
    share = split_bytes(b"c" * 32, 3, 5)[2]
    share_file = tmp_path / "share-3.tcrs"
    share_file.write_bytes(share.encode_compact())
    record = tmp_path / "rec.json"
    sel = ["--pkcs11-module", MODULE, "--token-label", label]
    proc = run_tcr(
        ["card", "enrol", *sel, "--share", str(share_file), "--tcr-name", "Ann Example",
         "--tcr-id", "tcr-3", "--record", str(record), "--json"],
        stdin=f"{TRANSPORT_PIN}\ncard-pin-3\ncard-pin-3\n", env=_env(softhsm),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["index"] == 3 and out["card_serial"] == serial
    assert "card-pin-3" not in proc.stdout + proc.stderr
    assert (record.stat().st_mode & 0o777) == 0o600
    rec = load_record(record)
    assert rec.tcr.id == "tcr-3" and rec.share.set_id == share.set_id_hex

    proc = run_tcr(["card", "check", *sel, "--record", str(record), "--json"], env=_env(softhsm))
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["share_intact"] is None and facts["record_matches"] is True
    assert facts["signing_key_fingerprint"] == rec.keys.signing.fingerprint  # type: ignore[union-attr]

    proc = run_tcr(
        ["card", "check", "--pkcs11-module", MODULE, "--token-serial", serial,
         "--record", str(record), "--with-pin", "--json"],
        stdin="card-pin-3\n", env=_env(softhsm),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["share_intact"] is True
    assert share.encode_text()[:20] not in proc.stdout

    proc = run_tcr(
        ["card", "list", "--pkcs11-module", MODULE, "--record", str(record), "--json"],
        env=_env(softhsm),
    )
    assert proc.returncode == 0, proc.stderr
    (row,) = [r for r in json.loads(proc.stdout)["cards"] if r.get("label") == label]
    assert row["state"] == "enrolled" and row["index"] == 3 and row["tcr"] == "tcr-3 (Ann Example)"

    proc = run_tcr(["card", "wipe", *sel, "--dry-run"], env=_env(softhsm))
    assert proc.returncode == 0 and "dry run" in proc.stderr
    assert Pkcs11Card(MODULE, token_label=label).status().state == "enrolled"
    proc = run_tcr(["card", "wipe", *sel], stdin="card-pin-3\n", env=_env(softhsm))
    assert proc.returncode == 2 and "--yes" in one_error_line(proc)
    proc = run_tcr(["card", "wipe", *sel, "--yes"], stdin="card-pin-3\n", env=_env(softhsm))
    assert proc.returncode == 0, proc.stderr
    assert Pkcs11Card(MODULE, token_label=label).status().state == "blank"


def test_cli_enrol_refuses_to_overwrite_a_record(
    new_token: NewToken, softhsm: SoftHsm, tmp_path: Path
) -> None:
    label, _ = new_token()
    (tmp_path / "share").write_bytes(b"opaque")
    record = tmp_path / "rec.json"
    record.write_text("{}")
    proc = run_tcr(
        ["card", "enrol", "--pkcs11-module", MODULE, "--token-label", label, "--share",
         str(tmp_path / "share"), "--tcr-name", "A", "--tcr-id", "a", "--record", str(record)],
        stdin=f"{TRANSPORT_PIN}\npin-pin-pin\npin-pin-pin\n", env=_env(softhsm),
    )  # fmt: skip
    assert proc.returncode == 1
    assert "already exists" in one_error_line(proc)
    assert record.read_text() == "{}"
    assert Pkcs11Card(MODULE, token_label=label).status().state == "blank"


def test_cli_rotate_in_one_step(new_token: NewToken, softhsm: SoftHsm, tmp_path: Path) -> None:
    old_label, _ = new_token()
    new_label, _ = new_token()
    rec = _enrol(old_label, b"rotating share", tmp_path, 1)
    proc = run_tcr(
        ["card", "rotate", "--pkcs11-module", MODULE, "--old-token-label", old_label,
         "--new-token-label", new_label, "--record", str(tmp_path / "record-1.json"),
         "--new-record", str(tmp_path / "new.json"), "--yes", "--json"],
        stdin=f"tcr-pin-1\n{TRANSPORT_PIN}\nnext-pin-1\nnext-pin-1\n", env=_env(softhsm),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    new_rec = load_record(tmp_path / "new.json")
    assert new_rec.share == rec.share and new_rec.card.label == new_label
    assert Pkcs11Card(MODULE, token_label=old_label).status().state == "blank"


def test_cli_wrong_card_exit_3_one_line(
    new_token: NewToken, softhsm: SoftHsm, tmp_path: Path
) -> None:
    a, _ = new_token()
    b, _ = new_token()
    _enrol(a, b"share a", tmp_path, 1)
    _enrol(b, b"share b", tmp_path, 2)
    proc = run_tcr(
        ["card", "check", "--pkcs11-module", MODULE, "--token-label", b,
         "--record", str(tmp_path / "record-1.json")],
        env=_env(softhsm),
    )  # fmt: skip
    assert proc.returncode == 3
    line = one_error_line(proc)
    assert "wrong card" in line and "tcr-1" in line


def test_cli_world_readable_pin_file_exit_1(
    new_token: NewToken, softhsm: SoftHsm, tmp_path: Path
) -> None:
    label, _ = new_token()
    _enrol(label, b"s", tmp_path, 1)
    pin_file = tmp_path / "pin"
    pin_file.write_text("tcr-pin-1\n")
    pin_file.chmod(0o644)
    args = ["card", "check", "--pkcs11-module", MODULE, "--token-label", label, "--pin-file"]
    proc = run_tcr([*args, str(pin_file)], env=_env(softhsm))
    assert proc.returncode == 1
    assert "chmod 600" in one_error_line(proc)
    pin_file.chmod(0o600)
    proc = run_tcr([*args, str(pin_file), "--json"], env=_env(softhsm))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["share_intact"] is True


def test_cli_bad_module_path_and_missing_token_exit_1(softhsm: SoftHsm, tmp_path: Path) -> None:
    proc = run_tcr(
        ["card", "check", "--pkcs11-module", str(tmp_path / "nope.so"), "--token-label", "x"]
    )
    assert proc.returncode == 1 and "no such file" in one_error_line(proc)
    not_a_module = tmp_path / "fake.so"
    not_a_module.write_bytes(b"not an ELF")
    proc = run_tcr(["card", "check", "--pkcs11-module", str(not_a_module), "--token-label", "x"])
    assert proc.returncode == 1 and "cannot be loaded" in one_error_line(proc)
    proc = run_tcr(
        ["card", "check", "--pkcs11-module", MODULE, "--token-label", "no-such-token"],
        env=_env(softhsm),
    )
    assert proc.returncode == 1 and "no PKCS#11 token" in one_error_line(proc)


def test_cli_pin_never_taken_from_argv(softhsm: SoftHsm) -> None:
    proc = run_tcr(["card", "check", "--pin", "123456"])
    assert proc.returncode == 2


def test_cli_pin_prompt_on_a_terminal_is_hidden(
    new_token: NewToken, softhsm: SoftHsm, tmp_path: Path
) -> None:
    import pty
    import select
    import sys
    import time

    from tests.integration.conftest import ROOT

    label, _ = new_token()
    _enrol(label, b"terminal share", tmp_path, 1, new_pin="typed-pin-9")
    pid, fd = pty.fork()
    if pid == 0:  # the child: tcr on a real terminal
        try:
            os.chdir(ROOT)
            os.environ.update(PYTHONPATH=str(ROOT), SOFTHSM2_CONF=str(softhsm.conf))
            os.execv(  # noqa: S606 - a fixed argv, no shell
                sys.executable,
                [sys.executable, "-m", "tcr_cli.main", "card", "check", "--pkcs11-module", MODULE,
                 "--token-label", label, "--with-pin"],
            )  # fmt: skip
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + 30
    sent = False
    status = None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            out += chunk
        if not sent and b"PIN:" in out:
            os.write(fd, b"typed-pin-9\n")
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert sent, out
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert b"share intact" in out
    assert b"typed-pin-9" not in out  # never echoed


def test_card_check_of_a_token_imports_pkcs11_but_no_pydantic_or_cipher_library(
    new_token: NewToken, softhsm: SoftHsm, tmp_path: Path
) -> None:
    label, _serial = new_token("TCR")
    _enrol(label, split_bytes(b"start-up", 2, 3)[0].encode_compact(), tmp_path, 1)
    argv = ["card", "check", "--pkcs11-module", MODULE, "--token-label", label,
            "--record", str(tmp_path / "record-1.json"), "--quiet"]  # fmt: skip
    probe = (
        "import sys\nfrom tcr_cli.main import main\n"
        f"sys.argv = ['tcr', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    loaded = set(ast.literal_eval(proc.stdout.splitlines()[-1]))
    assert "pkcs11" in loaded  # the token's middleware, which the check uses
    assert not loaded & {"pydantic", "smartcard", "numpy", "Crypto", "cryptography", "nacl"}
