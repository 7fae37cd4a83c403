"""Reading a ceremony afterwards: ``tcr audit show`` as a timeline, a TCR's own
``tcr status --transcript`` offline, and overrides in ``bag history`` and ``tcr status``."""

from __future__ import annotations

import json
import re

from .test_cli_remote_scenario import CA, IW, Tcr, _ship, tcr

__all__ = ["tcr"]


def _tampered_bag_opened_with_override(tcr: Tcr) -> str:
    """Ceremony 55: a remotely sealed bag arrives, fails its tamper check, the IW overrides
    and it is opened; the ceremony closes. Returns the published head."""
    _ship(tcr)
    tcr("ceremony", "open", "55", *CA, "--facility", "east", "--present", "ca-1:CA",
        "--present", "iw-1:IW", "--remote", "tcr-3:CO")  # fmt: skip
    tcr("bag", "receive", "TEB-1001", *CA, "--serial-read", "TEB-1001", "--facility", "east")
    tcr("bag", "inspect", "TEB-1001", *CA, "--serial-read", "TEB-1001",
        "--check", "seal-intact=fail", *IW, code=3)  # fmt: skip
    tcr("bag", "open", "TEB-1001", *CA, "--serial-read", "TEB-1001", *IW,
        "--override-by", "iw-1")  # fmt: skip
    out = tcr("ceremony", "close", "55", *CA, "--transcript", "c55.json")
    head = re.search(r"SHA-256: ([0-9a-f]{64})", out)
    assert head is not None
    return head[1]


def test_audit_show_prints_witnesses_discrepancies_and_overrides_of_the_ceremony(
    tcr: Tcr,
) -> None:
    head = _tampered_bag_opened_with_override(tcr)
    out = tcr("audit", "show", "c55.json", "--expect-head", head)
    assert f"head SHA-256: {head}" in out
    assert "bag.inspect  by ca-1 (CA) [ceremony 55]" in out
    assert "witnessed by iw-1 (co-signed)" in out
    assert "tamper evidence: seal-intact" in out
    assert "discrepancy: D-0001 (tamper" in out
    assert "override:  D-0001 overridden by iw-1" in out
    assert "None" not in out and "True" not in out
    data = json.loads(tcr("audit", "show", "c55.json", "--bag", "teb-1001", "--json"))
    kinds = [e["action"] for e in data["entries"]]
    assert kinds == ["bag.receive", "bag.inspect", "bag.open"]
    only_iw = json.loads(tcr("audit", "show", "c55.json", "--person", "iw-1", "--json"))
    assert {e["action"] for e in only_iw["entries"]} >= {"bag.inspect", "bag.open"}


def test_a_tcr_sees_their_bags_history_offline_from_the_transcript_alone(tcr: Tcr) -> None:
    head = _tampered_bag_opened_with_override(tcr)
    tcr.monkeypatch.setenv("TCR_LEDGER", str(tcr.tmp / "no-ledger-here.sqlite"))
    out = tcr("status", "--as", "tcr-3", "--transcript", "c55.json", "--expect-head", head)
    assert "verified through event" in out and head in out
    assert "CO3-KEY" in out
    assert "bag.open" in out and "override:  D-0001 overridden by iw-1" in out
    assert "tamper evidence: seal-intact" in out
    assert not (tcr.tmp / "no-ledger-here.sqlite").exists()
    data = json.loads(tcr("status", "--as", "tcr-3", "--transcript", "c55.json", "--json"))
    assert data["head"] == head
    assert data["credentials"][0]["credential"] == "CO3-KEY"


def test_status_in_the_ledger_shows_inspections_and_overrides_on_own_bags(tcr: Tcr) -> None:
    _tampered_bag_opened_with_override(tcr)
    out = tcr("status", "--as", "tcr-3")
    assert "history:" in out
    assert "bag.inspect" in out and "override:  D-0001 overridden by iw-1" in out


def test_bag_history_shows_the_override(tcr: Tcr) -> None:
    _tampered_bag_opened_with_override(tcr)
    out = tcr("bag", "history", "TEB-1001")
    assert "override of D-0001 by iw-1" in out


def test_audit_show_and_offline_status_refuse_a_tampered_transcript(tcr: Tcr) -> None:
    _tampered_bag_opened_with_override(tcr)
    path = tcr.tmp / "c55.json"
    doc = json.loads(path.read_text())
    doc["events"][-2]["body"] = doc["events"][-2]["body"].replace("iw-1", "ca-1")
    path.write_text(json.dumps(doc))
    err = tcr("audit", "show", "c55.json", code=3)
    assert err.startswith("error:") and err.count("\n") == 1
    tcr("status", "--as", "tcr-3", "--transcript", "c55.json", code=3)
