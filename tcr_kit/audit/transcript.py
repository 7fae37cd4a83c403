"""Self-contained transcripts: every event from 1 to the end of a selection, the
checkpoints they cover, and the public keys, in one JSON file an outsider can verify."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.audit.chain import (
    AuditLog,
    KeyRecord,
    StoredCheckpoint,
    StoredEvent,
    VerifyReport,
)
from tcr_kit.audit.cosign import Cosignature, verify_cosignatures
from tcr_kit.audit.eventcheck import Row, key_timeline
from tcr_kit.audit.pgpwords import pgp_words
from tcr_kit.audit.selection import EventSelection, parse_utc
from tcr_kit.audit.verify import (
    EventsCheck,
    Progress,
    check_events,
    finish_verification,
    verify_log,
)
from tcr_kit.clock import isoformat, utcnow
from tcr_kit.errors import InputError, IntegrityError, OperationalError
from tcr_kit.fileio import write_new_file

TRANSCRIPT_FORMAT = "tcr-kit/audit-transcript"
TRANSCRIPT_VERSION = 1

Selector = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class TranscriptResult:
    report: VerifyReport
    selection: list[int]
    description: str


def build_transcript(
    log: AuditLog,
    select: Selector | None = None,
    description: str = "whole log",
    *,
    through_checkpoint: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """A transcript dict: events 1..last selected, all checkpoints up to it, the keys.

    ``select`` is an :class:`EventSelection` (or ``None`` for the whole log): its criteria
    are written so a verifier can recompute the selection; the description is the
    selection's own (``description`` is kept for callers and must agree with it).

    With ``through_checkpoint``, the transcript runs on to the first checkpoint at or after
    the last selected event (the one taken when a ceremony closed), so the head published
    at that checkpoint is the transcript's head. ``progress(done, total)`` follows the
    signature checks of the exported events, as in :func:`verify_log`."""
    if isinstance(select, EventSelection):
        description = select.description
    elif select is None:
        description = "whole log"
    events: list[StoredEvent] = []
    selected: list[int] = []
    for event in log.events():
        events.append(event)
        if select is None or select(parse_canonical(event.body)):
            selected.append(event.seq)
    if not selected:
        raise InputError("no audit event matches the selection")
    last = selected[-1]
    if through_checkpoint:
        later = [c.seq for c in log.checkpoints() if c.seq >= last]
        if later:
            last = min(later)
    events = events[:last]
    report = verify_log(events, [c for c in log.checkpoints() if c.seq <= last], progress=progress)
    cosignatures = {s: c for s, c in log.cosignatures().items() if s <= last}
    verify_cosignatures(events, cosignatures, report.keys)
    return {
        "format": TRANSCRIPT_FORMAT,
        "version": TRANSCRIPT_VERSION,
        "exported_at": isoformat(utcnow()),
        "selection": {
            "description": description,
            "seqs": selected,
            "criteria": _criteria(select, through_checkpoint),
        },
        "head": {
            "seq": last,
            "sha256": report.head,
            "words": " ".join(pgp_words(bytes.fromhex(report.head))),
        },
        "keys": [
            {
                "key_id": k.key_id,
                "algorithm": k.algorithm,
                "public_key": k.public_key.hex(),
                "owner": k.owner,
                "registered_at_event": k.added_seq,
                "revoked_at_event": k.revoked_seq,
            }
            for k in report.keys.values()
        ],
        "events": [_event_entry(e, cosignatures.get(e.seq, ())) for e in events],
        "checkpoints": [
            {"seq": c.seq, "body": c.body.decode("ascii"), "signature": c.signature}
            for c in log.checkpoints()
            if c.seq <= last
        ],
    }


def _event_entry(e: StoredEvent, cosignatures: Sequence[Cosignature]) -> dict[str, Any]:
    """One event of a transcript; ``cosignatures`` only for a co-signed event (so a
    transcript of a log without co-signatures is what it always was)."""
    entry: dict[str, Any] = {
        "seq": e.seq,
        "body": e.body.decode("ascii"),
        "hash": e.hash,
        "signature": e.signature,
    }
    if cosignatures:
        entry["cosignatures"] = [c.to_json() for c in cosignatures]
    return entry


def _criteria(select: Selector | None, through_checkpoint: bool = False) -> dict[str, Any]:
    """How the selection was made, so a verifier can recompute it from the events."""
    extra = {"through_checkpoint": True} if through_checkpoint else {}
    if select is None:
        return {"ceremony": None, "since": None, "until": None, **extra}
    if not isinstance(select, EventSelection):
        raise ValueError("a transcript's selection must be an EventSelection (or None)")
    return {
        "ceremony": select.ceremony,
        "since": select.since_text or (select.since.isoformat() if select.since else None),
        "until": select.until_text or (select.until.isoformat() if select.until else None),
        **extra,
    }


def write_transcript(
    transcript: dict[str, Any], path: str | os.PathLike[str], *, force: bool = False
) -> str:
    """Write ``transcript`` to a new file; returns the file's SHA-256 hex."""
    import hashlib

    data = (json.dumps(transcript, indent=1, sort_keys=True) + "\n").encode("ascii")
    write_new_file(path, data, mode=0o644, force=force)
    return hashlib.sha256(data).hexdigest()


_TOP_FIELDS = frozenset(
    {"format", "version", "exported_at", "selection", "head", "keys", "events", "checkpoints"}
)
_KEY_FIELDS = frozenset(
    {"key_id", "algorithm", "public_key", "owner", "registered_at_event", "revoked_at_event"}
)


def _malformed(path: str | os.PathLike[str], what: str) -> IntegrityError:
    return IntegrityError(f"{path}: malformed transcript: {what}")


def _fields(
    path: str | os.PathLike[str], value: object, names: frozenset[str], what: str
) -> dict[str, Any]:
    """``value`` as an object with exactly the fields ``names`` (no field goes unchecked)."""
    if not isinstance(value, dict):
        raise _malformed(path, f"{what} is not an object")
    if set(value) != names:
        odd = sorted(set(value) ^ names)[0]
        raise _malformed(path, f"{what}: field {odd!r} missing or not allowed")
    return value


def _int(path: str | os.PathLike[str], value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _malformed(path, f"{what} is not an integer")
    return value


def _str(path: str | os.PathLike[str], value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _malformed(path, f"{what} is not a string")
    return value


def _ascii(path: str | os.PathLike[str], value: object, what: str) -> bytes:
    try:
        return _str(path, value, what).encode("ascii")
    except UnicodeEncodeError:
        raise _malformed(path, f"{what} is not ASCII") from None


def _list(path: str | os.PathLike[str], value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _malformed(path, f"{what} is not a list")
    return value


def _load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and parse a transcript file; unreadable or not a transcript is an input error."""
    return _parse(path, _read(path))


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read: {exc.strerror}") from None


def _parse(path: str | os.PathLike[str], raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise InputError(f"{path}: not a transcript: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a transcript: not JSON ({exc})") from None
    if not isinstance(doc, dict) or not _is_transcript(doc):
        raise InputError(f"{path}: not a tcr-kit audit transcript (version 1)")
    return doc


def load_transcript_events(path: str | os.PathLike[str]) -> list[StoredEvent]:
    """The events of a transcript file, type-checked but not verified."""
    doc = _load(path)
    return [_event(path, e) for e in _list(path, doc.get("events"), "events")]


_EVENT_FIELDS = frozenset({"seq", "body", "hash", "signature"})
_COSIGNATURE_FIELDS = frozenset({"key_id", "person", "signature"})


def _cosignatures(path: str | os.PathLike[str], e: object) -> list[Cosignature]:
    """The ``cosignatures`` of one transcript event (type-checked, not verified)."""
    if not isinstance(e, dict) or "cosignatures" not in e:
        return []
    seq = _int(path, e.get("seq"), "event seq")
    items = _list(path, e["cosignatures"], f"event {seq} cosignatures")
    if not items:
        raise _malformed(path, f"event {seq}: empty cosignatures")
    out = []
    for item in items:
        c = _fields(path, item, _COSIGNATURE_FIELDS, f"event {seq} cosignature")
        out.append(
            Cosignature(
                seq,
                _str(path, c["person"], "cosignature person"),
                _str(path, c["key_id"], "cosignature key_id"),
                _str(path, c["signature"], "cosignature signature"),
            )
        )
    return out


def _event(path: str | os.PathLike[str], e: object) -> StoredEvent:
    seq, body, digest, signature, _ = _event_row(path, e)
    return StoredEvent(seq, body, digest, signature)


def _event_row(path: str | os.PathLike[str], e: object) -> Row:
    """One entry of ``events`` as a :data:`~tcr_kit.audit.eventcheck.Row`; malformed:
    :class:`IntegrityError`."""
    # The common, well-formed case in one test (a transcript holds one per event); anything
    # else (co-signed events included) takes the field-by-field checks below, which name
    # what is wrong.
    if type(e) is dict and e.keys() == _EVENT_FIELDS:
        seq, body, digest, signature = e["seq"], e["body"], e["hash"], e["signature"]
        if (
            type(seq) is int
            and type(body) is str
            and body.isascii()
            and type(digest) is str
            and type(signature) is str
        ):
            return seq, body.encode("ascii"), digest, signature, False
    cosigned = isinstance(e, dict) and "cosignatures" in e
    names = _EVENT_FIELDS | {"cosignatures"} if cosigned else _EVENT_FIELDS
    e = _fields(path, e, names, "event")
    seq = _int(path, e["seq"], "event seq")
    return (
        seq,
        _ascii(path, e["body"], f"event {seq} body"),
        _str(path, e["hash"], f"event {seq} hash"),
        _str(path, e["signature"], f"event {seq} signature"),
        cosigned,
    )


def _checkpoint(path: str | os.PathLike[str], c: object) -> StoredCheckpoint:
    c = _fields(path, c, frozenset({"seq", "body", "signature"}), "checkpoint")
    seq = _int(path, c["seq"], "checkpoint seq")
    return StoredCheckpoint(
        seq,
        _ascii(path, c["body"], f"checkpoint {seq} body"),
        _str(path, c["signature"], f"checkpoint {seq} signature"),
    )


def verify_transcript(
    path: str | os.PathLike[str],
    *,
    expect_head: str | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> TranscriptResult:
    """Verify a transcript from the file alone; raises on the first bad event.

    Every field is checked: ``events`` and ``checkpoints`` by the chain and signatures;
    ``head``, ``keys`` and ``selection`` must equal what the events give; ``exported_at``
    must be a UTC time not before the last event. A field this code does not know is
    refused (nothing in the file goes unchecked). See docs/audit-format.md.

    On two processes a large file is parsed and checked in halves
    (:mod:`tcr_kit.audit.halves`); anything but a clean success there is verified again
    from the whole file, which alone words the errors."""
    raw = _read(path)
    processes = workers if workers is not None else (os.cpu_count() or 1)
    if processes == 2:
        result = _verify_in_halves(path, raw, expect_head, progress)
        if result is not None:
            return result
    doc = _parse(path, raw)
    _fields(path, doc, _TOP_FIELDS, "transcript")
    raw_events = _list(path, doc["events"], "events")
    chosen = _stated_selection(doc["selection"])
    check = check_events(
        raw_events,
        partial(_event_row, path),
        _entry_body,
        workers=workers,
        progress=progress,
        selector=chosen,
    )
    return _conclude(path, doc, raw_events, check, chosen, expect_head)


def _verify_in_halves(
    path: str | os.PathLike[str],
    raw: bytes,
    expect_head: str | None,
    progress: Progress | None,
) -> TranscriptResult | None:
    """:func:`verify_transcript` with the parse in two processes; ``None`` unless the file
    verified (the caller then verifies it whole)."""
    from tcr_kit.audit.halves import check_in_halves

    row = partial(_event_row, path)
    halves = check_in_halves(
        raw,
        row,
        _entry_body,
        lambda members: _stated_selection(members.get("selection")),
        progress,
    )
    if halves is None:
        return None
    front, back = halves.slices
    if front.malformed or back.malformed or front.error or back.error:
        return None
    doc = {**halves.members, "events": []}
    if not _is_transcript(doc):
        return None
    chosen = _stated_selection(doc.get("selection"))
    selected = None
    if chosen is not None and not front.unselectable and not back.unselectable:
        selected = front.selected + back.selected
    try:
        check = EventsCheck(
            count=len(halves.events),
            malformed=None,
            error=None,
            digests=front.digests + back.digests,
            keys=key_timeline(halves.keys),
            announced={*front.announced, *back.announced},
            cosigned=front.cosigned + back.cosigned,
            selected=selected,
            statements=[
                (i + 1, row(halves.events[i])[1]) for i in front.statements + back.statements
            ],
        )
        return _conclude(path, doc, halves.events, check, chosen, expect_head)
    except (IntegrityError, InputError, LookupError):
        return None


def _is_transcript(doc: dict[str, Any]) -> bool:
    """Whether ``doc`` says it is a transcript of the format and version read here."""
    return (
        doc.get("format") == TRANSCRIPT_FORMAT
        and doc.get("version") == TRANSCRIPT_VERSION
        and not isinstance(doc.get("version"), bool)
    )


def _conclude(
    path: str | os.PathLike[str],
    doc: dict[str, Any],
    raw_events: Sequence[Any],
    check: EventsCheck,
    chosen: EventSelection | None,
    expect_head: str | None,
) -> TranscriptResult:
    """Everything :func:`verify_transcript` checks once the events are checked."""
    _fields(path, doc, _TOP_FIELDS, "transcript")
    checkpoints: list[StoredCheckpoint] = []
    checkpoint_error: IntegrityError | None = None
    try:
        checkpoints = [_checkpoint(path, c) for c in _list(path, doc["checkpoints"], "checkpoints")]
    except IntegrityError as exc:  # reported after a malformed event, as it always was
        checkpoint_error = exc
    if check.malformed is not None:
        raise IntegrityError(check.malformed)
    if checkpoint_error is not None:
        raise checkpoint_error
    report = finish_verification(check, checkpoints, expect_head=expect_head)
    cosigned = [_event(path, raw_events[i]) for i in check.cosigned]
    cosignatures = {
        e.seq: c
        for e, i in zip(cosigned, check.cosigned, strict=True)
        if (c := _cosignatures(path, raw_events[i]))
    }
    report.cosignatures = verify_cosignatures(cosigned, cosignatures, report.keys)
    head = _fields(path, doc["head"], frozenset({"seq", "sha256", "words"}), "head")
    words = " ".join(pgp_words(bytes.fromhex(report.head)))
    if (head["seq"], head["sha256"], head["words"]) != (report.events, report.head, words):
        raise IntegrityError(f"{path}: the stated head does not match the recomputed chain")
    _check_keys(path, doc["keys"], report)
    bodies = _Bodies(path, raw_events)
    precomputed = (chosen, check.selected) if chosen is not None else None
    selection, description = _check_selection(
        path, doc["selection"], bodies, [c.seq for c in checkpoints], precomputed
    )
    _check_exported_at(path, doc["exported_at"], bodies)
    return TranscriptResult(report, selection, description)


def _entry_body(e: object) -> object:
    return e.get("body") if type(e) is dict else None


class _Bodies:
    """The event bodies of a transcript whose events were checked, read when needed."""

    def __init__(self, path: str | os.PathLike[str], raw_events: Sequence[Any]) -> None:
        self._path = path
        self._raw = raw_events

    def __len__(self) -> int:
        return len(self._raw)

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for e in self._raw:
            seq, body, _, _, _ = _event_row(self._path, e)
            yield seq, body

    def last(self) -> bytes:
        return _event_row(self._path, self._raw[-1])[1]


def _stated_selection(value: object) -> EventSelection | None:
    """The selection a transcript's criteria state, to be applied while the events are
    checked; ``None`` if they cannot be read (:func:`_check_selection` then says why)."""
    if not isinstance(value, dict):
        return None
    crit = value.get("criteria")
    if crit is None:
        crit = {}
    if not isinstance(crit, dict) or not set(crit) <= {
        "ceremony",
        "since",
        "until",
        "through_checkpoint",
    }:
        return None
    ceremony, since, until = crit.get("ceremony"), crit.get("since"), crit.get("until")
    if ceremony is not None and (not isinstance(ceremony, int) or isinstance(ceremony, bool)):
        return None
    if not all(t is None or isinstance(t, str) for t in (since, until)):
        return None
    try:
        return EventSelection.parse(ceremony=ceremony, since=since, until=until)
    except (InputError, ValueError, KeyError, TypeError):
        return None


def _check_keys(path: str | os.PathLike[str], value: object, report: VerifyReport) -> None:
    """``keys`` must list exactly the registrations the events make, field for field."""
    listed: dict[str, dict[str, Any]] = {}
    for entry in _list(path, value, "keys"):
        entry = _fields(path, entry, _KEY_FIELDS, "key")
        kid = _str(path, entry["key_id"], "key_id")
        if kid in listed:
            raise IntegrityError(f"{path}: key {kid} listed twice")
        listed[kid] = entry
    for kid in sorted(set(listed) | set(report.keys)):
        key = report.keys.get(kid)
        expected = None if key is None else _key_entry(key)
        if listed.get(kid) != expected:
            raise IntegrityError(f"{path}: key list disagrees with registrations for key {kid}")


def _key_entry(k: KeyRecord) -> dict[str, Any]:
    return {
        "key_id": k.key_id,
        "algorithm": k.algorithm,
        "public_key": k.public_key.hex(),
        "owner": k.owner,
        "registered_at_event": k.added_seq,
        "revoked_at_event": k.revoked_seq,
    }


def _check_selection(
    path: str | os.PathLike[str],
    value: object,
    events: _Bodies,
    checkpoint_seqs: list[int],
    precomputed: tuple[EventSelection, list[int] | None] | None = None,
) -> tuple[list[int], str]:
    """``selection`` is recomputed from its ``criteria`` over the events: the seqs, the
    description, and where the events end must all agree. They end at the last selected
    event, or (criterion ``through_checkpoint``, a ceremony's transcript) at the first
    checkpoint at or after it, whose head was published when the ceremony closed."""
    if isinstance(value, dict) and "criteria" not in value:
        value = {**value, "criteria": {}}  # written before criteria: only "whole log" checks
    sel = _fields(path, value, frozenset({"description", "seqs", "criteria"}), "selection")
    crit = _fields(
        path,
        {
            "ceremony": None,
            "since": None,
            "until": None,
            "through_checkpoint": False,
            **(sel["criteria"] or {}),
        }
        if isinstance(sel["criteria"], dict)
        else sel["criteria"],
        frozenset({"ceremony", "since", "until", "through_checkpoint"}),
        "selection criteria",
    )
    ceremony = crit["ceremony"]
    if ceremony is not None:
        ceremony = _int(path, ceremony, "selection ceremony")
    since = None if crit["since"] is None else _str(path, crit["since"], "selection since")
    until = None if crit["until"] is None else _str(path, crit["until"], "selection until")
    try:
        chosen = EventSelection.parse(ceremony=ceremony, since=since, until=until)
        if precomputed is not None and precomputed[0] == chosen:
            # Applied by the event checks, in the worker processes (None: it raised there).
            if precomputed[1] is None:
                raise ValueError("the selection raised on an event")
            seqs = precomputed[1]
        else:
            # Every body was proved canonical: a plain parse is enough here.
            seqs = [seq for seq, body in events if chosen(json.loads(body))]
    except (InputError, ValueError, KeyError, TypeError):
        raise IntegrityError(f"{path}: selection criteria cannot be applied") from None
    through = crit["through_checkpoint"]
    if not isinstance(through, bool):
        raise IntegrityError(f"{path}: selection through_checkpoint is not true or false")
    end = seqs[-1] if seqs else 0
    if through:
        end = min((c for c in checkpoint_seqs if c >= end), default=end)
    if (
        sel["seqs"] != seqs
        or sel["description"] != chosen.description
        or not seqs
        or end != len(events)
    ):
        raise IntegrityError(
            f"{path}: the selection does not match its criteria ({chosen.description}) "
            "over the events"
        )
    return seqs, chosen.description


def _check_exported_at(path: str | os.PathLike[str], value: object, events: _Bodies) -> None:
    text = _str(path, value, "exported_at")
    try:
        when = parse_utc(text)
        last = parse_utc(str(parse_canonical(events.last())["time"]))
    except (InputError, ValueError, KeyError, TypeError, IndexError):
        raise _malformed(path, "exported_at is not a UTC time") from None
    if not text.endswith("Z") or when < last:
        raise IntegrityError(f"{path}: exported_at {text} is before the last event it holds")
