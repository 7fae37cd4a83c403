"""The remote-participation walk-through, driven through the ``tcr`` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import run_tcr


class Tcr:
    def __init__(
        self, tmp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.tmp = tmp
        self.capsys = capsys
        monkeypatch.setenv("TCR_LEDGER", str(tmp / "ledger.sqlite"))
        monkeypatch.delenv("TCR_KEY", raising=False)
        monkeypatch.delenv("TCR_AS", raising=False)
        monkeypatch.chdir(tmp)
        self.monkeypatch = monkeypatch

    def __call__(self, *args: str, code: int = 0) -> str:
        proc = run_tcr(*args, expect=code, in_process=True)
        return proc.stdout if code == 0 else proc.stderr

    def key(self, name: str) -> str:
        out = self("key", "generate", "--output", f"{name}.pem", "--json")
        return str(json.loads(out)["public_key"])


@pytest.fixture
def tcr(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Tcr:
    t = Tcr(tmp_path, capsys, monkeypatch)
    t.key("sa")
    keys = {name: t.key(name) for name in ("ca", "iw", "tcr3")}
    t("roster", "init", "--id", "sa-1", "--name", "Admin", "--role", "SA", "--key", "sa.pem")
    for pid, role, name in (("ca-1", "CA", "ca"), ("iw-1", "IW", "iw")):
        t(
            "roster",
            "add",
            "--as",
            "sa-1",
            "--key",
            "sa.pem",
            "--id",
            pid,
            "--name",
            pid,
            "--role",
            role,
            "--public-key",
            keys[name],
        )
    t(
        "roster",
        "add",
        "--as",
        "sa-1",
        "--key",
        "sa.pem",
        "--id",
        "tcr-3",
        "--name",
        "TCR 3",
        "--role",
        "CO",
        "--facility",
        "east",
        "--public-key",
        keys["tcr3"],
    )
    t(
        "credential",
        "add",
        "--as",
        "ca-1",
        "--key",
        "ca.pem",
        "--id",
        "CO3-KEY",
        "--kind",
        "safe-deposit-key",
        "--serial",
        "BOX7-A",
        "--holder",
        "tcr-3",
    )
    return t


CA = ("--as", "ca-1", "--key", "ca.pem")
IW = ("--witness", "iw-1", "--witness-key", "iw.pem")
"""The internal witness, co-signing with their key."""


def _ship(tcr: Tcr) -> str:
    out = tcr(
        "remote",
        "seal",
        "--holder",
        "tcr-3",
        "--serial",
        "TEB-1001",
        "--contents",
        "CO3-KEY",
        "--key",
        "tcr3.pem",
        "--output",
        "att.json",
        "--json",
    )
    words = json.loads(out)["words"]
    tcr(
        "bag",
        "ship",
        "TEB-1001",
        *CA,
        "--carrier",
        "courier",
        "--tracking",
        "T1",
        "--from",
        "tcr-3",
        "--to",
        "east",
        "--attestation",
        "att.json",
    )
    return str(words)


def test_cli_remote_seal_ship_receive_inspect_open_reseal_export_and_verify_offline(
    tcr: Tcr,
) -> None:
    words = _ship(tcr)
    assert len(words.split()) == 32
    verified = json.loads(tcr("remote", "verify", "att.json", "--use-ledger", "--json"))
    assert verified["words"] == words
    tcr(
        "bag",
        "receive",
        "TEB-1001",
        *CA,
        "--serial-read",
        "TEB-1001",
        "--facility",
        "east",
        "--attestation",
        "att.json",
    )
    status = json.loads(tcr("status", "--as", "tcr-3", "--json"))
    assert status["credentials"][0]["bag_state"] == "received"
    err = tcr("bag", "open", "TEB-1001", *CA, "--serial-read", "TEB-1001", *IW, code=2)
    assert "cannot open" in err
    tcr(
        "bag",
        "inspect",
        "TEB-1001",
        *CA,
        "--serial-read",
        "teb-1001",
        "--check",
        "seal-intact=ok",
        "--check",
        "no-cuts=ok",
        "--witness",
        "iw-1",
        "--witness-key",
        "iw.pem",
        "--ceremony",
        "55",
    )
    c55 = ("--ceremony", "55")
    tcr("bag", "open", "TEB-1001", *CA, *c55, "--serial-read", "TEB-1001", *IW)
    tcr(
        "bag",
        "reseal",
        *c55,
        "TEB-1001",
        "TEB-2002",
        *CA,
        "--witness",
        "iw-1",
        "--witness-key",
        "iw.pem",
        "--facility",
        "east",
        "--safe",
        "credential-safe",
        "--box",
        "7",
    )
    history = json.loads(tcr("bag", "history", "TEB-1001", "--json"))["events"]
    assert [e["kind"] for e in history][-2:] == ["bag.open", "bag.reseal"]
    tcr("audit", "checkpoint", "--as", "iw-1", "--key", "iw.pem")
    live = json.loads(tcr("audit", "verify", "--json"))
    tcr("audit", "export", "--output", "ceremony55.json", "--ceremony", "55")
    offline = json.loads(tcr("audit", "verify", "--transcript", "ceremony55.json", "--json"))
    transcript = json.loads((tcr.tmp / "ceremony55.json").read_text())
    selected = [
        json.loads(e["body"])["kind"]
        for e in transcript["events"]
        if e["seq"] in transcript["selection"]["seqs"]
    ]
    assert selected == ["bag.inspect", "bag.open", "bag.reseal"]
    assert offline["selected_events"] >= 1
    assert offline["events"] <= live["events"]
    tcr("audit", "export", "--output", "ceremony55.json", code=1)
    tcr("audit", "export", "--output", "ceremony55.json", "--force")
    tcr("audit", "verify", "--transcript", "ceremony55.json")


def test_cli_mismatched_serial_exits_3_and_blocks_opening(tcr: Tcr) -> None:
    _ship(tcr)
    tcr("bag", "receive", "TEB-1001", *CA, "--serial-read", "TEB-1001", "--facility", "east")
    err = tcr(
        "bag",
        "inspect",
        "TEB-1001",
        *CA,
        "--serial-read",
        "TEB-1010",
        "--check",
        "seal-intact=ok",
        "--witness",
        "iw-1",
        "--witness-key",
        "iw.pem",
        code=3,
    )
    assert "D-0001" in err
    assert err.count("\n") == 1
    err = tcr("bag", "open", "TEB-1001", *CA, "--serial-read", "TEB-1001", *IW, code=3)
    assert "open discrepancies D-0001" in err
    summary = json.loads(tcr("discrepancy", "summary", "--json"))["summary"]
    assert [(r["category"], r["status"], r["count"]) for r in summary] == [
        ("serial-mismatch", "open", 1)
    ]


def test_cli_tampered_bag_exits_3_until_iw_overrides(tcr: Tcr) -> None:
    _ship(tcr)
    tcr("bag", "receive", "TEB-1001", *CA, "--serial-read", "TEB-1001", "--facility", "east")
    tcr(
        "bag",
        "inspect",
        "TEB-1001",
        *CA,
        "--serial-read",
        "TEB-1001",
        "--check",
        "seal-intact=fail",
        "--witness",
        "iw-1",
        "--witness-key",
        "iw.pem",
        code=3,
    )
    tcr("bag", "open", "TEB-1001", *CA, "--serial-read", "TEB-1001", *IW, code=3)
    tcr(
        "bag",
        "open",
        "TEB-1001",
        *CA,
        "--serial-read",
        "TEB-1001",
        "--witness",
        "iw-1",
        "--witness-key",
        "iw.pem",
        "--override-by",
        "iw-1",
    )
    listed = json.loads(tcr("discrepancy", "list", "--open", "--json"))["discrepancies"]
    assert listed[0]["overrides"] == ["iw-1"]


def test_cli_dry_run_records_nothing(tcr: Tcr) -> None:
    before = json.loads(tcr("audit", "head", "--json"))
    out = tcr(
        "bag",
        "seal",
        "TEB-3003",
        *CA,
        "--contents",
        "CO3-KEY",
        "--witness",
        "iw-1",
        "--witness-key",
        "iw.pem",
        "--facility",
        "east",
        "--dry-run",
    )
    assert "nothing was changed" in out
    assert json.loads(tcr("audit", "head", "--json")) == before


def test_cli_usage_errors_exit_2_with_one_line(tcr: Tcr) -> None:
    err = tcr(
        "bag",
        "inspect",
        "TEB-1",
        *CA,
        "--serial-read",
        "X",
        "--check",
        "seal",
        "--witness",
        "iw-1",
        "--witness-key",
        "iw.pem",
        code=2,
    )
    assert err.startswith("error:")
    tcr("bag", "show", "TEB-404", code=2)


def test_cli_bag_commands_that_place_a_bag_refuse_no_place_with_exit_2_recording_nothing(
    tcr: Tcr,
) -> None:
    before = json.loads(tcr("audit", "head", "--json"))
    for args in (
        ("seal", "TEB-3004", *CA, "--contents", "CO3-KEY", *IW),
        ("receive", "TEB-3004", *CA, "--serial-read", "TEB-3004"),
        ("store", "TEB-3004", *CA),
        ("reseal", "TEB-3004", "TEB-3005", *CA, *IW),
    ):
        err = tcr("bag", *args, code=2)
        assert err.strip() == (
            "error: say where: --facility (and --safe/--box) or --with PERSON"
            f" (see 'tcr bag {args[0]} --help')"
        )
    assert json.loads(tcr("audit", "head", "--json")) == before
    assert json.loads(tcr("bag", "list", "--json"))["bags"] == []


def test_cli_tampered_ledger_exits_3_naming_the_event(tcr: Tcr) -> None:
    import sqlite3

    with sqlite3.connect(tcr.tmp / "ledger.sqlite") as conn:
        conn.execute("UPDATE audit_event SET body = replace(body, 'Admin', 'Admon') WHERE seq = 2")
    err = tcr("audit", "verify", code=3)
    assert "event 2" in err


def test_real_process_reports_one_line_and_exit_code(tmp_path: Path) -> None:
    env = dict(os.environ, TCR_LEDGER=str(tmp_path / "missing.sqlite"))
    proc = subprocess.run(
        [sys.executable, "-m", "tcr_cli.main", "bag", "list"],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error:") and proc.stderr.count("\n") == 1


def test_a_file_that_is_not_a_ledger_exits_3(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"\x13" * 4096)
    env = dict(os.environ, TCR_LEDGER=str(junk))
    proc = subprocess.run(
        [sys.executable, "-m", "tcr_cli.main", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        check=False,
    )
    assert proc.returncode == 3
    assert "not a usable ledger" in proc.stderr
