"""What an ``hsm.activate`` event records of its statements (:mod:`tcr_kit.hsm.verdicts`)
when nothing can judge them: without a ledger there is no roster, so a refused activation
records neither the override nor the approvals (never one without its verdict), while an
accepted one records its override as it always did."""

from __future__ import annotations

from datetime import timedelta

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.clock import isoformat, utcnow
from tcr_kit.custody.ledger import Actor
from tcr_kit.hsm.approval import ApprovalBundle, ApprovalRequest, sign_request
from tcr_kit.hsm.clearance import ActivationOverride, OverrideStatement
from tcr_kit.hsm.verdicts import VERDICT_FORM, recorded_statements


def _request(nonce: str = "cd" * 32) -> ApprovalRequest:
    now = utcnow()
    return ApprovalRequest.model_validate(
        {
            "format": "tcr-kit/approval-request",
            "version": 1,
            "ceremony": 1,
            "hsm": "hsm-a",
            "config_sha256": "ab" * 32,
            "purpose": "sign",
            "nonce": nonce,
            "created": isoformat(now),
            "expires": isoformat(now + timedelta(hours=1)),
        }
    )


def _override() -> ActivationOverride:
    statement = OverrideStatement("hsm-a", "ab" * 32, 1, ("card-1",), "examined")
    signers = [Actor(p, SoftwareEd25519Signer.generate()) for p in ("iw-1", "iw-2")]
    return ActivationOverride.sign(statement, signers)


def test_a_refusal_without_a_roster_records_no_statement_rather_than_one_without_verdict() -> None:
    request = _request()
    bundle = ApprovalBundle(
        request, (sign_request(request, "tcr-1", SoftwareEd25519Signer.generate()),)
    )
    assert recorded_statements(None, _override(), bundle, None, refused=True) == {}


def test_an_accepted_override_is_recorded_whole_with_the_verdict_form() -> None:
    override = _override()
    out = recorded_statements(None, override, None, None, refused=False)
    assert out == {"override": override.facts(), "verdict_form": VERDICT_FORM}


def test_a_verdict_on_other_approvals_is_not_recorded_as_the_verdict_on_these() -> None:
    """An activation given new approvals after an attempt it judged still holds that
    attempt's verdict: recording it would list the old request's approvals under the new
    one. Without a roster to judge the new ones by, they are left out."""
    from tcr_kit.hsm.approval import ApprovalCheck

    first, second = _request(), _request("ef" * 32)
    signer = SoftwareEd25519Signer.generate()
    old = ApprovalBundle(first, (sign_request(first, "tcr-1", signer),))
    new = ApprovalBundle(second, (sign_request(second, "tcr-1", signer),))
    stale = ApprovalCheck(first, valid=list(old.approvals))
    assert recorded_statements(None, None, new, stale, refused=True) == {}
    kept = recorded_statements(None, None, old, stale, refused=True)
    assert kept == {"approvals": old.facts(check=stale), "verdict_form": VERDICT_FORM}


def test_approvals_cannot_be_written_without_the_verdict_on_them() -> None:
    """``ApprovalBundle.facts`` is public API: a script calling it without a verdict would
    write approvals with no ``rejected`` list, which ``tcr audit verify`` refuses in a refused
    activation once the log holds ``verdict_form``. The verdict is a required keyword."""
    import pytest

    from tcr_kit.hsm.approval import ApprovalCheck

    request = _request()
    bundle = ApprovalBundle(
        request, (sign_request(request, "tcr-1", SoftwareEd25519Signer.generate()),)
    )
    with pytest.raises(TypeError):
        bundle.facts()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        bundle.facts(ApprovalCheck(request))  # type: ignore[call-arg]
    verdict = ApprovalCheck(request, rejected=[("tcr-1", "not a TCR")])
    assert bundle.facts(check=verdict) == {
        "request_sha256": request.sha256,
        "request": request.facts(),
        "approvals": [],
        "rejected": [{"signer": "tcr-1", "reason": "not a TCR"}],
    }
