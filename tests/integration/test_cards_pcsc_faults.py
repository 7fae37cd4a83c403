"""Fault injection at every APDU of every card command on the PC/SC backend (issue 11, item 3).

Each command (check with the PIN, enrol, wipe, change-pin, unblock, rotate) first runs
once without a fault, the card logging every command APDU it receives; then it runs again
from the same card state (the virtual card's state file is restored) with a fault at the
n-th APDU, for each n:

- ``drop``: the card leaves the reader before executing the command (card pulled);
- ``pull``: the card executes the command, then leaves without answering (pulled after the
  change was made, before the answer: the case where a wrong report does harm);
- ``sw``: the card answers 6F00 without executing the command (a wrong status word).

A vanished reader looks the same to tcr as a vanished card (the transmit fails), so
``drop`` and ``pull`` cover it. The reported outcome is then checked against the card's
state file: exit 0 only if the command's effect is all there; a plain failure (one line,
exit 1) only if the card is unchanged (the scratch pending PIN slot aside); otherwise the
message must say the outcome is unknown ("the PIN may have changed: try the new PIN first",
"the outcome is unknown", ...), and then what it says to do next must work.

CI runs a spread of fault points (every kind at every APDU that changes the card, a few
others); ``TCR_FAULT_EVERY_APDU=1`` runs every kind at every APDU (minutes).
``TCR_FAULT_PROGRESS=FILE`` appends one line per judged fault run to FILE (a long sweep
stopped before its end then says exactly which faults were checked).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.cards.enrol import check_card, enrol
from tcr_kit.cards.errors import CardError
from tcr_kit.cards.pcsc_backend import SLOT_LEN, SLOT_PENDING, PcscCard, _slot_offset
from tcr_kit.cards.record import TcrRef, load_record
from tcr_kit.errors import TcrError
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.native import NativeShare, split_bytes
from tests import cli_runner
from tests.fixtures.stack import PUK, TRANSPORT_PIN, VPCD_PORTS, StackMissing, VirtualCard
from tests.integration.conftest import hold_readers, run_tcr

pytestmark = pytest.mark.integration

KINDS = ("drop", "pull", "sw")
EVERY = os.environ.get("TCR_FAULT_EVERY_APDU") == "1"
PROGRESS = os.environ.get("TCR_FAULT_PROGRESS", "")
CI_POINTS = 3
"""Faults per command in CI (a few seconds each: a card insertion and scrypt per run)."""
CHANGING = {"D6", "24", "2C"}  # UPDATE BINARY, CHANGE REFERENCE DATA, RESET RETRY COUNTER
UNKNOWN = ("the outcome is unknown", "may have changed", "the PIN has changed", "may not be wiped")
PIN, NEW_PIN = "bea-pin-5", "next-pin-5"


def tcr(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    """``tcr`` in this process: the same entry point, exit codes and output, without the
    start-up of a child (the sweep runs the commands hundreds of times)."""
    return cli_runner.run_tcr(*args, input=stdin, in_process=True)


def pin(value: str) -> SecretBuffer:
    return SecretBuffer(bytearray(value.encode()))


def padded(value: str) -> str:
    return (value.encode() + b"\xff" * (16 - len(value))).hex()


def load(card: VirtualCard) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(card.state.read_text())
    return state


def view(state: dict[str, Any]) -> tuple[object, ...]:
    """What a plain failure must leave as it was: PIN, PUK and files, except the retry
    counters and the pending PIN slot (scratch space written before a PIN change)."""
    files = dict(state["files"])
    key = bytearray.fromhex(files["0103"])
    at = _slot_offset(SLOT_PENDING)
    key[at : at + SLOT_LEN] = bytes(SLOT_LEN)
    files["0103"] = key.hex()
    return state["pin"], state["puk"], tuple(sorted(files.items()))


def wiped(state: dict[str, Any]) -> bool:
    files = state["files"]
    return all(not any(bytes.fromhex(files[fid])) for fid in ("0102", "0103", "0104"))


def committed(state: dict[str, Any]) -> bool:
    return bytes.fromhex(state["files"]["0102"])[0] == 0x02


@dataclass
class Bench:
    """Two virtual cards in the two vpcd readers, their saved states, and a scratch folder."""

    old: VirtualCard
    new: VirtualCard
    readers: list[str]
    tmp: Path
    share: Path

    def insert(self, card: VirtualCard, fault: str | None = None, log: Path | None = None) -> None:
        slot = 0 if card is self.old else 1
        for attempt in range(3):
            try:
                card.insert(self.readers[slot], VPCD_PORTS[slot], fault=fault, log=log)
                return
            except StackMissing:
                # After a card left mid-command, vpcd sometimes takes a while to accept the
                # next one (more so on a busy machine): that is the test bench, not tcr.
                if attempt == 2:
                    raise
                time.sleep(1)

    def restore(self, card: VirtualCard, state: dict[str, Any]) -> None:
        card.state.write_text(json.dumps(state))

    def readable(self, record: Path, value: str, card: VirtualCard | None = None) -> bool:
        """Whether the share on the card opens with PIN ``value`` and matches ``record``."""
        card = card or self.old
        self.insert(card)
        try:
            c = PcscCard(card.reader)
            try:
                return bool(check_card(c, record=load_record(record), pin=pin(value)).share_intact)
            finally:
                c.close()
        except (CardError, TcrError):
            return False
        finally:
            card.remove()


@dataclass(frozen=True)
class Command:
    """One card command, the card(s) it runs on, and how to judge its outcome."""

    name: str
    args: Callable[[Bench], list[str]]
    stdin: str
    judge: Callable[[Bench, subprocess.CompletedProcess[str], dict[str, Any]], None]
    two_cards: bool = False


def _record(b: Bench) -> Path:
    return b.tmp / "record.json"


def _new_record(b: Bench) -> Path:
    return b.tmp / "new-record.json"


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one error line a failed command ends with (what it showed before may precede it,
    as ``wipe`` shows the card it is about to wipe); never a traceback."""
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), proc.stderr
    assert sum(line.startswith("error: ") for line in lines) == 1, proc.stderr
    return lines[-1]


def _plain_failure(b: Bench, proc: subprocess.CompletedProcess[str], pre: dict[str, Any]) -> bool:
    """Judge the common part; True when the failure is a plain one (not 'unknown')."""
    line = error_line(proc)
    assert proc.returncode == 1, proc.stderr
    if any(phrase in line for phrase in UNKNOWN):
        assert "nothing was committed" not in line
        return False
    assert view(load(b.old)) == view(pre), f"plain failure but the card changed: {line}"
    return True


def judge_check(b: Bench, proc: subprocess.CompletedProcess[str], pre: dict[str, Any]) -> None:
    assert view(load(b.old)) == view(pre)  # reading never changes the card
    if proc.returncode != 0:
        assert _plain_failure(b, proc, pre)  # nothing was changed: never "unknown"
    else:
        assert "share intact" in proc.stdout


def judge_change_pin(b: Bench, proc: subprocess.CompletedProcess[str], pre: dict[str, Any]) -> None:
    post = load(b.old)
    if proc.returncode == 0:
        assert post["pin"] == padded(NEW_PIN) and b.readable(_record(b), NEW_PIN)
        return
    if _plain_failure(b, proc, pre):
        assert b.readable(_record(b), PIN)
        return
    line = error_line(proc)
    if "the PIN has changed" in line:
        assert post["pin"] == padded(NEW_PIN)
    # Whichever PIN the card now has (the message said to try the new one first), the share
    # opens with it: an interrupted change never leaves a share no PIN opens.
    now = NEW_PIN if post["pin"] == padded(NEW_PIN) else PIN
    assert post["pin"] == padded(now) and b.readable(_record(b), now)


def judge_unblock(b: Bench, proc: subprocess.CompletedProcess[str], pre: dict[str, Any]) -> None:
    if proc.returncode == 0:
        assert load(b.old)["pin"] == padded(NEW_PIN) and b.readable(_record(b), NEW_PIN)
        return
    if _plain_failure(b, proc, pre):
        assert b.readable(_record(b), PIN)
        return
    assert "may have changed" in error_line(proc)
    b.insert(b.old)  # what the message says: run the unblock again
    try:
        again = tcr(UNBLOCK.args(b), stdin=UNBLOCK.stdin)
    finally:
        b.old.remove()
    assert again.returncode == 0, again.stderr
    assert b.readable(_record(b), NEW_PIN)


def judge_wipe(b: Bench, proc: subprocess.CompletedProcess[str], pre: dict[str, Any]) -> None:
    if proc.returncode == 0:
        assert wiped(load(b.old))
        return
    if _plain_failure(b, proc, pre):
        assert b.readable(_record(b), PIN)
        return
    assert "wipe the card again" in error_line(proc)
    if not wiped(load(b.old)):  # what the message says: wipe it again
        b.insert(b.old)
        try:
            again = tcr(WIPE.args(b), stdin=WIPE.stdin)
        finally:
            b.old.remove()
        assert again.returncode == 0, again.stderr
    assert wiped(load(b.old))


def judge_enrol(b: Bench, proc: subprocess.CompletedProcess[str], pre: dict[str, Any]) -> None:
    record = _record(b)
    if proc.returncode == 0:
        assert committed(load(b.old)) and b.readable(record, PIN)
        return
    if _plain_failure(b, proc, pre):
        assert not record.exists()
        return
    # What the message says: run the enrolment again, the new PIN as the current one if
    # the PIN may have changed (try it first).
    current = PIN if load(b.old)["pin"] == padded(PIN) else TRANSPORT_PIN
    b.insert(b.old)
    try:
        again = tcr(ENROL.args(b), stdin=f"{current}\n{PIN}\n{PIN}\n{PUK}\n")
    finally:
        b.old.remove()
    assert again.returncode == 0, again.stderr
    assert committed(load(b.old)) and b.readable(record, PIN)


def judge_rotate(b: Bench, proc: subprocess.CompletedProcess[str], pre: dict[str, Any]) -> None:
    new_record = _new_record(b)
    if proc.returncode == 0:
        assert wiped(load(b.old)) and b.readable(new_record, NEW_PIN, b.new)
        return
    line = error_line(proc)
    assert proc.returncode == 1, proc.stderr
    if new_record.exists():
        # The new card is done and recorded: the message must say so, and the old card
        # may or may not be wiped. The share is never lost.
        assert "The new card is enrolled" in line
        assert b.readable(new_record, NEW_PIN, b.new)
    else:
        # The old card still holds the share, untouched.
        assert "may not be wiped" not in line
        assert view(load(b.old)) == view(pre) and b.readable(_record(b), PIN)


CHECK = Command(
    "check",
    lambda b: [
        "card",
        "check",
        "--reader",
        b.readers[0],
        "--record",
        str(_record(b)),
        "--with-pin",
    ],
    f"{PIN}\n",
    judge_check,
)
CHANGE_PIN = Command(
    "change-pin",
    lambda b: ["card", "change-pin", "--reader", b.readers[0]],
    f"{PIN}\n{NEW_PIN}\n{NEW_PIN}\n",
    judge_change_pin,
)
UNBLOCK = Command(
    "unblock",
    lambda b: ["card", "unblock", "--reader", b.readers[0]],
    f"{PUK}\n{NEW_PIN}\n{NEW_PIN}\n",
    judge_unblock,
)
WIPE = Command(
    "wipe",
    lambda b: ["card", "wipe", "--reader", b.readers[0], "--yes", "-q"],
    f"{PIN}\n",
    judge_wipe,
)
ENROL = Command(
    "enrol",
    lambda b: [
        "card",
        "enrol",
        "--reader",
        b.readers[0],
        "--share",
        str(b.share),
        "--tcr-name",
        "Bea",
        "--tcr-id",
        "tcr-5",
        "--record",
        str(_record(b)),
        "-q",
    ],
    f"{TRANSPORT_PIN}\n{PIN}\n{PIN}\n{PUK}\n",
    judge_enrol,
)
ROTATE = Command(
    "rotate",
    lambda b: [
        "card",
        "rotate",
        "--old-reader",
        b.readers[0],
        "--new-reader",
        b.readers[1],
        "--record",
        str(_record(b)),
        "--new-record",
        str(_new_record(b)),
        "--yes",
        "-q",
    ],
    f"{PIN}\n{TRANSPORT_PIN}\n{NEW_PIN}\n{NEW_PIN}\n{PUK}\n",
    judge_rotate,
    two_cards=True,
)
COMMANDS = (CHECK, CHANGE_PIN, UNBLOCK, WIPE, ENROL, ROTATE)


def _points(ins: list[str], budget: int) -> list[tuple[str, int]]:
    """The faults to inject, (kind, n) with n counted from 1. With TCR_FAULT_EVERY_APDU=1
    every kind at every APDU. Else (CI) at most ``budget``: the kinds in turn at the APDUs
    that change the card, and at the first and the last APDU, evenly thinned."""
    if EVERY:
        return [(kind, n) for n in range(1, len(ins) + 1) for kind in KINDS]
    chosen = [n for n, code in enumerate(ins, start=1) if code in CHANGING]
    chosen = sorted({1, *chosen, len(ins)})
    if len(chosen) > budget:
        step = (len(chosen) - 1) / max(1, budget - 1)
        chosen = sorted({chosen[round(i * step)] for i in range(budget)})
    return [(KINDS[i % len(KINDS)], n) for i, n in enumerate(chosen)]


@contextmanager
def readers_turn() -> Iterator[None]:
    """The machine-wide lock on the two virtual readers, for one run and its judgement
    only: a long sweep lets test runs of other worktrees take their turns in between."""
    with hold_readers():
        yield
    # Let a waiting run (it polls every 0.2 s) take its turn before the sweep's next run.
    time.sleep(0.3)


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_a_fault_at_any_apdu_never_gives_a_wrong_outcome(
    readers: list[str], tmp_path: Path, command: Command
) -> None:
    share = split_bytes(b"fault injection share", 2, 3, label="faults")[1]
    share_file = tmp_path / "share.txt"
    share_file.write_text(share.encode_text())
    old, new = VirtualCard(tmp_path, "00000000000000F1"), VirtualCard(tmp_path, "00000000000000F2")
    b = Bench(old, new, readers, tmp_path, share_file)
    try:
        _sweep(b, command, share)
    finally:
        old.remove()
        new.remove()


def _sweep(b: Bench, command: Command, share: NativeShare) -> None:
    blank = load(b.new)
    if command is not ENROL:  # every other command starts from an enrolled card
        with readers_turn():
            b.insert(b.old)
            try:
                c = PcscCard(b.old.reader)
                try:
                    enrol(c, share.encode_compact(), tcr=TcrRef(name="Bea", id="tcr-5"),
                          current_pin=pin(TRANSPORT_PIN), new_pin=pin(PIN), puk=pin(PUK),
                          record_path=_record(b))  # fmt: skip
                finally:
                    c.close()
            finally:
                b.old.remove()
    pre = load(b.old)
    pre_record = _record(b).read_bytes() if _record(b).exists() else None
    cards = (b.old, b.new) if command.two_cards else (b.old,)

    def run(at: VirtualCard, fault: str | None, log: Path | None = None) -> Any:
        """Restore both cards and the files, insert, run the command once, pull."""
        b.restore(b.old, pre)
        b.restore(b.new, blank)
        _new_record(b).unlink(missing_ok=True)
        _record(b).unlink(missing_ok=True)
        if pre_record is not None:
            _record(b).write_bytes(pre_record)
        try:
            for card in cards:
                b.insert(card, fault if card is at else None, log if card is at else None)
            if log is not None:  # the clean runs: a real process, as a user runs it
                return run_tcr(command.args(b), stdin=command.stdin)
            return tcr(command.args(b), command.stdin)
        finally:
            for card in cards:
                card.remove()

    # Fault-free runs: they succeed, and each card logs the APDUs it receives.
    targets: list[tuple[VirtualCard, str, int]] = []
    for card in cards:
        log = b.tmp / f"apdus-{card.serial}.log"
        with readers_turn():
            clean = run(card, None, log)
            assert clean.returncode == 0, clean.stderr
            command.judge(b, clean, pre)
        ins = log.read_text().split()
        assert ins, "the card logged no command"
        budget = -(-CI_POINTS // len(cards))  # CI: the command's points shared by its cards
        targets += [(card, kind, n) for kind, n in _points(ins, budget)]
    for card, kind, n in targets:
        which = "old" if card is b.old else "new"
        with readers_turn():
            proc = run(card, f"{kind}:{n}")
            try:
                command.judge(b, proc, pre)
            except AssertionError as exc:
                got = f"exit {proc.returncode}, {proc.stderr!r}"
                where = f"{command.name}: {kind} at APDU {n} of the {which} card"
                raise AssertionError(f"{where}: {got}: {exc}") from None
        if PROGRESS:
            with open(PROGRESS, "a", encoding="utf-8") as out:
                stamp = time.strftime("%H:%M:%S", time.gmtime())
                said = error_line(proc) if proc.returncode else "ok"
                out.write(f"{stamp} {command.name} {kind}:{n} {which} card (of {len(targets)} "
                          f"faults): exit {proc.returncode}, judged right: {said}\n")  # fmt: skip
