# ruff: noqa: F811  (the tcr fixture is imported from the remote scenario tests)
"""The policy through the ``tcr`` command line: exit 5 naming the rule, ``--dry-run`` the
same, ``tcr policy show|set``, and ``remote verify`` saying when the signer was not checked."""

from __future__ import annotations

import json
from pathlib import Path

from tcr_kit.custody.policy import default_policy_text

from .test_cli_remote_scenario import CA, IW, Tcr, _ship, tcr  # noqa: F401 (fixture)

TCR3 = ("--as", "tcr-3", "--key", "tcr3.pem")
SA = ("--as", "sa-1", "--key", "sa.pem")


def _seal(t: Tcr, *who: str, code: int = 0, dry: bool = False) -> str:
    extra = ("--dry-run",) if dry else ()
    return t(
        "bag", "seal", "TEB-1", *who, "--contents", "CO3-KEY", *IW,
        "--holder", "tcr-3", "--facility", "east", *extra, code=code,
    )  # fmt: skip


def test_cli_a_refused_action_exits_5_naming_the_rule_and_a_dry_run_says_the_same(
    tcr: Tcr,
) -> None:
    _seal(tcr, *CA)
    args = ("bag", "inspect", "TEB-1", *TCR3, "--serial-read", "TEB-1", "--check",
            "seal=ok", *IW)  # fmt: skip
    err = tcr(*args, code=5)
    assert "policy rule action-role" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert tcr(*args, "--dry-run", code=5) == err


def test_cli_a_tcr_witnessing_is_refused_but_staff_witnessing_works(tcr: Tcr) -> None:
    err = tcr(
        "bag", "seal", "TEB-1", *CA, "--contents", "CO3-KEY", "--witness", "tcr-3",
        "--holder", "tcr-3", "--facility", "east", code=5,
    )  # fmt: skip
    assert "witness-role" in err
    _seal(tcr, *TCR3)  # a TCR seals their own credential, staff witnessing


def test_cli_policy_show_and_set_by_an_sa_only(tcr: Tcr, tmp_path: Path) -> None:
    shown = json.loads(tcr("policy", "show", "--json"))
    assert shown["recorded"] is False and shown["policy"] == default_policy_text()
    new = tmp_path / "p.toml"
    new.write_text(default_policy_text().replace('name = "default"', 'name = "east-2026"'))
    assert "policy rule action-role" in tcr("policy", "set", str(new), *CA, code=5)
    tcr("policy", "set", str(new), *SA, "--dry-run")
    assert json.loads(tcr("policy", "show", "--json"))["recorded"] is False
    tcr("policy", "set", str(new), *SA)
    shown = json.loads(tcr("policy", "show", "--json"))
    assert shown["recorded"] is True and shown["name"] == "east-2026"
    tcr("audit", "verify")


def test_cli_remote_verify_without_a_key_says_the_signer_was_not_checked(tcr: Tcr) -> None:
    _ship(tcr)
    err = tcr("remote", "verify", "att.json", code=3)
    assert "signer was NOT checked" in err
    out = tcr("remote", "verify", "att.json", "--self-signed-only")
    assert "signer NOT checked" in out
    assert "signature and signer verified" in tcr("remote", "verify", "att.json", "--use-ledger")


def test_cli_critical_discrepancy_resolve_needs_a_second_staff_member(tcr: Tcr) -> None:
    _seal(tcr, *CA)
    tcr("bag", "inspect", "TEB-1", *CA, "--serial-read", "TEB-1", "--check", "seal=fail",
        *IW, code=3)  # fmt: skip
    iw = ("--as", "iw-1", "--key", "iw.pem")
    err = tcr("discrepancy", "resolve", "D-0001", *iw, "--resolution", "ok", code=5)
    assert "critical-two-staff" in err
    tcr(
        "discrepancy",
        "resolve",
        "D-0001",
        *iw,
        "--resolution",
        "ok",
        "--second",
        "ca-1",
        "--second-key",
        "ca.pem",
    )


def test_cli_credential_add_refuses_an_enrolment_record_of_another_card(
    tcr: Tcr, tmp_path: Path
) -> None:
    record = tmp_path / "rec.json"
    record.write_text(
        json.dumps({"card": {"serial": "FFFF"}, "tcr": {"id": "ca-1"}, "share": {"index": 4}})
    )
    err = tcr(
        "credential", "add", *CA, "--id", "card-3", "--kind", "smartcard", "--serial", "0A0B",
        "--holder", "tcr-3", "--enrolment", str(record), code=3,
    )  # fmt: skip
    assert "serial FFFF is not 0A0B" in err and "TCR ca-1 is not the holder tcr-3" in err
    assert "card-3" not in tcr("credential", "list")
