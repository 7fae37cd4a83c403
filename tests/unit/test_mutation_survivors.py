"""Tests written for mutants that survived the mutation run (scripts/mutation.sh; the scores
and the reasons for the survivors left are in docs/threat-model.md, "Mutation testing").

Each test pins down a rule whose boundary or message no other test checked: the new-PIN
rules of the card layer, what the PIN status says, the custody witness rules and what a
refused transition names; in audit verification, a bad signature on its own (serial
checker) and before a chain break, the expected head, hashes that are not text, edited
checkpoints; in fileio, exact refusals, ``force`` onto new names, a live writer left alone;
in the native header, what unknown flags and a crafted label say, the payload offset,
the longest label and a CRC with its top bit set read from a file, a short head.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import stat
import struct
import subprocess
import time
import zlib
from pathlib import Path
from typing import cast

import pytest

from tcr_kit.audit.canonical import canonical_bytes, parse_canonical
from tcr_kit.audit.chain import AuditIntegrityError, AuditLog, StoredCheckpoint, ensure_schema
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.audit.verify import verify_log
from tcr_kit.cards.base import MAX_PIN_LENGTH, MIN_PIN_LENGTH, PinStatus, check_new_pin
from tcr_kit.cards.errors import BadPin
from tcr_kit.custody.lifecycle import (
    BagAction,
    BagState,
    CredentialAction,
    CredentialState,
    TransitionRefused,
    WitnessRequired,
    bag_transition,
    credential_transition,
)
from tcr_kit.errors import FileExistsRefused
from tcr_kit.fileio import (
    NotRegularFileRefused,
    atomic_output,
    atomic_outputs,
    remove_stale_partials,
)
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.errors import ShareError
from tcr_kit.sharing.native import decode_share, open_share_file, split_bytes
from tcr_kit.sharing.native_header import (
    FIXED_HEAD,
    KEY_SIZE,
    MAGIC,
    MAX_LABEL_BYTES,
    parse_head,
    validate_label,
)


def _pin(raw: bytes) -> SecretBuffer:
    return SecretBuffer(bytearray(raw))


def test_a_new_pin_of_exactly_the_longest_length_is_accepted_and_one_more_is_not() -> None:
    check_new_pin(_pin(b"7" * MAX_PIN_LENGTH))
    check_new_pin(_pin(b"7" * MIN_PIN_LENGTH))
    for length in (MIN_PIN_LENGTH - 1, MAX_PIN_LENGTH + 1):
        with pytest.raises(BadPin, match=f"a PIN has {MIN_PIN_LENGTH} to {MAX_PIN_LENGTH} "):
            check_new_pin(_pin(b"7" * length))


def test_a_new_pin_may_use_every_printable_ascii_character_and_nothing_else() -> None:
    check_new_pin(_pin(b"a b c ~"))  # space (0x20) and tilde (0x7E) are the bounds
    for bad in (b"abc\x1fdef", b"abc\x7fdef", b"abc\x80def", b"abc\ndef"):
        with pytest.raises(BadPin, match=r"^a PIN uses printable ASCII characters only$"):
            check_new_pin(_pin(bad))


def test_a_pin_status_without_a_count_says_when_a_wrong_pin_was_entered() -> None:
    assert PinStatus(tries_left=None).describe() == "unknown (token does not report tries)"
    assert PinStatus(tries_left=None, count_low=True).describe() == (
        "unknown (token does not report tries), count low (a wrong PIN was entered)"
    )


def test_a_witness_who_is_the_actor_is_refused_even_where_no_witness_is_needed() -> None:
    assert bag_transition("B-1", BagState.SEALED, BagAction.STORE, "ann", None) == "stored"
    assert bag_transition("B-1", BagState.SEALED, BagAction.STORE, "ann", "bob") == "stored"
    with pytest.raises(
        WitnessRequired, match=r"^bag B-1: the witness cannot be the actor \(ann\)$"
    ):
        bag_transition("B-1", BagState.SEALED, BagAction.STORE, "ann", "ann")


def test_a_missing_or_self_witness_is_refused_naming_the_object_action_and_actor() -> None:
    with pytest.raises(WitnessRequired) as missing:
        bag_transition("B-2", BagState.INSPECTED, BagAction.OPEN, "ann", None)
    assert str(missing.value) == "bag B-2: 'open' needs a witness (someone other than ann)"
    with pytest.raises(WitnessRequired) as self_witness:
        bag_transition("B-2", BagState.INSPECTED, BagAction.OPEN, "ann", "ann")
    assert str(self_witness.value) == "bag B-2: the witness of 'open' cannot be the actor (ann)"
    with pytest.raises(WitnessRequired) as cred:
        credential_transition("c-9", CredentialState.RETIRED, CredentialAction.DESTROY, "ann", None)
    assert str(cred.value) == "credential c-9: 'destroy' needs a witness (someone other than ann)"


def test_a_refused_transition_lists_exactly_the_actions_allowed_from_that_state() -> None:
    with pytest.raises(TransitionRefused) as refused:
        bag_transition("B-3", BagState.IN_TRANSIT, BagAction.OPEN, "ann", "bob")
    assert str(refused.value) == "bag B-3 is in-transit: cannot open (allowed: lose, receive)"
    with pytest.raises(TransitionRefused) as final:
        bag_transition("B-3", BagState.DESTROYED, BagAction.LOSE, "ann", None)
    assert str(final.value) == "bag B-3 is destroyed: cannot lose (allowed: nothing)"


ADMIN = SoftwareEd25519Signer.generate()
CA = SoftwareEd25519Signer.generate()


def _log(n: int = 5) -> tuple[sqlite3.Connection, AuditLog]:
    conn = sqlite3.connect(":memory:")
    ensure_schema(conn)
    log = AuditLog(conn)
    log.register_key(ADMIN, "admin", ADMIN.public_key_bytes(), "admin")
    log.register_key(ADMIN, "admin", CA.public_key_bytes(), "ca-1")
    for i in range(n):
        log.append(CA, "ca-1", "test.step", {"i": i})
    return conn, log


def _swap_signature(conn: sqlite3.Connection, seq: int, from_seq: int) -> None:
    """Give event ``seq`` the (valid, well-formed) signature of event ``from_seq``."""
    conn.execute(
        "UPDATE audit_event SET signature = (SELECT signature FROM audit_event WHERE seq = ?)"
        " WHERE seq = ?",
        (from_seq, seq),
    )


def test_a_bad_signature_alone_is_found_by_the_serial_checker() -> None:
    conn, log = _log()
    _swap_signature(conn, 4, 5)
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(log.events(), log.checkpoints(), workers=1)
    assert info.value.seq == 4
    assert info.value.reason.startswith("signature does not verify")


def test_a_bad_signature_before_a_chain_break_is_the_one_reported() -> None:
    conn, log = _log()
    _swap_signature(conn, 3, 4)
    conn.execute("UPDATE audit_event SET hash = ? WHERE seq = 6", ("00" * 32,))
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(log.events(), log.checkpoints(), workers=1)
    assert info.value.seq == 3 and info.value.reason.startswith("signature does not verify")


def test_an_edited_body_is_named_as_content_not_matching_its_hash() -> None:
    conn, log = _log()
    conn.execute("UPDATE audit_event SET hash = ? WHERE seq = 5", ("ab" * 32,))
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(log.events(), log.checkpoints(), workers=1)
    assert info.value.seq == 5
    assert info.value.reason == "content does not match its recorded hash (edited?)"


def test_a_recorded_hash_that_is_not_text_is_an_integrity_error_not_a_crash() -> None:
    # SQLite's TEXT affinity turns a number into text; other readers of a log may not.
    _conn, log = _log()
    events = list(log.events())
    events[1] = dataclasses.replace(events[1], hash=cast(str, 12345))
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(events, workers=1)
    assert info.value.seq == 2 and "not hex" in info.value.reason


def test_the_expected_head_is_compared_in_any_letter_case_and_a_different_one_refused() -> None:
    _conn, log = _log()
    head = verify_log(log.events(), workers=1).head
    assert verify_log(log.events(), expect_head=head.upper(), workers=1).head == head
    other = ("0" if head[0] != "0" else "1") + head[1:]
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(log.events(), expect_head=other, workers=1)
    assert f"head {head} is not the expected {other}" in info.value.reason


def _checkpointed() -> tuple[AuditLog, StoredCheckpoint]:
    _conn, log = _log()
    log.checkpoint(CA)
    (cp,) = log.checkpoints()
    return log, cp


def _edited(cp: StoredCheckpoint, **fields: object) -> StoredCheckpoint:
    body = parse_canonical(cp.body)
    body.update(fields)
    return dataclasses.replace(cp, body=canonical_bytes(body))


def test_a_checkpoint_beyond_a_truncated_log_names_itself_and_where_the_log_ends() -> None:
    log, cp = _checkpointed()
    events = list(log.events())[:3]
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(events, [cp], workers=1)
    assert info.value.seq == cp.seq and info.value.what == "checkpoint at event"
    assert str(info.value) == (
        f"audit log: checkpoint at event {cp.seq}: covers event {cp.seq} but the log ends at 3"
        " (truncated?)"
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"v": 2}, "malformed checkpoint"),
        ({"seq": 3}, "malformed checkpoint"),
        ({"head": 5}, "malformed checkpoint"),
        ({"key_id": "ed25519:" + "00" * 8}, "not registered at that point"),
    ],
    ids=["version", "seq", "head-not-text", "unknown-key"],
)
def test_an_edited_checkpoint_body_is_refused_before_its_signature_is_checked(
    fields: dict[str, object], reason: str
) -> None:
    log, cp = _checkpointed()
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(log.events(), [_edited(cp, **fields)], workers=1)
    assert info.value.seq == cp.seq and info.value.what == "checkpoint at event"
    assert reason in info.value.reason


def test_a_refused_replacement_says_exactly_which_file_and_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    targets = {"a FIFO": fifo, "a symbolic link": link}
    if os.geteuid() == 0:
        targets["a device"] = tmp_path / "null"
        os.mknod(targets["a device"], 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    for what, target in targets.items():
        with pytest.raises(NotRegularFileRefused) as info, atomic_output(target, force=True):
            pass
        assert info.value.path == str(target)
        assert str(info.value) == f"{target}: is {what}, not a regular file; refusing to replace it"
    existing = tmp_path / "existing"
    existing.write_bytes(b"old")
    with pytest.raises(FileExistsRefused) as refused, atomic_output(existing):
        pass
    assert str(existing) in str(refused.value)


def test_force_creates_outputs_that_do_not_exist_yet(tmp_path: Path) -> None:
    paths = [tmp_path / "a", tmp_path / "b"]
    paths[0].write_bytes(b"old a")
    with atomic_outputs(paths, force=True) as handles:
        for handle, data in zip(handles, (b"new a", b"new b"), strict=True):
            handle.write(data)
    assert [p.read_bytes() for p in paths] == [b"new a", b"new b"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_live_writers_temporary_is_kept_and_the_writer_is_left_alone(tmp_path: Path) -> None:
    """Finding out whether the writer lives must not signal it (signal 0 only)."""
    # SIGHUP at its default action even under nohup (the mutation runner's own setting).
    writer = subprocess.Popen(
        ["sleep", "60"], preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL)
    )
    try:
        partial = tmp_path / f".out.tcr-{writer.pid}-0123456789ab.partial"
        partial.write_bytes(b"still being written")
        then = time.time() - 3600
        os.utime(partial, (then, then))
        assert remove_stale_partials(tmp_path) == []
        assert partial.exists()
        # Signals pending together are taken lowest number first: had the scan sent any
        # (SIGHUP is 1), the writer would end by it and not by this SIGTERM.
        writer.terminate()
        assert writer.wait() == -signal.SIGTERM
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


def test_a_share_label_may_have_exactly_the_most_bytes_and_no_control_character() -> None:
    assert validate_label("é" * 127 + "x") == "é" * 127 + "x"  # 255 UTF-8 bytes
    with pytest.raises(ValueError, match="longer than 255 UTF-8 bytes"):
        validate_label("é" * 128)  # 256
    for bad in ("line\nbreak", "tab\there", "nul\x00", "delete\x7f", "\x1f"):
        with pytest.raises(ValueError, match="control characters"):
            validate_label(bad)
    assert validate_label("\x80 and ~ are not control characters here") is not None


def _with_crc(body: bytes | bytearray) -> bytes:
    """A compact share of ``body`` (its last four bytes replaced by a matching CRC-32)."""
    return MAGIC + bytes(body[:-4]) + struct.pack(">I", zlib.crc32(bytes(body[:-4])))


def test_a_header_names_its_source_for_unknown_flags_and_a_control_character_in_its_label() -> None:
    body = bytearray(split_bytes(b"k", 2, 3, label="ab")[0].body())
    body[1] = 0x40
    with pytest.raises(ShareError) as flags:
        decode_share(_with_crc(body), "s.bin")
    assert str(flags.value) == "s.bin: unknown flags 0x40"
    body[1] = 0
    body[FIXED_HEAD + 1] = ord("\n")  # "a\n": only a crafted share gets past CRC and tag
    with pytest.raises(ShareError) as label:
        decode_share(_with_crc(body), "s.bin")
    assert str(label.value) == "s.bin: invalid label"


def test_the_payload_starts_after_the_label_and_the_key_share() -> None:
    share = split_bytes(b"secret", 2, 3, label="five!")[0]
    header, offset = parse_head(share.body(), "s")
    assert offset == FIXED_HEAD + 5 + KEY_SIZE
    assert header.label == "five!" and header.kshare == share.header.kshare


def test_compact_share_files_open_at_the_longest_label_and_any_crc(tmp_path: Path) -> None:
    # The longest label fills exactly the head that open_share_file reads; a CRC with its
    # top bit set is an unsigned 32-bit number.
    for _ in range(64):  # each try has a 3 in 4 chance
        shares = split_bytes(b"secret", 2, 2, label="L" * MAX_LABEL_BYTES)
        if any(s.header.crc >= 1 << 31 for s in shares):
            break
    assert any(s.header.crc >= 1 << 31 for s in shares)
    for share in shares:
        path = tmp_path / f"s{share.index}.bin"
        path.write_bytes(share.encode_compact())
        opened = open_share_file(path)
        assert opened.label == "L" * MAX_LABEL_BYTES and opened.crc_ok()
        assert opened.header.crc == share.header.crc


def test_a_share_file_shorter_than_its_label_and_key_share_is_truncated(tmp_path: Path) -> None:
    head = bytes([1, 0]) + bytes(8) + bytes([2, 3, 1, 40])  # label of 40 bytes announced
    path = tmp_path / "short.bin"
    path.write_bytes(MAGIC + head + bytes(46))  # 60 bytes of body: no room for label + key
    with pytest.raises(ShareError) as short:
        open_share_file(path)
    assert str(short.value) == f"{path}: truncated share (header incomplete)"
