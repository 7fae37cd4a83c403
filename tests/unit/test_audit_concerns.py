"""Which events concern a person: one rule (``tcr_kit.audit.concerns``) for receipts and
the timeline's person filter, read from the event body alone."""

from __future__ import annotations

from typing import Any

import pytest

from tcr_kit.audit.canonical import canonical_bytes
from tcr_kit.audit.chain import StoredEvent
from tcr_kit.audit.concerns import concerns, people_concerned
from tcr_kit.audit.receipt import mentions
from tcr_kit.audit.timeline import entries_of


def _body(payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"v": 1, "seq": 7, "kind": "hsm.activate", "actor": "ca", "time": "t",
            "subjects": ["hsm:h1"], "payload": payload, "key_id": "k", **extra}  # fmt: skip


BODIES = {
    "actor": _body({}),
    "subject": _body({}, subjects=["person:p", "bag:B1"]),
    "witness": _body({"witness": "p"}),
    "witnessed_by in a record": _body(
        {"records": [{"table": "bag", "key": "B1", "doc": {"witnessed_by": "p"}}]}
    ),
    "witnesses": _body({"witnesses": ["x", "p"]}),
    "co-signer": _body({"cosigners": [{"person": "p", "key_id": "k2"}]}),
    "override_by": _body({"override_by": "p"}),
    "record holder": _body(
        {"records": [{"table": "credential", "key": "c", "doc": {"holder": "p"}}]}
    ),
    "presented holder": _body({"presented": [{"credential": "c-1", "holder": "p"}]}),
    "presented tcr_id": _body({"presented": [{"tcr_id": "p"}]}),
    "override signer": _body({"override": {"signatures": [{"person": "x"}, {"person": "p"}]}}),
    "rejected override signer": _body(
        {
            "outcome": "refused: x",
            "override": {
                "signatures": [{"person": "p"}],
                "rejected": [{"index": 0, "person": "p"}],
            },
        }
    ),
    "approver": _body({"approvals": {"approvals": [{"signer": "p"}]}}),
    "rejected approver": _body({"approvals": {"approvals": [], "rejected": [{"signer": "p"}]}}),
    "manifest signer": _body({"manifest": {"signer": {"id": "p"}}}, kind="share-set.manifest"),
    "owner of a registered key": _body(
        {"algorithm": "ed25519", "key_id": "kp", "owner": "p", "public_key": "00"},
        kind="audit.key.add",
        subjects=["key:kp"],
    ),
}


@pytest.mark.parametrize("why", sorted(BODIES))
def test_an_event_concerns_a_person_for_each_reason_and_receipts_and_timeline_agree(
    why: str,
) -> None:
    body = BODIES[why]
    person = "ca" if why == "actor" else "p"
    assert concerns(body, person) and mentions(body, person)
    event = StoredEvent(7, canonical_bytes(body), "00", "00")
    (entry,) = entries_of([event])
    assert entry.mentions(person=person)
    assert entry.people() == people_concerned(body)
    assert not concerns(body, "nobody") and not entry.mentions(person="nobody")


def test_a_name_in_free_text_or_a_malformed_field_concerns_nobody() -> None:
    """Only the fields the rule names count, and only text values: a reason naming a person,
    a holder that is a number, a malformed co-signer declaration or a signer list that is no
    list names nobody (the verifier judges the event itself)."""
    body = _body(
        {
            "override": {"statement": {"reason": "p is ill"}, "signatures": "p"},
            "presented": [{"holder": 7}, "p"],
            "cosigners": [{"person": "p"}],
            "approvals": {"approvals": {"signer": "p"}},
            "manifest": {"signer": "p"},
        }
    )
    assert people_concerned(body) == {"ca"}


def test_an_owner_field_outside_a_key_registration_concerns_nobody() -> None:
    """``owner`` names a person only in ``audit.key.add``, whose key it registers to them:
    the same field in any other event (a bag's owner, say) is not read."""
    assert people_concerned(_body({"owner": "p"}, kind="bag.seal")) == {"ca"}
    registration = _body({"owner": "p"}, kind="audit.key.add")
    assert people_concerned(registration) == {"ca", "p"}
    assert people_concerned(_body({"owner": 7}, kind="audit.key.add")) == {"ca"}
