"""A person's history (``tcr status``) lists every activation and manifest event that
concerns them by the one rule of :mod:`tcr_kit.audit.concerns`, whatever the reason, and
says how: each reason the rule knows (``tests/unit/test_audit_concerns.py``'s bodies), read
as a person reads it. The real logs are in ``tests/integration/test_status_activations.py``;
these bodies reach the cases a real activation no longer writes (a refusal recorded before
verdicts were kept)."""

from __future__ import annotations

from typing import Any

import pytest

from tcr_kit.audit.canonical import canonical_bytes
from tcr_kit.audit.chain import StoredEvent
from tcr_kit.audit.timeline import entries_of
from tcr_kit.custody.history import PersonHistory, person_history
from tests.unit.test_audit_concerns import BODIES, _body

SHOWN = {
    "actor": ["recorded it"],
    "subject": ["named in it"],
    "witness": ["named in it"],
    "witnessed_by in a record": ["named in it"],
    "witnesses": ["named in it"],
    "co-signer": ["named in it"],
    "override_by": ["named in it"],
    "record holder": ["named in it"],
    "presented holder": ["presented share ?"],
    "presented tcr_id": ["presented share ?"],
    "override signer": ["signed the override"],
    "rejected override signer": ["signed the override (rejected)"],
    "approver": ["approval counted"],
    "rejected approver": ["approval rejected"],
    "manifest signer": ["signed manifest revision ?"],
    # Neither an activation nor a manifest: status does not list it (receipts and 'tcr
    # audit show --person' do).
    "owner of a registered key": [],
}


def _person_added(seq: int, who: str) -> dict[str, Any]:
    record = {"table": "person", "key": who, "doc": {"id": who, "name": who.upper(), "roles": []}}
    return _body({"records": [record]}, seq=seq, kind="person.add", actor="sa",
                 subjects=[f"person:{who}"])  # fmt: skip


def _history(person: str, *bodies: dict[str, Any]) -> PersonHistory:
    """``person``'s history from the roster events of ca, p and q (whom no body names),
    then ``bodies`` (numbered from 4 on)."""
    roster = [_person_added(seq, who) for seq, who in ((1, "ca"), (2, "p"), (3, "q"))]
    numbered = [{**b, "seq": seq} for seq, b in enumerate(bodies, 4)]
    events = [StoredEvent(b["seq"], canonical_bytes(b), "00", "00") for b in roster + numbered]
    return person_history(entries_of(events), person)


def test_every_reason_the_rule_knows_is_shown() -> None:
    assert set(SHOWN) == set(BODIES)


@pytest.mark.parametrize("why", sorted(BODIES))
def test_an_activation_or_manifest_concerning_a_person_for_any_reason_is_listed_with_how(
    why: str,
) -> None:
    person = "ca" if why == "actor" else "p"
    hist = _history(person, BODIES[why])
    if not SHOWN[why]:
        assert hist.activations == hist.manifests == ()
        return
    listed = hist.manifests if why == "manifest signer" else hist.activations
    (event,) = listed
    assert event.seq == 4 and event.action == BODIES[why]["kind"]
    assert [i.text() for i in event.involvements] == SHOWN[why]
    assert (hist.activations + hist.manifests) == (event,)
    bystander = _history("q", BODIES[why])
    assert bystander.activations == bystander.manifests == ()


def test_a_refusal_recorded_before_verdicts_were_kept_is_shown_not_re_checked() -> None:
    """An old log's refused activation carries no ``rejected``: its signatures were never
    re-checked, and the person's view says so rather than 'held' or 'rejected'."""
    old = _body(
        {
            "outcome": "refused: quorum not met",
            "override": {"signatures": [{"person": "ca"}, {"person": "p"}]},
            "approvals": {"approvals": [{"signer": "p"}]},
            "presented": [{"holder": "p", "index": 4}],
        }
    )
    (event,) = _history("p", old).activations
    assert [i.text() for i in event.involvements] == [
        "presented share 4",
        "signed the override (not re-checked)",
        "approval not re-checked",
    ]
    assert [i.to_json()["verdict"] for i in event.involvements] == [
        None, "not re-checked", "not re-checked"
    ]  # fmt: skip


def test_only_activations_and_manifests_are_listed_and_only_those_concerning_the_person() -> None:
    seal = _body({"witness": "p"}, kind="bag.seal")
    theirs = _body({"presented": [{"holder": "p", "index": 2}]})
    others = _body({"presented": [{"holder": "ca", "index": 1}]})
    revision = _body({"manifest": {"revision": 2, "signer": {"id": "p"}}}, kind="share-set.extend")
    hist = _history("p", seal, theirs, others, revision)
    assert [(e.seq, [i.text() for i in e.involvements]) for e in hist.activations] == [
        (5, ["presented share 2"])
    ]
    assert [(e.seq, e.action) for e in hist.manifests] == [(7, "share-set.extend")]
    assert hist.manifests[0].involvements[0].text() == "signed manifest revision 2"
    doc = hist.to_json()
    assert [a["seq"] for a in doc["activations"]] == [5] and doc["manifests"][0]["seq"] == 7
