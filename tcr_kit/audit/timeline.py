"""A readable timeline of a verified transcript: for each event its time, actor and role,
action, objects, witnesses, outcome, discrepancies and overrides.

The audit layer knows nothing of custody: everything here is read from the event bodies
themselves (``actor``, ``kind``, ``subjects``, ``time``, and the ``payload`` with the
``records`` it carries, each ``{"table", "key", "doc"}``). The roles of a person are those of
the last ``person`` record seen before the event.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.audit.chain import StoredEvent
from tcr_kit.audit.cosign import declared_cosigners
from tcr_kit.audit.pgpwords import pgp_words
from tcr_kit.audit.transcript import TranscriptResult, verify_transcript
from tcr_kit.audit.verify import Progress
from tcr_kit.errors import InputError, OperationalError

__all__ = ["Timeline", "TimelineEntry", "entries_of", "read_timeline"]


@dataclass(frozen=True)
class TimelineEntry:
    """One event as a person reads it."""

    seq: int
    time: str
    actor: str
    roles: tuple[str, ...]
    action: str
    objects: tuple[str, ...]
    witnesses: tuple[str, ...]
    outcome: str
    discrepancies: tuple[str, ...] = ()
    """``"D-0001 (tamper, high): ..."``: discrepancies this event opened or resolved."""
    overrides: tuple[str, ...] = ()
    """``"D-0001 overridden by iw-1"``: open discrepancies this event went ahead despite."""
    ceremony: int | None = None
    step: str | None = None
    selected: bool = True
    cosigned: tuple[str, ...] = ()
    """People who co-signed the event (declared in its signed body; a verified transcript
    or ledger has each one's co-signature: :mod:`tcr_kit.audit.cosign`)."""
    records: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    hashes: tuple[tuple[str, str], ...] = ()
    """``("config", HEX)``, ``("site file", HEX)``: the set-up files an event commits to
    (an HSM event's ``config_sha256`` and ``site_sha256``, a ceremony's recorded ones, the
    ``old config`` and ``new config`` of ``hsm.config-extend``)."""

    def hash_lines(self) -> list[tuple[str, str, str]]:
        """``(what, hex, PGP words)`` for each of :attr:`hashes`, to compare aloud."""
        return [
            (what, value, " ".join(pgp_words(bytes.fromhex(value)))) for what, value in self.hashes
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "roles": list(self.roles),
            "action": self.action,
            "objects": list(self.objects),
            "witnesses": list(self.witnesses),
            "outcome": self.outcome,
            "discrepancies": list(self.discrepancies),
            "overrides": list(self.overrides),
            "ceremony": self.ceremony,
            "step": self.step,
            "selected": self.selected,
            "cosigned": list(self.cosigned),
            "hashes": [
                {"what": what, "sha256": hex_, "pgp_words": words}
                for what, hex_, words in self.hash_lines()
            ],
        }

    def witness_lines(self) -> list[str]:
        """``"iw-1 (co-signed)"`` or ``"iw-1 (named only)"`` for each witness."""
        return [
            f"{w} ({'co-signed' if w in self.cosigned else 'named only'})" for w in self.witnesses
        ]

    def mentions(
        self, *, person: str | None = None, bag: str | None = None, credential: str | None = None
    ) -> bool:
        """Whether this event is about ``person`` (as actor, witness, overrider or subject),
        ``bag`` (serial, any case) or ``credential``."""
        if person is not None:
            people = {self.actor, *self.witnesses}
            if person not in people and f"person:{person}" not in self.objects:
                if not any(o.endswith(f"by {person}") for o in self.overrides) and not any(
                    r["doc"].get("holder") == person for r in self.records
                ):
                    return False
        if bag is not None and f"bag:{bag.strip().upper()}" not in self.objects:
            return False
        if credential is not None and f"credential:{credential}" not in self.objects:
            if not any(credential in (r["doc"].get("contents") or ()) for r in self.records):
                return False
        return True


@dataclass(frozen=True)
class Timeline:
    """The entries of a verified transcript, and the head it was verified up to."""

    source: str
    head_seq: int
    head: str
    description: str
    entries: tuple[TimelineEntry, ...]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _witnesses(payload: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for source in [payload, *(r["doc"] for r in records)]:
        for key in ("witness", "witnessed_by", "override_by"):
            value = source.get(key)
            if isinstance(value, str) and value not in found and key != "override_by":
                found.append(value)
        for value in source.get("witnesses") or ():
            if isinstance(value, str) and value not in found:
                found.append(value)
    return found


def _outcome(kind: str, payload: dict[str, Any], records: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    if kind.endswith("-refused") or kind.endswith(".refused"):
        parts.append("refused")
    for r in records:
        doc = r["doc"]
        if "checklist" in doc and "serial_read" in doc:
            failed = [k for k, ok in doc["checklist"].items() if not ok]
            if doc.get("serial_read") != doc.get("serial_expected"):
                read, expected = doc["serial_read"], doc.get("serial_expected")
                parts.append(f"serial read {read} (expected {expected})")
            elif failed:
                parts.append("tamper evidence: " + ", ".join(failed))
            else:
                parts.append("intact")
        elif r["table"] != "discrepancy" and "state" in doc:
            parts.append(f"{r['table']} {r['key']}: {_text(doc['state'])}")
        elif r["table"] == "ceremony" and doc.get("status"):
            parts.append(f"ceremony {r['key']}: {doc['status']}")
        elif r["table"] == "artifact":
            files = sum(len(t.get("files") or ()) for t in doc.get("tranches") or ())
            parts.append(
                f"artifact {r['key']} registered: {len(doc.get('tranches') or ())} tranches, "
                f"{files} files, drive {doc.get('drive')}"
            )
        elif r["table"] == "artifact_release":
            parts.append(
                f"tranche {doc.get('tranche')} of {doc.get('artifact')} released: "
                f"{len(doc.get('files') or ())} files, drive {doc.get('drive')} "
                f"from bag {doc.get('bag')}"
            )
    if "step" in payload and "time" in payload:
        parts.append(f"step {payload['step']} done")
    if kind.startswith("hsm.") and isinstance(payload.get("outcome"), str):
        parts.append(payload["outcome"])
    if not parts:
        parts.append("recorded")
    return "; ".join(parts)


_HASH_FIELDS = (
    ("config_sha256", "config"),
    ("old_config_sha256", "old config"),
    ("new_config_sha256", "new config"),
    ("site_sha256", "site file"),
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _hashes(payload: dict[str, Any], records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The configuration and site-file hashes an event names: in its payload (HSM events)
    or in the ceremony record it writes (``ceremony.open``)."""
    found: list[tuple[str, str]] = []
    sources = [payload, *(r["doc"] for r in records if r.get("table") == "ceremony")]
    for source in sources:
        for key, what in _HASH_FIELDS:
            value = source.get(key)
            if isinstance(value, str) and _HEX64.match(value) and (what, value) not in found:
                found.append((what, value))
    return found


def _discrepancies(records: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in records:
        if r["table"] != "discrepancy":
            continue
        d = r["doc"]
        line = f"{d.get('id')} ({d.get('category')}, {d.get('severity')}): {d.get('description')}"
        if d.get("status") == "resolved":
            line += f" resolved by {d.get('resolved_by')}: {d.get('resolution')}"
        out.append(line)
    return out


def _activation_override(payload: dict[str, Any], override: dict[str, Any]) -> str:
    """An emergency override of activation custody, as the timeline shows it. A refused
    activation may record signatures its verdict rejected; ``tcr audit verify`` re-checks
    only the others, so only their signers are named as overriding, the rest as rejected
    (:func:`~tcr_kit.audit.statements.rejected_override_signatures`)."""
    from tcr_kit.audit.statements import refused_activation, rejected_override_signatures

    st = override.get("statement")
    st = st if isinstance(st, dict) else {}
    sigs = override.get("signatures")
    signers = [s.get("person") if isinstance(s, dict) else None for s in sigs or ()]
    refused = refused_activation(payload)
    rejected: set[int] | None = set()
    if refused:
        rejected = rejected_override_signatures(payload)
    if rejected is None:  # a verdict the verifier refuses: no signature shown as held
        rejected = set(range(len(signers)))
    held = [str(p) for i, p in enumerate(signers) if i not in rejected]
    failed = [str(p) for i, p in enumerate(signers) if i in rejected]
    text = f"custody of {_text(st.get('credentials'))} overridden by {', '.join(held) or '-'}"
    if failed:
        text += f" (rejected: {', '.join(failed)})"
    elif refused and "rejected" not in override:  # recorded before refusals kept a verdict
        text += " (signatures not re-checked)"
    return f"{text}: {st.get('reason')}"


def _entry(
    body: dict[str, Any], roles: dict[str, tuple[str, ...]], selected: bool
) -> TimelineEntry:
    payload = body.get("payload") or {}
    records = [r for r in payload.get("records") or () if isinstance(r, dict)]
    for r in records:
        if r.get("table") == "person" and isinstance(r.get("doc"), dict):
            roles[str(r["key"])] = tuple(str(x) for x in r["doc"].get("roles") or ())
    actor = str(body.get("actor", ""))
    overrides: list[str] = []
    if payload.get("override_by"):
        for did in payload.get("overridden") or ["(open discrepancies)"]:
            overrides.append(f"{did} overridden by {payload['override_by']}")
    activation_override = payload.get("override")
    if body.get("kind") == "hsm.activate" and isinstance(activation_override, dict):
        overrides.append(_activation_override(payload, activation_override))
    ceremony = payload.get("ceremony")
    step = payload.get("step")
    return TimelineEntry(
        seq=int(body["seq"]),
        time=str(body.get("time", "")),
        actor=actor,
        roles=roles.get(actor, ()),
        action=str(body.get("kind", "")),
        objects=tuple(str(s) for s in body.get("subjects") or ()),
        witnesses=tuple(_witnesses(payload, records)),
        outcome=_outcome(str(body.get("kind", "")), payload, records),
        discrepancies=tuple(_discrepancies(records)),
        overrides=tuple(overrides),
        ceremony=ceremony if isinstance(ceremony, int) else None,
        step=str(step) if step is not None else None,
        selected=selected,
        records=tuple(records),
        cosigned=tuple(_cosigned(body)),
        hashes=tuple(_hashes(payload, records)),
    )


def _cosigned(body: dict[str, Any]) -> list[str]:
    try:
        declared = declared_cosigners(body)
    except ValueError:
        return []
    return [person for person, _ in declared or ()]


def entries_of(
    events: Iterable[StoredEvent], selected: set[int] | None = None
) -> list[TimelineEntry]:
    """Timeline entries of events in order (``selected``: the seqs a selection names)."""
    roles: dict[str, tuple[str, ...]] = {}
    return [
        _entry(parse_canonical(e.body), roles, selected is None or e.seq in selected)
        for e in events
    ]


def read_timeline(
    path: str | os.PathLike[str],
    *,
    expect_head: str | None = None,
    progress: Progress | None = None,
) -> tuple[Timeline, TranscriptResult]:
    """Verify the transcript at ``path`` (as ``tcr audit verify --transcript`` does), then
    read its events as timeline entries. Nothing unverified is ever shown. ``progress``
    follows the signature checks, as in :func:`~tcr_kit.audit.verify.verify_log`."""
    result = verify_transcript(path, expect_head=expect_head, progress=progress)
    try:
        doc = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise InputError(f"{path}: malformed transcript: {exc}") from None
    events = [
        StoredEvent(int(e["seq"]), str(e["body"]).encode("ascii"), e["hash"], e["signature"])
        for e in doc["events"]
    ]
    entries = entries_of(events, set(result.selection))
    return (
        Timeline(
            source=str(path),
            head_seq=result.report.events,
            head=result.report.head,
            description=result.description,
            entries=tuple(entries),
        ),
        result,
    )
