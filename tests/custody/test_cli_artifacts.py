# ruff: noqa: F811  (the tcr fixture is imported from the remote scenario tests)
"""Pre-signed artifacts released in tranches, through the ``tcr`` command line: the
nine-month scenario (three quarterly tranches on one drive), the custody refusals, policy
refusals (exit 5), rows tampered with behind the tool's back (exit 3), and
``tcr artifact check`` from the ledger and offline from a transcript."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tcr_kit.clock import set_clock

from .test_cli_remote_scenario import CA, Tcr, tcr  # noqa: F401 (fixture)

IW = ("--as", "iw-1", "--key", "iw.pem")
SA = ("--as", "sa-1", "--key", "sa.pem")
WITNESS_KEYS = {"iw-1": "iw.pem", "sa-1": "sa.pem", "ca-1": "ca.pem", "tcr-3": "tcr3.pem"}
FILES = {"Q1.xml": b"<skr q1/>\n", "Q2a.xml": b"<skr q2 part a/>\n", "Q2b.xml": b"<skr q2 b/>\n"}
FILES["Q3.xml"] = b"<skr q3/>\n" * 100


def _witness(person: str) -> tuple[str, ...]:
    """``--witness PERSON`` with the key the witness co-signs with (rule witness-cosign)."""
    return ("--witness", person, "--witness-key", WITNESS_KEYS[person])


class Clock:
    """The one clock (tcr_kit.clock), set by the test: commands run in this process."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, tzinfo=UTC)
        set_clock(lambda: self.now)

    def at(self, text: str) -> None:
        when = datetime.fromisoformat(text).replace(tzinfo=UTC)
        assert when >= self.now, "the clock only moves forward"
        self.now = when


@pytest.fixture
def clock() -> Iterator[Clock]:
    c = Clock()
    yield c
    set_clock(None)


def _drive(t: Tcr, holder: str | None = None) -> Path:
    """The usb-drive credential and the signed files on it (the mounted drive: ``drive/``)."""
    extra = ("--holder", holder) if holder else ()
    t("credential", "add", *CA, "--id", "SKR-DRIVE", "--kind", "usb-drive", "--serial",
      "USB-7731", *extra)  # fmt: skip
    drive = t.tmp / "drive"
    drive.mkdir()
    for name, data in FILES.items():
        (drive / name).write_bytes(data)
    return drive


def _register(t: Tcr, *who: str, code: int = 0) -> str:
    return t(
        "artifact", "register", *(who or CA), "--name", "ksk-2027", "--drive", "SKR-DRIVE",
        "--from", "drive",
        "--tranche", "Q1:2027-01-01:Q1.xml",
        "--tranche", "Q2:2027-04-01:Q2a.xml,Q2b.xml",
        "--tranche", "Q3:2027-07-01..2027-09-30:Q3.xml",
        code=code,
    )  # fmt: skip


def _open_drive_bag(t: Tcr, serial: str) -> None:
    t("bag", "inspect", serial, *CA, "--serial-read", serial, "--check", "seal=ok",
      *_witness("iw-1"))  # fmt: skip
    t("bag", "open", serial, *CA, "--serial-read", serial, *_witness("iw-1"))


def _release(t: Tcr, label: str, *extra: str, code: int = 0, who: tuple[str, ...] = CA) -> str:
    return t(
        "artifact", "release", "ksk-2027", *who, "--tranche", label, "--from", "drive",
        "--output-dir", "servers", *_witness("iw-1"), *extra, code=code,
    )  # fmt: skip


def _signing_ceremony(t: Tcr, clock: Clock) -> Path:
    """Ceremony 55 signs nine months: register the files, seal the drive in TEB-100."""
    drive = _drive(t)
    clock.at("2026-12-02T10:00:00")
    t("ceremony", "open", "55", *CA, "--facility", "east", "--present", "ca-1:CA",
      "--present", "iw-1:IW")  # fmt: skip
    _register(t)
    t("bag", "seal", "TEB-100", *CA, "--contents", "SKR-DRIVE", *_witness("iw-1"),
      "--facility", "east", "--safe", "equipment-safe")  # fmt: skip
    t("ceremony", "close", "55", *CA, "--transcript", "t55.json")
    return drive


def _session(t: Tcr, clock: Clock, number: int, when: str, bag: str) -> None:
    clock.at(when)
    t("ceremony", "open", str(number), *CA, "--facility", "east")
    _open_drive_bag(t, bag)


def test_nine_months_released_a_quarter_at_a_time(tcr: Tcr, clock: Clock) -> None:
    drive = _signing_ceremony(tcr, clock)
    out = tcr.tmp / "servers"

    # Q1 before its date: refused (exit 3), a dry run says the same, nothing copied.
    _session(tcr, clock, 56, "2026-12-20T09:00:00", "TEB-100")
    err = _release(tcr, "Q1", code=3)
    assert "(too early)" in err and "from 2027-01-01T00:00:00Z until 2027-04-01" in err
    assert _release(tcr, "Q1", "--dry-run", code=3) == err
    assert not out.exists() or not any(out.iterdir())
    clock.at("2027-01-02T09:00:00")
    # A file only missing (the wrong folder looks the same) is refused and opens nothing.
    (drive / "Q1.xml").rename(drive / "Q1.xml.away")
    err = _release(tcr, "Q1", code=3)
    assert "Q1.xml is missing" in err and "discrepancy" not in err
    assert json.loads(tcr("discrepancy", "list", "--json"))["discrepancies"] == []
    (drive / "Q1.xml.away").rename(drive / "Q1.xml")
    dry = _release(tcr, "Q1", "--dry-run")
    assert "dry run: would record" in dry and not (out / "Q1.xml").exists()
    done = _release(tcr, "Q1")
    assert "tcr bag reseal TEB-100" in done
    assert (out / "Q1.xml").read_bytes() == FILES["Q1.xml"]
    assert sorted(p.name for p in out.iterdir()) == ["Q1.xml"]  # the rest untouched
    assert (out / "Q1.xml").stat().st_mode & 0o777 == 0o644
    # The same tranche again: refused, even into another folder.
    (out / "Q1.xml").unlink()
    err = _release(tcr, "Q1", code=3)
    assert "already released" in err and not (out / "Q1.xml").exists()
    (out / "Q1.xml").write_bytes(FILES["Q1.xml"])
    tcr("bag", "reseal", "TEB-100", "TEB-101", *CA, *_witness("iw-1"), "--facility", "east",
        "--safe", "equipment-safe")  # fmt: skip
    tcr("ceremony", "close", "56", *CA, "--transcript", "t56.json")

    # Q2: one file tampered and one missing on the drive: each is named, nothing copied.
    _session(tcr, clock, 57, "2027-04-02T09:00:00", "TEB-101")
    (drive / "Q2b.xml").write_bytes(b"<skr q2 b/>\r\n")
    (drive / "Q2a.xml").rename(drive / "Q2a.xml.moved")
    dry = _release(tcr, "Q2", "--dry-run", code=3)
    assert "dry run: would open discrepancy D-0001 (tamper, critical)" in dry
    assert not tcr("discrepancy", "list", "--json").count("D-0001")
    err = _release(tcr, "Q2", code=3)
    assert "Q2a.xml is missing" in err and "Q2b.xml differs" in err
    assert "discrepancy opened: D-0001 (tamper, critical)" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (out / "Q2a.xml").exists() and not (out / "Q2b.xml").exists()
    # The tampered file opened a discrepancy on the drive, its bag and the artifact, in the
    # refusal's own signed event: the drive is blocked until the IW resolves it.
    (opened,) = json.loads(tcr("discrepancy", "list", "--json"))["discrepancies"]
    assert opened["category"] == "tamper" and "Q2b.xml differs" in opened["description"]
    assert {"credential:SKR-DRIVE", "bag:TEB-101", "artifact:ksk-2027"} <= set(opened["objects"])
    (drive / "Q2a.xml.moved").rename(drive / "Q2a.xml")
    (drive / "Q2b.xml").write_bytes(FILES["Q2b.xml"])
    assert "open critical discrepancy D-0001" in _release(tcr, "Q2", code=3)
    tcr("discrepancy", "resolve", "D-0001", *IW, "--resolution", "drive re-imaged, hashes read",
        "--second", "ca-1", "--second-key", "ca.pem")  # fmt: skip
    # An output already there: refused before anything is copied or recorded (all or none).
    (out / "Q2b.xml").write_bytes(b"older copy")
    assert "Q2b.xml" in _release(tcr, "Q2", code=1)
    assert not (out / "Q2a.xml").exists() and (out / "Q2b.xml").read_bytes() == b"older copy"
    assert (
        json.loads(tcr("artifact", "show", "ksk-2027", "--json"))["tranches"][1]["state"] == "due"
    )
    # One already there with exactly the registered content (a release interrupted after
    # copying, before recording) is kept; the rest is copied and the release recorded.
    (out / "Q2b.xml").write_bytes(FILES["Q2b.xml"])
    _release(tcr, "Q2")
    assert sorted(p.name for p in out.iterdir()) == ["Q1.xml", "Q2a.xml", "Q2b.xml"]
    tcr("bag", "reseal", "TEB-101", "TEB-102", *CA, *_witness("iw-1"), "--facility", "east",
        "--safe", "equipment-safe")  # fmt: skip
    tcr("ceremony", "close", "57", *CA, "--transcript", "t57.json")

    # Q3: an open discrepancy on the drive's bag refuses the release until resolved.
    _session(tcr, clock, 58, "2027-07-02T09:00:00", "TEB-102")
    tcr("discrepancy", "add", *IW, "--category", "procedure", "--severity", "medium",
        "--description", "bag label out of runbook order", "--object", "bag:TEB-102")  # fmt: skip
    err = _release(tcr, "Q3", code=3)
    assert "open medium discrepancy D-0002" in err and "bag:TEB-102" in err
    tcr("discrepancy", "resolve", "D-0002", *IW, "--resolution", "label checked, serial ok")
    _release(tcr, "Q3")
    assert (out / "Q3.xml").read_bytes() == FILES["Q3.xml"]
    tcr("bag", "reseal", "TEB-102", "TEB-103", *CA, *_witness("iw-1"), "--facility", "east",
        "--safe", "equipment-safe")  # fmt: skip
    tcr("ceremony", "close", "58", *CA, "--transcript", "t58.json")

    shown = json.loads(tcr("artifact", "show", "ksk-2027", "--json"))
    assert [(t["label"], t["state"], t["released_by"]) for t in shown["tranches"]] == [
        ("Q1", "released", "ca-1"),
        ("Q2", "released", "ca-1"),
        ("Q3", "released", "ca-1"),
    ]
    assert shown["tranches"][2]["until"] == "2027-09-30T00:00:00Z"
    assert "ksk-2027" in tcr("artifact", "list")
    tcr("audit", "verify")

    # The releases are in their ceremonies' transcripts and in the readable timeline.
    timeline = tcr("audit", "show", "t57.json")
    assert "artifact.release" in timeline and "tranche Q2 of ksk-2027 released" in timeline
    assert (
        "artifact.release-refused" in timeline
        and "discrepancy: D-0001 (tamper, critical)" in timeline
    )
    entries = json.loads(tcr("audit", "show", "t55.json", "--json"))["entries"]
    assert any(e["action"] == "artifact.register" and e["selected"] for e in entries)

    # The public report lists the artifact, each tranche's window, release and file hashes.
    tcr("report", "build", "--output-dir", "site")
    page = (tcr.tmp / "site" / "artifacts.html").read_text()
    q3 = hashlib.sha256(FILES["Q3.xml"]).hexdigest()
    assert q3 in page and "2027-07-02T09:00:00Z" in page and "TEB-102" in page
    assert "artifacts.html" in (tcr.tmp / "site" / "index.html").read_text()
    (art,) = json.loads((tcr.tmp / "site" / "report.json").read_text())["artifacts"]
    assert [t["until"] for t in art["tranches"]] == [
        "2027-04-01T00:00:00Z",
        "2027-07-01T00:00:00Z",
        "2027-09-30T00:00:00Z",
    ]
    assert art["tranches"][1]["release"]["witness"] == "iw-1"
    tcr("report", "publish", "--output-dir", "site", *IW)
    tcr("report", "verify", "site")

    # Anyone checks the served files: from the ledger, or offline from a transcript.
    served = [str(out / n) for n in ("Q1.xml", "Q2a.xml", "Q2b.xml", "Q3.xml")]
    assert "Q3.xml: ok" in tcr("artifact", "check", "ksk-2027", *served)
    offline = tcr("artifact", "check", "ksk-2027", *served, "--transcript", "t58.json")
    assert offline.count(": ok, the registered file") == 4
    (out / "Q2b.xml").write_bytes(b"<skr forged/>\n")
    for extra in ((), ("--transcript", "t58.json")):
        err = tcr("artifact", "check", "ksk-2027", *served, *extra, code=3)
        assert "Q2b.xml differs" in err and "Q1.xml" not in err


def test_release_refused_without_a_ceremony_opened_bag_and_for_a_sealed_drive(
    tcr: Tcr, clock: Clock
) -> None:
    _signing_ceremony(tcr, clock)
    clock.at("2027-01-02T09:00:00")
    err = _release(tcr, "Q1", code=3)
    assert "sealed in bag TEB-100" in err
    # Opened outside any ceremony: custody refuses.
    _open_drive_bag(tcr, "TEB-100")
    err = _release(tcr, "Q1", code=3)
    assert "not opened at a recorded ceremony" in err
    assert not (tcr.tmp / "servers" / "Q1.xml").exists()


def test_one_bag_opening_serves_one_release_the_drive_is_resealed_in_between(
    tcr: Tcr, clock: Clock
) -> None:
    _signing_ceremony(tcr, clock)
    _session(tcr, clock, 56, "2027-01-02T09:00:00", "TEB-100")
    _release(tcr, "Q1")
    clock.at("2027-04-02T09:00:00")  # the drive was never put back
    err = _release(tcr, "Q2", code=3)
    assert "out of bag TEB-100 since tranche Q1" in err and "tcr bag reseal TEB-100" in err
    tcr("bag", "reseal", "TEB-100", "TEB-101", *CA, *_witness("iw-1"), "--facility", "east")
    assert "sealed in bag TEB-101" in _release(tcr, "Q2", code=3)
    _open_drive_bag(tcr, "TEB-101")  # ceremony 56 is still open: a recorded opening
    _release(tcr, "Q2")


def test_release_policy_refusals_exit_5(tcr: Tcr, clock: Clock) -> None:
    _signing_ceremony(tcr, clock)
    _session(tcr, clock, 56, "2027-01-02T09:00:00", "TEB-100")
    assert "action-role" in _release(tcr, "Q1", who=IW, code=5)
    err = tcr("artifact", "release", "ksk-2027", *CA, "--tranche", "Q1", "--from", "drive",
              "--output-dir", "servers", *_witness("ca-1"), code=5)  # fmt: skip
    assert "witness-distinct" in err
    err = tcr("artifact", "release", "ksk-2027", *CA, "--tranche", "Q1", "--from", "drive",
              "--output-dir", "servers", *_witness("tcr-3"), code=5)  # fmt: skip
    assert "witness-role" in err
    assert not (tcr.tmp / "servers" / "Q1.xml").exists()
    _release(tcr, "Q1")


def test_register_policy_and_input_refusals(tcr: Tcr, clock: Clock) -> None:
    _drive(tcr)
    assert "action-role" in _register(tcr, *IW, code=5)
    err = tcr("artifact", "register", *CA, "--name", "x", "--drive", "CO3-KEY", "--from", "drive",
              "--tranche", "Q1:2027-01-01:Q1.xml", code=2)  # fmt: skip
    assert "not a usb-drive" in err
    err = tcr("artifact", "register", *CA, "--name", "x", "--drive", "SKR-DRIVE", "--from",
              "drive", "--tranche", "Q1:2027-04-01:Q1.xml", "--tranche",
              "Q2:2027-01-01:Q2a.xml", code=2)  # fmt: skip
    assert "release order" in err
    err = tcr("artifact", "register", *CA, "--name", "x", "--drive", "SKR-DRIVE", "--from",
              "drive", "--tranche", "Q1:soon:Q1.xml", code=2)  # fmt: skip
    assert "'soon' is not a date" in err
    tcr("artifact", "register", *SA, "--name", "x", "--drive", "SKR-DRIVE", "--from", "drive",
        "--tranche", "Q1:2027-01-01:Q1.xml", "--dry-run")  # fmt: skip
    assert json.loads(tcr("artifact", "list", "--json"))["artifacts"] == []
    _register(tcr)
    assert "already registered" in _register(tcr, code=2)


def test_release_refused_when_the_witness_holds_the_drive(tcr: Tcr, clock: Clock) -> None:
    _drive(tcr, holder="iw-1")
    clock.at("2026-12-02T10:00:00")
    tcr("ceremony", "open", "55", *CA, "--facility", "east")
    _register(tcr)
    tcr("bag", "seal", "TEB-100", *CA, "--contents", "SKR-DRIVE", *_witness("sa-1"),
        "--holder", "iw-1", "--facility", "east")  # fmt: skip
    tcr("bag", "inspect", "TEB-100", *CA, "--serial-read", "TEB-100", "--check", "seal=ok",
        *_witness("sa-1"))  # fmt: skip
    tcr("bag", "open", "TEB-100", *CA, "--serial-read", "TEB-100", *_witness("sa-1"))
    clock.at("2027-01-02T09:00:00")
    assert "holder-not-vouching" in _release(tcr, "Q1", code=5)


def _db(t: Tcr) -> sqlite3.Connection:
    return sqlite3.connect(t.tmp / "ledger.sqlite", isolation_level=None)


def test_artifact_row_edited_or_deleted_behind_the_tool_is_refused(tcr: Tcr, clock: Clock) -> None:
    _signing_ceremony(tcr, clock)
    _session(tcr, clock, 56, "2027-01-02T09:00:00", "TEB-100")
    served = tcr.tmp / "Q1.xml"
    served.write_bytes(b"forged")
    forged = "0" * 64
    db = _db(tcr)
    (doc,) = db.execute("SELECT doc FROM artifact WHERE key = 'ksk-2027'").fetchone()
    real = json.loads(doc)["tranches"][0]["files"][0]["sha256"]
    db.execute(
        "UPDATE artifact SET doc = ? WHERE key = 'ksk-2027'",
        (doc.replace(real.encode(), forged.encode()) if isinstance(doc, bytes) else doc,),
    )
    err = tcr("artifact", "check", "ksk-2027", str(served), code=3)
    assert "ledger row artifact/ksk-2027 differs from audit event" in err
    assert "ledger row artifact/ksk-2027" in _release(tcr, "Q1", code=3)
    db.execute("DELETE FROM artifact WHERE key = 'ksk-2027'")
    err = _release(tcr, "Q1", code=3)
    assert "artifact/ksk-2027" in err and "deleted behind the tool's back" in err
    assert "deleted behind" in tcr("artifact", "check", "ksk-2027", str(served), code=3)
    db.close()


def test_a_deleted_release_row_does_not_allow_a_second_release(tcr: Tcr, clock: Clock) -> None:
    _signing_ceremony(tcr, clock)
    _session(tcr, clock, 56, "2027-01-02T09:00:00", "TEB-100")
    _release(tcr, "Q1")
    db = _db(tcr)
    db.execute("DELETE FROM artifact_release")
    db.close()
    (tcr.tmp / "servers" / "Q1.xml").unlink()
    err = _release(tcr, "Q1", code=3)
    assert "artifact_release/ksk-2027/Q1" in err and "deleted behind the tool's back" in err
    assert not (tcr.tmp / "servers" / "Q1.xml").exists()


def test_check_names_unknown_and_missing_files_and_needs_a_registered_artifact(
    tcr: Tcr, clock: Clock
) -> None:
    _signing_ceremony(tcr, clock)
    other = tcr.tmp / "other.xml"
    other.write_bytes(b"x")
    err = tcr("artifact", "check", "ksk-2027", "drive/Q1.xml", str(other), "nope.xml", code=3)
    assert "other.xml is not a registered file" in err and "nope.xml is missing" in err
    assert "Q1.xml" not in err.replace("nope.xml", "")
    assert "not in the ledger" in tcr("artifact", "check", "ksk-2026", "drive/Q1.xml", code=2)
    err = tcr("artifact", "check", "ksk-2026", "drive/Q1.xml", "--transcript", "t55.json", code=2)
    assert "records no artifact 'ksk-2026'" in err


def test_a_policy_recorded_before_artifacts_existed_applies_their_default_roles(
    tcr: Tcr, clock: Clock
) -> None:
    from tcr_kit.custody.policy import default_policy_text

    old = "\n".join(
        line for line in default_policy_text().splitlines() if not line.startswith('"artifact.')
    )
    (tcr.tmp / "old.toml").write_text(old.replace('name = "default"', 'name = "east-2025"'))
    tcr("policy", "set", "old.toml", *SA)
    shown = json.loads(tcr("policy", "show", "--json"))
    assert shown["defaulted"] == ["artifact.register", "artifact.release"]
    assert "defaults apply: artifact.register, artifact.release" in tcr("policy", "show")
    _drive(tcr)
    assert "action-role" in _register(tcr, *IW, code=5)
    _register(tcr)


def test_a_file_changed_between_its_check_and_its_copy_is_refused_and_opens_a_discrepancy(
    tcr: Tcr, clock: Clock
) -> None:
    """The release checks every file of the tranche, then copies it, hashing what it copies.
    A file changed in between (made deterministic by the release's test pause, a FIFO it
    reads after the check) is refused: exit 3, nothing released or left in the output
    folder, and the tamper discrepancy opened in the refusal's own signed event."""
    import errno
    import os
    import threading
    import time

    from tcr_kit.custody.ledger import Ledger
    from tcr_kit.custody.ledger.artifacts import PAUSE_BEFORE_COPY_ENV
    from tests.cli_runner import run_tcr

    drive = _signing_ceremony(tcr, clock)
    _session(tcr, clock, 56, "2027-01-02T09:00:00", "TEB-100")
    fifo = tcr.tmp / "pause"
    os.mkfifo(fifo)
    tcr.monkeypatch.setenv(PAUSE_BEFORE_COPY_ENV, str(fifo))
    done: list[object] = []

    def run_release() -> None:
        args = ["artifact", "release", "ksk-2027", *CA, "--tranche", "Q1", "--from", "drive",
                "--output-dir", "servers", *_witness("iw-1")]  # fmt: skip
        done.append(run_tcr(*args, in_process=True))

    release = threading.Thread(target=run_release)
    release.start()
    deadline = time.monotonic() + 60
    while True:  # the release has checked the files once it waits on the FIFO
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
        assert release.is_alive(), done
        assert time.monotonic() < deadline, "the release never reached its pause"
        time.sleep(0.02)
    (drive / "Q1.xml").write_bytes(b"<skr q1 forged/>\n")
    os.close(fd)
    release.join(60)
    tcr.monkeypatch.delenv(PAUSE_BEFORE_COPY_ENV)
    (proc,) = done
    assert isinstance(proc, subprocess.CompletedProcess)
    assert proc.returncode == 3, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "changed while copying" in lines[0] and "Q1.xml differs" in lines[0]
    assert "discrepancy opened: D-0001 (tamper, critical)" in lines[0]
    # Nothing released: no file (nor a temporary) in the output folder, the tranche due.
    out = tcr.tmp / "servers"
    assert not out.exists() or list(out.iterdir()) == []
    shown = json.loads(tcr("artifact", "show", "ksk-2027", "--json"))
    assert shown["tranches"][0]["state"] == "due"
    (opened,) = json.loads(tcr("discrepancy", "list", "--json"))["discrepancies"]
    assert opened["category"] == "tamper" and opened["severity"] == "critical"
    assert "Q1.xml differs" in opened["description"]
    assert {"credential:SKR-DRIVE", "bag:TEB-100", "artifact:ksk-2027"} <= set(opened["objects"])
    with Ledger.open(tcr.tmp / "ledger.sqlite", create=False) as led:
        kinds = [json.loads(e.body)["kind"] for e in led.audit.events()]
    assert kinds[-1] == "artifact.release-refused" and "artifact.release" not in kinds
    tcr("audit", "verify")
    # The drive is now blocked: put back, the file is still refused until D-0001 is resolved.
    (drive / "Q1.xml").write_bytes(FILES["Q1.xml"])
    assert "open critical discrepancy D-0001" in _release(tcr, "Q1", code=3)


@pytest.mark.parametrize("kind", ["missing", "regular file"])
def test_the_copy_pause_hook_set_to_anything_but_a_fifo_refuses_the_release_naming_it(
    tcr: Tcr, clock: Clock, kind: str
) -> None:
    """``TCR_TEST_PAUSE_BEFORE_COPY`` is a test hook: left set outside the tests (a path
    that is missing, or a plain file), the release is refused in one line that names the
    variable (exit 2), before anything is copied or recorded; the tranche stays due and
    releases once it is unset."""
    from tcr_kit.custody.ledger import Ledger
    from tcr_kit.custody.ledger.artifacts import PAUSE_BEFORE_COPY_ENV

    _signing_ceremony(tcr, clock)
    _session(tcr, clock, 56, "2027-01-02T09:00:00", "TEB-100")
    stray = tcr.tmp / "stray-pause"
    if kind == "regular file":
        stray.write_bytes(b"not a FIFO\n")
    with Ledger.open(tcr.tmp / "ledger.sqlite", create=False) as led:
        before = led.audit.count()
    tcr.monkeypatch.setenv(PAUSE_BEFORE_COPY_ENV, str(stray))
    err = _release(tcr, "Q1", code=2)
    tcr.monkeypatch.delenv(PAUSE_BEFORE_COPY_ENV)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err
    assert PAUSE_BEFORE_COPY_ENV in lines[0] and "not a FIFO" in lines[0]
    out = tcr.tmp / "servers"
    assert not out.exists() or list(out.iterdir()) == []
    with Ledger.open(tcr.tmp / "ledger.sqlite", create=False) as led:
        assert led.audit.count() == before
    shown = json.loads(tcr("artifact", "show", "ksk-2027", "--json"))
    assert shown["tranches"][0]["state"] == "due"
    _release(tcr, "Q1")
    assert (out / "Q1.xml").read_bytes() == FILES["Q1.xml"]
    tcr("audit", "verify")
