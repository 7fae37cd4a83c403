# ruff: noqa: F811  (the tcr fixture is imported from the remote scenario tests)
"""Co-signing through the ``tcr`` command line: the witness's key in the command, a
signature made elsewhere from ``--signing-request``, and the refusals (exit 5 missing,
exit 3 another key or another event, usage errors)."""

from __future__ import annotations

import json

from .test_cli_remote_scenario import CA, Tcr, tcr  # noqa: F401 (fixture)

SEAL = ("bag", "seal", "TEB-1", *CA, "--contents", "CO3-KEY", "--witness", "iw-1",
        "--facility", "east")  # fmt: skip


def test_cli_a_missing_co_signature_exits_5_and_another_key_exits_3(tcr: Tcr) -> None:
    err = tcr(*SEAL, code=5)
    assert "policy rule witness-cosign" in err and "iw-1 (witness) must co-sign" in err
    assert tcr(*SEAL, "--dry-run", code=5) == err
    err = tcr(*SEAL, "--witness-key", "ca.pem", code=3)
    assert "not the key the roster knows for iw-1" in err
    assert json.loads(tcr("bag", "list", "--json"))["bags"] == []
    tcr(*SEAL, "--witness-key", "iw.pem")
    assert "co-signatures: 1 verified" in tcr("audit", "verify")


def test_cli_signing_request_witness_sign_and_record(tcr: Tcr) -> None:
    out = json.loads(tcr(*SEAL, "--dry-run", "--signing-request", "req.json", "--json"))
    (request,) = out["signing_requests"]
    assert request["person"] == "iw-1" and request["file"] == "req.json"
    assert json.loads(tcr("bag", "list", "--json"))["bags"] == []
    # Someone else cannot sign the witness's request, nor the witness with another key.
    assert "asks iw-1 to co-sign" in tcr(
        "witness", "sign", "req.json", "--as", "ca-1", "--key", "ca.pem", "--output", "x.json",
        code=2,
    )  # fmt: skip
    tcr("witness", "sign", "req.json", "--as", "iw-1", "--key", "ca.pem", "--output", "x.json",
        code=3)  # fmt: skip
    shown = tcr("witness", "sign", "req.json", "--as", "iw-1", "--key", "iw.pem",
                "--output", "sig.json")  # fmt: skip
    assert "bag.seal by ca-1" in shown and request["sha256"] in shown
    assert request["words"] in shown
    # Another event (other options) is refused; the same command records it.
    assert "over another event" in tcr(
        *SEAL[:-1], "west", "--witness-signature", "sig.json", code=3
    )
    recorded = json.loads(tcr(*SEAL, "--witness-signature", "sig.json", "--json"))
    assert recorded["events"][-1]["hash"] == request["sha256"]
    assert "witnesses' co-signatures: 1 verified" in tcr("audit", "verify")
    assert json.loads(tcr("audit", "verify", "--json"))["cosignatures"] == 1
    assert "iw-1 (co-signed)" in tcr("bag", "history", "TEB-1")
    tcr("audit", "export", "--output", "t.json")
    assert "co-signatures: 1 verified" in tcr("audit", "verify", "--transcript", "t.json")
    assert "witnessed by iw-1 (co-signed)" in tcr("audit", "show", "t.json")


def test_cli_signing_request_needs_a_dry_run_and_options_need_their_person(tcr: Tcr) -> None:
    assert "add --dry-run" in tcr(*SEAL, "--signing-request", "req.json", code=2)
    retire = ("bag", "retire", "TEB-1", *CA, "--witness-key", "iw.pem")
    assert "--witness-key needs --witness" in tcr(*retire, code=2)
    assert json.loads(tcr("bag", "list", "--json"))["bags"] == []
