"""A transcript read in two halves verifies exactly as when read whole.

The halves path (``tcr_kit.audit.halves``) cuts the file between two events and parses each
half in its own process. These tests hold it to three promises: where it cuts, the two
halves together are what :func:`json.loads` reads from the whole file; it never reports a
success the whole-file path would not; and every failure is reported by the whole-file
path, in its words. The transcripts are written as ``tcr audit export`` writes them
(``indent=1``, sorted keys), which is what the cut looks for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.audit import halves, transcript
from tcr_kit.audit.chain import KEY_ADD, KEY_REVOKE
from tcr_kit.audit.selection import EventSelection
from tcr_kit.audit.transcript import verify_transcript
from tcr_kit.errors import IntegrityError, TcrError
from tests.unit.test_audit_verify_slices import (
    ADMIN,
    CLERK,
    N,
    plain_log,
    registration_of,
    transcript_of,
    write_log,
)


@pytest.fixture(autouse=True)
def _any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small files take the halves path too (a real transcript must exceed 1 MiB)."""
    monkeypatch.setattr(halves, "MIN_BYTES", 0)


@pytest.fixture
def used(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each verification's halves came back checked (``None``: whole file)."""
    calls: list[bool] = []
    real = halves.check_in_halves

    def spy(*args: Any, **kwargs: Any) -> halves.Halves | None:
        result = real(*args, **kwargs)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(halves, "check_in_halves", spy)
    return calls


def write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def outcome(path: Path, workers: int) -> Any:
    try:
        return verify_transcript(path, workers=workers)
    except TcrError as exc:
        return type(exc), str(exc)


def test_a_good_transcript_verifies_in_halves_as_it_does_whole(
    tmp_path: Path, used: list[bool]
) -> None:
    path = tmp_path / "t.json"
    doc = transcript_of(list(plain_log()), tmp_path / "plain.json")
    write(path, doc)
    whole = verify_transcript(path, workers=1)
    assert verify_transcript(path, workers=2) == whole
    assert used == [True]
    assert whole.report.events == N


def test_keys_added_and_revoked_on_both_sides_of_the_cut_and_a_selection(
    tmp_path: Path, used: list[bool]
) -> None:
    plan = {
        5: (ADMIN, KEY_ADD, registration_of(CLERK)),
        6: (CLERK, "test.step", {"by": "clerk"}),
        N - 20: (CLERK, "test.step", {"by": "clerk"}),
        N - 10: (ADMIN, KEY_REVOKE, {"key_id": CLERK.kid}),
    }
    path = tmp_path / "t.json"
    doc = transcript_of(write_log(N, plan), tmp_path / "plain.json")
    since = "2026-12-02T04:00:00Z"
    doc["selection"]["criteria"]["since"] = since
    doc["selection"]["description"] = EventSelection.parse(since=since).description
    write(path, doc)
    whole = verify_transcript(path, workers=1)
    assert verify_transcript(path, workers=2) == whole
    assert used == [True]
    assert whole.report.keys[CLERK.kid].revoked_seq == N - 10


def _tamper(doc: dict[str, Any], how: str, cut_seq: int) -> None:
    events = doc["events"]
    if how == "signature in the front":
        events[10]["signature"] = "00" * 64
    elif how == "signature in the back":
        events[N - 5]["signature"] = "00" * 64
    elif how == "first event after the cut":
        events[cut_seq - 1]["body"] = events[cut_seq - 1]["body"].replace("test.step", "test.stop")
    elif how == "malformed entry in the back":
        events[N - 3]["seq"] = "x"
    elif how == "head":
        doc["head"]["seq"] = N - 1
    elif how == "unknown member":
        doc["zzz"] = 1
    elif how == "keys":
        doc["keys"] = []
    elif how == "exported before the last event":
        doc["exported_at"] = "2020-01-01T00:00:00Z"
    elif how == "selection":
        doc["selection"]["seqs"] = doc["selection"]["seqs"][:-1]
    elif how == "version":
        doc["version"] = 2


TAMPERING = [
    "signature in the front",
    "signature in the back",
    "first event after the cut",
    "malformed entry in the back",
    "head",
    "unknown member",
    "keys",
    "exported before the last event",
    "selection",
    "version",
]


@pytest.mark.parametrize("how", TAMPERING)
def test_every_failure_is_reported_as_the_whole_file_path_reports_it(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "t.json"
    doc = transcript_of(list(plain_log()), tmp_path / "plain.json")
    write(path, doc)
    cut = halves.find_cut(path.read_bytes())
    assert cut is not None
    cut_seq = json.loads(path.read_bytes()[: cut[0]] + b"]}")["events"][-1]["seq"] + 1
    _tamper(doc, how, cut_seq)
    write(path, doc)
    raw = path.read_bytes()
    # Never a success...
    assert transcript._verify_in_halves(path, raw, None, None) is None
    # ...and the error is the whole file's.
    expected = outcome(path, 1)
    assert isinstance(expected, tuple)
    assert outcome(path, 2) == expected


def test_a_second_events_member_after_the_cut_sends_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    doc = transcript_of(list(plain_log()), tmp_path / "plain.json")
    write(path, doc)
    text = path.read_text()
    # The standard library keeps the last "events": the list that was cut is not the one
    # that counts. Such a file must not be read in halves.
    path.write_text(text[: text.rindex("}")] + ',"events": []}\n')
    raw = path.read_bytes()
    cut = halves.find_cut(raw)
    assert cut is not None
    with pytest.raises(halves._NotCut):
        halves.parse_back(raw, cut[1])
    assert halves.check_in_halves(raw, lambda e: e, lambda e: None, lambda m: None) is None
    with pytest.raises(IntegrityError):
        verify_transcript(path, workers=2)


def test_a_back_half_process_that_fails_leaves_the_verdict_to_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, used: list[bool]
) -> None:
    path = tmp_path / "t.json"
    write(path, transcript_of(list(plain_log()), tmp_path / "plain.json"))

    def die(*args: Any) -> None:
        os._exit(3)

    monkeypatch.setattr(halves, "_back_process", die)
    assert verify_transcript(path, workers=2) == verify_transcript(path, workers=1)
    assert used == [False]


def test_progress_in_halves_reaches_every_event(tmp_path: Path, used: list[bool]) -> None:
    path = tmp_path / "t.json"
    write(path, transcript_of(list(plain_log()), tmp_path / "plain.json"))
    seen: list[tuple[int, int]] = []
    verify_transcript(path, workers=2, progress=lambda done, total: seen.append((done, total)))
    assert used == [True]
    assert seen[-1] == (N, N)
    assert all(total == N and 0 <= done <= N for done, total in seen)


# Where the cut is allowed, the halves are the whole: checked at every candidate cut of
# generated documents, not only the one near the middle.

_json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=6)
_objects = st.dictionaries(
    st.sampled_from(["a", "b", "events", "body", "}", '"events"']),
    st.recursive(
        _json_scalars | st.just("},\n  {") | st.just('"events": ['),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=6,
    ),
    max_size=3,
)
_documents = st.fixed_dictionaries(
    {"events": st.lists(_objects, min_size=1, max_size=6)},
    optional={
        "checkpoints": st.lists(_objects, max_size=3),
        "keys": st.lists(_objects, max_size=3),
        "zz": st.lists(st.lists(_objects, max_size=2), max_size=2),
    },
)


@settings(max_examples=300, deadline=None)
@given(_documents, st.booleans(), st.booleans())
def test_at_every_allowed_cut_the_two_halves_are_the_whole_file(
    doc: dict[str, Any], sort_keys: bool, duplicate: bool
) -> None:
    text = json.dumps(doc, indent=1, sort_keys=sort_keys)
    if duplicate:  # a later member named "events" replaces the list that was cut
        text = text[: text.rindex("}")] + ',\n "events": [\n  {},\n  {}\n ]\n}'
    raw = text.encode()
    whole = json.loads(raw)
    for found in halves._CUT.finditer(raw):
        comma, start = raw.index(b",", found.start()), found.end() - 1
        try:
            front = halves.parse_front(raw, comma)
            back = halves.parse_back(raw, start)
        except halves._NotCut:
            continue
        assert front["events"] + back["events"] == whole["events"]
        assert halves.merge(front, back) == {k: v for k, v in whole.items() if k != "events"}


def test_signed_statements_in_the_back_half_are_rechecked(tmp_path: Path, used: list[bool]) -> None:
    """An override in the back half travels to the front's process and is re-checked there:
    a genuine one verifies in halves; one forged by the actor (re-signed, re-chained) fails
    as it does whole."""
    from tcr_kit.audit.transcript import build_transcript, write_transcript
    from tests.audit_forgery import forge_transcript
    from tests.unit.test_audit_statements_check import ADMIN as SIGNER
    from tests.unit.test_audit_statements_check import _activation, _log, _override

    log = _log()
    for i in range(400):
        log.append(SIGNER, "admin", "note", {"i": i})
    log.append(SIGNER, "admin", "hsm.activate", _activation(_override("iw-1", "iw-2")))
    log.append(SIGNER, "admin", "note", {"after": True})
    good = tmp_path / "t.json"
    write_transcript(build_transcript(log), good)
    result = verify_transcript(good, workers=2)
    assert used == [True]
    assert result.report.statements == 1
    assert result == verify_transcript(good, workers=1)

    def forge(payload: dict[str, Any]) -> None:
        payload["override"]["signatures"][1]["signature"] = "5a" * 64

    forged = forge_transcript(good, result.report.events - 1, forge, SIGNER)
    expected = outcome(forged, 1)
    assert isinstance(expected, tuple) and "does not verify" in expected[1]
    assert outcome(forged, 2) == expected
    # The halves were read (the statement is checked after them) and gave no success.
    assert used == [True, True]
    assert transcript._verify_in_halves(forged, forged.read_bytes(), None, None) is None


def test_the_verdict_rule_holds_across_the_cut(tmp_path: Path, used: list[bool]) -> None:
    """An activation recorded with ``verdict_form`` in the front half starts the rule for
    the back half's refusals (the back's process cannot see it): an honest log verifies in
    halves as whole, and a refusal in the back whose verdict a forger dropped is never a
    success of the halves and fails as the whole file fails it."""
    from tcr_kit.clock import isoformat, utcnow
    from tests.audit_forgery import forge_transcript
    from tests.unit import test_audit_statements_check as s

    log = s._log()
    old = s._override("iw-1", "iw-2")  # an earlier version's refusal: no verdict, no rule yet
    log.append(s.ADMIN, "admin", "hsm.activate", s._refused(old))
    log.append(s.ADMIN, "admin", "hsm.activate",
               {**s._activation(s._override("iw-1", "iw-2")), "verdict_form": 2})  # fmt: skip
    for i in range(40):
        log.append(s.ADMIN, "admin", "note", {"i": i})
    verdict = {**s._override("iw-1", "iw-2"), "rejected": []}
    log.append(s.ADMIN, "admin", "hsm.activate", s._refused(verdict, verdict_form=2))
    events = list(log.events())
    marker, last = len(events) - 41, len(events)
    path = tmp_path / "t.json"
    doc = transcript_of(events, tmp_path / "x.json")
    write(path, {**doc, "exported_at": isoformat(utcnow())})  # these events are of today
    cut = halves.find_cut(path.read_bytes())
    assert cut is not None
    front = json.loads(path.read_bytes()[: cut[0]] + b"]}")["events"]
    assert marker <= len(front) < last  # the marker in the front half, the refusal behind
    assert verify_transcript(path, workers=2) == verify_transcript(path, workers=1)
    assert used == [True]

    def dropped(payload: dict[str, Any]) -> None:
        payload.pop("verdict_form")
        del payload["override"]["rejected"]
        payload["override"]["signatures"][1]["signature"] = "5a" * 64

    forged = forge_transcript(path, last, dropped, s.ADMIN)
    raw = forged.read_bytes()
    assert transcript._verify_in_halves(forged, raw, None, None) is None
    expected = outcome(forged, 1)
    assert expected[0] is not None and f"after event {marker}, which recorded" in expected[1]
    assert outcome(forged, 2) == expected
