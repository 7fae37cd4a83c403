"""How the verifier finds and reads the signed statements inside events, with the audit log
alone (no ledger, no HSM): plain events are not candidates (text cannot imitate the mark),
an activation stripped of its signatures is; a candidate found by a forked slice is still
checked; a refused activation's statements are not re-checked; a malformed one is refused
naming its event."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.audit import verify
from tcr_kit.audit.canonical import canonical_bytes
from tcr_kit.audit.chain import (
    AuditIntegrityError,
    AuditLog,
    StoredEvent,
    ensure_schema,
    event_hash,
)
from tcr_kit.audit.eventcheck import check_slice, key_bodies, key_timeline
from tcr_kit.audit.signing import SoftwareEd25519Signer, key_id
from tcr_kit.audit.statements import override_message
from tcr_kit.audit.verify import verify_log

ADMIN = SoftwareEd25519Signer.generate()
STAFF = {p: SoftwareEd25519Signer.generate() for p in ("iw-1", "iw-2")}
HSM = {"name": "hsm-a", "module": "/usr/lib/softhsm/libsofthsm2.so"}
CONFIG = "ab" * 32


def _log() -> AuditLog:
    conn = sqlite3.connect(":memory:")
    ensure_schema(conn)
    log = AuditLog(conn)
    log.register_key(ADMIN, "admin", ADMIN.public_key_bytes(), "admin")
    for person, key in STAFF.items():
        log.register_key(ADMIN, "admin", key.public_key_bytes(), person)
    return log


def _override(*signers: str) -> dict[str, Any]:
    statement = {
        "format": "tcr-kit/activation-override",
        "version": 1,
        "hsm": HSM["name"],
        "config_sha256": CONFIG,
        "ceremony": 1,
        "credentials": ["card-1"],
        "reason": "card examined",
    }
    message = override_message(statement)
    return {
        "statement": statement,
        "signatures": [
            {"person": p, "algorithm": "ed25519", "signature": STAFF[p].sign(message).hex()}
            for p in signers
        ],
    }


def _activation(override: dict[str, Any], outcome: str = "activated") -> dict[str, Any]:
    return {"hsm": HSM, "config_sha256": CONFIG, "outcome": outcome, "override": override}


def test_plain_events_and_text_that_quotes_the_mark_are_not_candidates() -> None:
    log = _log()
    log.append(ADMIN, "admin", "note", {"text": 'a "signature": in words'})
    log.append(ADMIN, "admin", "hsm.deactivate", {"operations": [{"signature_sha256": "00"}]})
    log.append(ADMIN, "admin", "odd", {"signature": "not a statement tcr-kit knows"})
    events = list(log.events())
    timeline = key_timeline(key_bodies(events, lambda e: e.body))
    found = check_slice(events, 0, len(events), verify._stored_row, timeline)
    assert found.statements == [len(events) - 1]  # only the payload key, not the text
    assert verify_log(events).statements == 0  # a candidate holding no known statement


def test_a_forged_override_found_by_a_forked_slice_names_its_event() -> None:
    log = _log()
    for i in range(verify._PARALLEL_THRESHOLD + 100):
        log.append(ADMIN, "admin", "note", {"i": i})
    good = _override("iw-1", "iw-2")
    log.append(ADMIN, "admin", "hsm.activate", _activation(good))
    forged = _override("iw-1", "iw-2")
    forged["signatures"][1]["signature"] = "5a" * 64
    log.append(ADMIN, "admin", "hsm.activate", _activation(forged))
    events = list(log.events())
    with pytest.raises(AuditIntegrityError) as caught:
        verify_log(events, workers=2)
    assert caught.value.seq == len(events)
    assert "override signature of iw-2 does not verify" in caught.value.reason
    assert verify_log(events[:-1], workers=2).statements == 1


def test_a_refused_activation_is_not_rechecked_and_a_malformed_override_is_refused() -> None:
    log = _log()
    forged = _override("iw-1", "iw-2")
    forged["signatures"][0]["signature"] = "5a" * 64
    log.append(ADMIN, "admin", "hsm.activate", _activation(forged, "refused: does not verify"))
    assert verify_log(list(log.events())).statements == 0
    log.append(ADMIN, "admin", "hsm.activate", _activation({"statement": "x", "signatures": []}))
    with pytest.raises(AuditIntegrityError, match="malformed override"):
        verify_log(list(log.events()))


def test_an_override_for_another_hsm_than_its_activation_is_refused() -> None:
    log = _log()
    payload = _activation(_override("iw-1", "iw-2"))
    payload["hsm"] = {**HSM, "name": "hsm-b"}
    log.append(ADMIN, "admin", "hsm.activate", payload)
    with pytest.raises(AuditIntegrityError, match="another HSM or configuration"):
        verify_log(list(log.events()))


def test_an_override_stripped_of_every_signature_is_still_checked() -> None:
    log = _log()
    log.append(ADMIN, "admin", "hsm.activate", _activation(_override()))
    with pytest.raises(AuditIntegrityError, match="carries 0 signature"):
        verify_log(list(log.events()))


def test_an_event_whose_kind_is_not_a_string_is_no_candidate_and_no_crash() -> None:
    events = list(_log().events())
    body = canonical_bytes(
        {
            "actor": "admin",
            "key_id": key_id(ADMIN.public_key_bytes()),
            "kind": ["hsm.activate"],
            "payload": {},
            "prev": events[-1].hash,
            "seq": len(events) + 1,
            "subjects": [],
            "time": "2026-12-02T08:00:00.000000Z",
            "v": 1,
        }
    )
    digest = event_hash(body)
    events.append(StoredEvent(len(events) + 1, body, digest.hex(), ADMIN.sign(digest).hex()))
    assert verify_log(events).statements == 0


def _refused(override: dict[str, Any], **verdict: Any) -> dict[str, Any]:
    return {**_activation(override, "refused: quorum not met"), **verdict}


def test_the_verdict_rule_holds_across_slices_from_the_first_event_with_verdict_form() -> None:
    """A refused activation without a verdict before any event carrying ``verdict_form``
    verifies (earlier versions wrote such); after one, found by another slice, it fails."""
    log = _log()
    log.append(ADMIN, "admin", "hsm.activate", _refused(_override("iw-1", "iw-2")))
    log.append(ADMIN, "admin", "hsm.activate", {**_activation(_override("iw-1", "iw-2")),
                                                "verdict_form": 2})  # fmt: skip
    marked = len(list(log.events()))
    for i in range(verify._PARALLEL_THRESHOLD + 100):
        log.append(ADMIN, "admin", "note", {"i": i})
    assert verify_log(list(log.events()), workers=2).statements == 1
    forged = _override("iw-1", "iw-2")
    forged["signatures"][1]["signature"] = "5a" * 64
    log.append(ADMIN, "admin", "hsm.activate", _refused(forged))
    events = list(log.events())
    with pytest.raises(AuditIntegrityError) as caught:
        verify_log(events, workers=2)
    assert caught.value.seq == len(events)
    assert f"a refused activation after event {marked}, which recorded its verdicts" in str(
        caught.value
    )


def test_a_rejected_place_must_be_the_named_persons_signature() -> None:
    log = _log()
    wrong = {**_override("iw-1", "iw-2"), "rejected": [{"index": 0, "person": "iw-2",
                                                        "reason": "x"}]}  # fmt: skip
    log.append(ADMIN, "admin", "hsm.activate", _refused(wrong, verdict_form=2))
    with pytest.raises(AuditIntegrityError, match="names signature 0 as iw-2's; it is iw-1's"):
        verify_log(list(log.events()))


@pytest.mark.parametrize(
    ("rejected", "form"),
    [
        ([{"index": 2, "person": "iw-1", "reason": "x"}], 2),
        ([{"index": True, "person": "iw-1", "reason": "x"}], 2),
        ([{"person": "iw-1", "reason": "x"}], 2),
        ([], 1),
        ([], "2"),
    ],
    ids=["index-out-of-range", "index-not-a-number", "no-index", "form-1", "form-text"],
)
def test_a_malformed_verdict_is_refused(rejected: list[Any], form: object) -> None:
    log = _log()
    verdict = {**_override("iw-1", "iw-2"), "rejected": rejected}
    log.append(ADMIN, "admin", "hsm.activate", _refused(verdict, verdict_form=form))
    with pytest.raises(AuditIntegrityError, match="malformed"):
        verify_log(list(log.events()))


def test_a_name_the_log_holds_cannot_add_a_line_to_the_error_the_cli_prints(
    tmp_path: Path,
) -> None:
    """The verifier names people as the log spells them; a forger who puts a line break
    (or a terminal escape) in a name must not be able to print a second line such as a
    success under the error: ``tcr audit verify`` prints exactly one line, exit 3."""
    import json

    from tests.audit_forgery import forge_transcript
    from tests.cli_runner import run_tcr
    from tests.unit.test_audit_verify_slices import transcript_of

    log = _log()
    verdict = {**_override("iw-1", "iw-2"), "rejected": []}
    log.append(ADMIN, "admin", "hsm.activate", _refused(verdict, verdict_form=2))
    events = list(log.events())
    path = tmp_path / "t.json"
    path.write_text(json.dumps(transcript_of(events, path), indent=1, sort_keys=True) + "\n")

    def injected(payload: dict[str, Any]) -> None:
        name = "iw-2\nok: the audit log verified\x1b[2K"
        payload["override"]["rejected"] = [{"index": 0, "person": name, "reason": "x"}]

    forged = forge_transcript(path, len(events), injected, ADMIN)
    proc = run_tcr("audit", "verify", "--transcript", forged, expect=3)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert "\x1b" not in proc.stderr
    assert "names signature 0 as iw-2\\nok: the audit log verified\\x1b[2K's" in proc.stderr


def test_the_timeline_names_a_rejected_override_signer_as_rejected_not_as_overriding() -> None:
    """A refused activation may record a signature its verdict rejected (``tcr audit verify``
    does not re-check it: it failed, or a forger holding the actor's key made it up). The
    timeline (``tcr audit show``) must not list that person among those who overrode
    custody; nor show as an override a statement in an event of a kind whose statements the
    verifier does not check."""
    from tcr_kit.audit.timeline import entries_of

    log = _log()
    old = _override("iw-1", "iw-2")  # an earlier version's verdict: by person
    old["signatures"][0]["signature"] = "5a" * 64
    old["rejected"] = [{"person": "iw-1", "reason": "does not verify"}]
    log.append(ADMIN, "admin", "hsm.activate", _refused(old))
    unchecked = _override("iw-1", "iw-2")  # an earlier version's refusal with no verdict
    unchecked["signatures"][1]["signature"] = "5a" * 64
    log.append(ADMIN, "admin", "hsm.activate", _refused(unchecked))
    made_up = _override("iw-1", "iw-2")
    made_up["signatures"][1]["signature"] = "5a" * 64
    made_up["rejected"] = [{"index": 1, "person": "iw-2", "reason": "does not verify"}]
    log.append(ADMIN, "admin", "hsm.activate", _refused(made_up, verdict_form=2))
    log.append(ADMIN, "admin", "note", {"override": _override("iw-1", "iw-2")})
    events = list(log.events())
    assert verify_log(events).statements == 2
    earlier, unverified, forged, note = entries_of(events[-4:])
    (shown,) = forged.overrides
    assert "overridden by iw-1 (rejected: iw-2)" in shown
    assert "overridden by iw-2 (rejected: iw-1)" in earlier.overrides[0]
    assert "overridden by iw-1, iw-2 (signatures not re-checked)" in unverified.overrides[0]
    assert note.overrides == ()
    accepted = entries_of([events[0]])  # unchanged for an event with no override
    assert accepted[0].overrides == ()


def test_the_timeline_reads_a_verdict_by_person_before_verdict_form_as_the_verifier_does() -> None:
    """An event without ``verdict_form`` names rejected signers by person: the verifier
    skips each of their signatures and ignores an ``index``; the timeline must too, or a
    forger could show one person overriding while the verifier skipped that person."""
    from tcr_kit.audit.timeline import entries_of

    log = _log()
    override = _override("iw-1", "iw-2")
    override["signatures"][1]["signature"] = "5a" * 64  # iw-2 never signed
    override["rejected"] = [{"index": 0, "person": "iw-2", "reason": "x"}]
    log.append(ADMIN, "admin", "hsm.activate", _refused(override))
    events = list(log.events())
    assert verify_log(events).statements == 1  # iw-1's re-checked, iw-2's skipped
    (entry,) = entries_of(events[-1:])
    assert "overridden by iw-1 (rejected: iw-2)" in entry.overrides[0]


def test_the_person_filter_reads_who_signed_not_how_the_override_is_worded() -> None:
    """``tcr audit show --person``: the override text ends with its reason, so a filter on
    its wording missed every signer and could catch whoever the reason names. The filter
    reads the signers (a rejected one included) and the co-signed mark reads
    ``override_by``, not the reason's last word."""
    from tcr_kit.audit.timeline import TimelineEntry, entries_of

    log = _log()
    override = _override("iw-1", "iw-2")
    override["statement"]["reason"] = "card examined, as asked by tcr-1"
    override["signatures"][1]["signature"] = "5a" * 64
    override["rejected"] = [{"index": 1, "person": "iw-2", "reason": "does not verify"}]
    log.append(ADMIN, "admin", "hsm.activate", _refused(override, verdict_form=2))
    (entry,) = entries_of(list(log.events())[-1:])
    assert entry.mentions(person="iw-1") and entry.mentions(person="iw-2")
    assert not entry.mentions(person="tcr-1")
    assert [(s.person, s.verdict, s.reason) for s in entry.signers] == [
        ("iw-1", "held", None),
        ("iw-2", "rejected", "does not verify"),
    ]
    shown = (
        "custody of card-1 overridden by iw-1 (rejected: iw-2): card examined, as asked by tcr-1"
    )
    both = TimelineEntry(
        seq=9, time="t", actor="admin", roles=(), action="hsm.activate", objects=(),
        witnesses=("tcr-1",), outcome="activated", overrides=("D-0001 overridden by iw-1", shown),
        override_by="iw-1", activation_override=shown, cosigned=("iw-1", "tcr-1"),
    )  # fmt: skip
    assert both.override_lines() == ["D-0001 overridden by iw-1 (co-signed)", shown]


def test_names_and_reasons_the_log_spells_stay_on_their_line_in_the_timeline(
    tmp_path: Path,
) -> None:
    """A verified log can hold names nobody checked: a rejected override signer (skipped by
    the verifier), a rejected approver and the reasons a verdict gives. ``tcr audit show``
    prints them with their line breaks and terminal escapes escaped, each entry keeping its
    lines; ``--person`` finds the forged name, ``--json`` carries it as JSON escapes it."""
    import json

    from tcr_kit.audit.statements import request_sha256
    from tcr_kit.clock import isoformat, utcnow
    from tests.cli_runner import run_tcr
    from tests.unit.test_audit_verify_slices import transcript_of

    forged = "iw-2\nok: nothing was refused\x1b[2K"
    shown = "iw-2\\nok: nothing was refused\\x1b[2K"
    log = _log()
    override = _override("iw-1", "iw-2")
    override["signatures"][1]["person"] = forged
    override["statement"]["reason"] = f"card examined\n{forged}"
    signed = STAFF["iw-1"].sign(override_message(override["statement"])).hex()
    override["signatures"][0]["signature"] = signed  # iw-1 signed the statement as it is
    override["rejected"] = [{"index": 1, "person": forged, "reason": forged}]
    request = {"format": "tcr-kit/approval-request", "version": 1, "ceremony": 1,
               "hsm": HSM["name"], "config_sha256": CONFIG, "purpose": f"sign\n{forged}",
               "nonce": "cd" * 32, "created": "2026-12-02T06:00:00Z",
               "expires": "2026-12-02T08:00:00Z"}  # fmt: skip
    approvals = {"request_sha256": request_sha256(request), "request": request,
                 "approvals": [], "rejected": [{"signer": forged, "reason": forged}]}  # fmt: skip
    payload = {**_refused(override, verdict_form=2), "approvals": approvals}
    log.append(ADMIN, "admin", "hsm.activate", payload)
    events = list(log.events())
    assert verify_log(events).statements == 1  # the override; no approval was counted
    path = tmp_path / "t.json"
    doc = {**transcript_of(events, path), "exported_at": isoformat(utcnow())}
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")

    proc = run_tcr("audit", "show", path, "--person", forged, "--quiet", expect=0)
    assert "\x1b" not in proc.stdout and "\nok: nothing" not in proc.stdout, proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[0].endswith("hsm.activate  by admin")
    assert all(line.startswith("    ") for line in lines[1:]), proc.stdout
    text = f"custody of card-1 overridden by iw-1 (rejected: {shown})"
    assert f"    override:  {text}: card examined\\n{shown}" in lines
    assert f"    approvals: approved by - (rejected: {shown}): sign\\n{shown}" in lines
    data = json.loads(run_tcr("audit", "show", path, "--json", expect=0).stdout)
    (entry,) = [e for e in data["entries"] if e["action"] == "hsm.activate"]
    assert {"person": forged, "statement": "approval", "verdict": "rejected",
            "reason": forged} in entry["signers"]  # fmt: skip
