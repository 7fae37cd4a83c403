"""What an ``hsm.activate`` event records of the statements it was given, and its verdict.

An activation may be given an emergency override (staff signatures) and remote approvals
(TCR signatures). ``tcr audit verify`` re-checks every signature an event records, except
those a refused activation's verdict rejects (:mod:`tcr_kit.audit.statements`): a refused
activation may hold the very signatures that failed, so what it records must say which
held. This module decides what goes into the event, whatever path the refusal took:

* a statement is recorded **with its verdict or not at all**: the override of a refused
  activation with ``rejected`` (each signature that does not hold under its signer's roster
  key, named by its place in ``signatures``), the approvals with only those counted valid
  and the others under ``rejected``. A refusal that came before the approvals were examined
  (a staff card refusing to sign the override) examines them now; one that cannot examine a
  statement (no ledger, so no roster) records none.
* an event that records a statement carries ``verdict_form`` (:data:`VERDICT_FORM`): from
  the first such event on, the verifier requires every refused activation recording a
  statement to carry its verdict, so that a forger holding the actor's key cannot drop one
  to escape the re-check (docs/audit-format.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tcr_kit.audit.statements import VERDICT_FORM
from tcr_kit.errors import TcrError
from tcr_kit.hsm.clearance import override_rejections

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Ledger
    from tcr_kit.hsm.approval import ApprovalBundle, ApprovalCheck
    from tcr_kit.hsm.clearance import ActivationOverride

__all__ = ["VERDICT_FORM", "recorded_statements"]


def recorded_statements(
    ledger: Ledger | None,
    override: ActivationOverride | None,
    approvals: ApprovalBundle | None,
    check: ApprovalCheck | None,
    *,
    refused: bool,
) -> dict[str, Any]:
    """The ``override``, ``approvals`` and ``verdict_form`` fields of an ``hsm.activate``
    event (:class:`~tcr_kit.hsm.events.ActivationEvent`); ``check`` is the activation's
    verdict on ``approvals`` if it examined them (``None``: it did not, and they are
    examined here). A ``check`` of other approvals (an earlier attempt's, before a script
    gave new ones) is not their verdict: they are examined here too."""
    out: dict[str, Any] = {}
    if override is not None:
        if not refused:
            out["override"] = override.facts()  # every signature held: all are re-checked
        elif ledger is not None:
            rejected = override_rejections(ledger, override)  # what held, what did not
            out["override"] = {**override.facts(), "rejected": rejected}
    if approvals is not None:
        verdict = check if _is_verdict_on(check, approvals) else _examine(ledger, approvals)
        if verdict is not None:
            out["approvals"] = approvals.facts(check=verdict)
    if out:
        out["verdict_form"] = VERDICT_FORM
    return out


def _is_verdict_on(check: ApprovalCheck | None, bundle: ApprovalBundle) -> bool:
    """Whether ``check`` judged the approvals of ``bundle``: the same request, and those it
    counted among them (the event records ``check``'s list under ``bundle``'s request)."""
    return (
        check is not None
        and check.request == bundle.request
        and all(a in bundle.approvals for a in check.valid)
    )


def _examine(ledger: Ledger | None, bundle: ApprovalBundle) -> ApprovalCheck | None:
    """The verdict on each approval of ``bundle`` against the roster of ``ledger`` (as the
    activation's own check sorts them); ``None`` when there is no roster to judge by."""
    if ledger is None:
        return None
    from tcr_kit.hsm.approval import check_approvals, ledger_roster

    try:
        return check_approvals(bundle.request, bundle.approvals, ledger_roster(ledger))
    except TcrError:  # the ledger could not be read: record no approvals rather than guess
        return None
