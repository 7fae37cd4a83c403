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
from tcr_kit.audit.concerns import people_concerned
from tcr_kit.audit.cosign import declared_cosigners
from tcr_kit.audit.pgpwords import pgp_words
from tcr_kit.audit.transcript import TranscriptResult, verify_transcript
from tcr_kit.audit.verify import Progress
from tcr_kit.errors import InputError, IntegrityError, OperationalError

__all__ = ["StatementSigner", "Timeline", "TimelineEntry", "entries_of", "read_timeline"]


@dataclass(frozen=True)
class StatementSigner:
    """Somebody other than the actor who signed a statement an ``hsm.activate`` records (its
    emergency override or its remote approvals), and the verdict on their signature as
    ``tcr audit verify`` reads it: a person filter matches on these, not on the wording."""

    person: str
    statement: str
    """``"override"`` or ``"approval"``."""
    verdict: str
    """``"held"`` (re-checked by the verifier), ``"rejected"`` (the activation's verdict
    rejected it; not re-checked) or ``"not re-checked"`` (a refusal recorded before
    verdicts were kept)."""
    reason: str | None = None
    """Why it was rejected, where the event says."""

    def to_json(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "statement": self.statement,
            "verdict": self.verdict,
            "reason": self.reason,
        }


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
    """``"D-0001 overridden by iw-1"``: open discrepancies this event went ahead despite (by
    :attr:`override_by`), then an activation's emergency override (``"custody of card-7
    overridden by iw-1, ca-1 (rejected: iw-2): REASON"``, its signers in :attr:`signers`)."""
    override_by: str | None = None
    """Who went ahead despite open discrepancies (the event's ``override_by``)."""
    activation_override: str | None = None
    """The last of :attr:`overrides` when it is an activation's emergency override."""
    approvals: tuple[str, ...] = ()
    """``"approved by tcr-4, tcr-5 (rejected: tcr-9): PURPOSE"``: an activation's remote
    approvals, read as the verifier reads them (its signers in :attr:`signers`)."""
    signers: tuple[StatementSigner, ...] = ()
    """Who signed the override or the approvals an activation records, with each verdict."""
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
    concerned: frozenset[str] = frozenset()
    """Everyone the event concerns, read from its body by
    :func:`~tcr_kit.audit.concerns.people_concerned` (:func:`entries_of` fills it in)."""
    presented: tuple[tuple[str, int | None], ...] = ()
    """``(person, share index)`` for each holder (``holder`` or ``tcr_id``) of a credential
    an activation lists as ``presented``, the index ``None`` where the event gives none: the
    people :func:`~tcr_kit.audit.concerns.people_concerned` finds there, with their share."""
    manifest_signer: tuple[str, int | None] | None = None
    """``(signer, revision)`` of the signed share-set manifest the event records, if any."""

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
            "approvals": list(self.approvals),
            "signers": [s.to_json() for s in self.signers],
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

    def override_lines(self) -> list[str]:
        """:attr:`overrides` as people read them: a discrepancy override whose overrider
        co-signed the event is marked ``(co-signed)`` (decided from :attr:`override_by`,
        never from the wording, whose last word may be a reason's)."""
        by_discrepancy = len(self.overrides) - (self.activation_override is not None)
        marked = self.override_by is not None and self.override_by in self.cosigned
        return [
            f"{o} (co-signed)" if i < by_discrepancy and marked else o
            for i, o in enumerate(self.overrides)
        ]

    def people(self) -> set[str]:
        """Everyone this event concerns (:attr:`concerned`): the rule of
        :func:`~tcr_kit.audit.concerns.people_concerned`, which receipts apply too. It
        includes every signer of an override or approvals, *rejected ones included*: a person
        looking for everything about them must see the activation where their signature was
        rejected (:attr:`signers` shows them as rejected, never as having signed)."""
        return set(self.concerned)

    def mentions(
        self, *, person: str | None = None, bag: str | None = None, credential: str | None = None
    ) -> bool:
        """Whether this event is about ``person`` (one of :meth:`people`), ``bag`` (serial,
        any case) or ``credential``."""
        if person is not None and person not in self.people():
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


def _activation_override(
    payload: dict[str, Any], override: dict[str, Any], signers: list[StatementSigner]
) -> str:
    """An emergency override of activation custody, as the timeline shows it; each signer
    is added to ``signers`` with the verdict on their signature. A refused activation may
    record signatures its verdict rejected; ``tcr audit verify`` re-checks only the others,
    so only their signers are named as overriding, the rest as rejected
    (:func:`~tcr_kit.audit.statements.rejected_override_signatures`)."""
    from tcr_kit.audit.statements import refused_activation, rejected_override_signatures

    st = override.get("statement")
    st = st if isinstance(st, dict) else {}
    sigs = override.get("signatures")
    named = [s.get("person") if isinstance(s, dict) else None for s in _list(sigs)]
    refused = refused_activation(payload)
    rejected: set[int] | None = set()
    if refused:
        rejected = rejected_override_signatures(payload)
    if rejected is None:  # a verdict the verifier refuses: no signature shown as held
        rejected = set(range(len(named)))
    unchecked = refused and "rejected" not in override  # recorded before refusals kept one
    reasons = _override_reasons(override)
    for i, person in enumerate(named):
        if not isinstance(person, str):  # malformed: shown as it is, nobody's to match
            continue
        if i in rejected:
            verdict, why = "rejected", reasons.get(i) or reasons.get(person)
        else:
            verdict, why = ("not re-checked" if unchecked else "held"), None
        signers.append(StatementSigner(person, "override", verdict, why))
    held = [str(p) for i, p in enumerate(named) if i not in rejected]
    failed = [str(p) for i, p in enumerate(named) if i in rejected]
    text = f"custody of {_text(st.get('credentials'))} overridden by {', '.join(held) or '-'}"
    if failed:
        text += f" (rejected: {', '.join(failed)})"
    elif unchecked:
        text += " (signatures not re-checked)"
    return f"{text}: {st.get('reason')}"


def _override_reasons(override: dict[str, Any]) -> dict[int | str, str]:
    """The reasons an override's verdict gives, by place (``index``) and by person."""
    out: dict[int | str, str] = {}
    for item in _list(override.get("rejected")):
        if isinstance(item, dict) and isinstance(item.get("reason"), str):
            if type(item.get("index")) is int:
                out.setdefault(item["index"], item["reason"])
            out.setdefault(str(item.get("person")), item["reason"])
    return out


def _approvals(
    payload: dict[str, Any], bundle: dict[str, Any], signers: list[StatementSigner]
) -> str:
    """An activation's remote approvals, as the timeline shows them; each signer is added
    to ``signers`` with its verdict. Those listed under ``approvals`` held (the verifier
    re-checks them, in a refused activation too where it recorded its verdict), those under
    ``rejected`` were not counted; a refusal recorded before verdicts were kept is not
    re-checked, and says so."""
    from tcr_kit.audit.statements import refused_activation

    unchecked = refused_activation(payload) and "rejected" not in bundle
    counted = [a.get("signer") for a in _list(bundle.get("approvals")) if isinstance(a, dict)]
    verdict = "not re-checked" if unchecked else "held"
    signers += [StatementSigner(p, "approval", verdict) for p in counted if isinstance(p, str)]
    failed = [r for r in _list(bundle.get("rejected")) if isinstance(r, dict)]
    for r in failed:
        if isinstance(r.get("signer"), str):
            why = _opt_text(r.get("reason"))
            signers.append(StatementSigner(r["signer"], "approval", "rejected", why))
    text = f"approved by {', '.join(str(p) for p in counted) or '-'}"
    if failed:
        text += f" (rejected: {', '.join(str(r.get('signer')) for r in failed)})"
    elif unchecked:
        text += " (signatures not re-checked)"
    request = bundle.get("request")
    purpose = request.get("purpose") if isinstance(request, dict) else None
    return f"{text}: {purpose}" if purpose is not None else text


def _opt_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: object) -> list[Any]:
    """A list field of a statement, or nothing: a refusal recorded before verdicts were kept
    is not re-checked, so its lists may be anything and still verify; they name nobody."""
    return value if isinstance(value, list) else []


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
    override_by = payload.get("override_by")
    activation_override: str | None = None
    approvals: list[str] = []
    signers: list[StatementSigner] = []
    if body.get("kind") == "hsm.activate":
        if isinstance(payload.get("override"), dict):
            activation_override = _activation_override(payload, payload["override"], signers)
            overrides.append(activation_override)
        if isinstance(payload.get("approvals"), dict):
            approvals.append(_approvals(payload, payload["approvals"], signers))
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
        override_by=str(override_by) if override_by else None,
        activation_override=activation_override,
        approvals=tuple(approvals),
        signers=tuple(signers),
        ceremony=ceremony if isinstance(ceremony, int) else None,
        step=str(step) if step is not None else None,
        selected=selected,
        records=tuple(records),
        cosigned=tuple(_cosigned(body)),
        hashes=tuple(_hashes(payload, records)),
        concerned=frozenset(people_concerned(body)),
        presented=tuple(_presented(payload)),
        manifest_signer=_manifest_signer(payload),
    )


def _presented(payload: dict[str, Any]) -> list[tuple[str, int | None]]:
    """The holders of the credentials ``payload`` lists as presented, each with its share
    index (read as :func:`~tcr_kit.audit.concerns.people_concerned` reads them)."""
    found: list[tuple[str, int | None]] = []
    items = payload.get("presented")
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        index = item["index"] if type(item.get("index")) is int else None
        for who in (item.get("holder"), item.get("tcr_id")):
            if isinstance(who, str) and (who, index) not in found:
                found.append((who, index))
    return found


def _manifest_signer(payload: dict[str, Any]) -> tuple[str, int | None] | None:
    manifest = payload.get("manifest")
    signer = manifest.get("signer") if isinstance(manifest, dict) else None
    if not isinstance(manifest, dict) or not isinstance(signer, dict):
        return None
    who = signer.get("id")
    revision = manifest.get("revision", payload.get("revision"))
    return (who, revision if type(revision) is int else None) if isinstance(who, str) else None


def _cosigned(body: dict[str, Any]) -> list[str]:
    try:
        declared = declared_cosigners(body)
    except ValueError:
        return []
    return [person for person, _ in declared or ()]


def entries_of(
    events: Iterable[StoredEvent], selected: set[int] | None = None
) -> list[TimelineEntry]:
    """Timeline entries of events in order (``selected``: the seqs a selection names).

    A field the verifier does not check may still be malformed in a verified log (written
    by whoever held the actor's key): one the timeline cannot read is
    :class:`~tcr_kit.errors.IntegrityError` naming the event, never a traceback."""
    roles: dict[str, tuple[str, ...]] = {}
    out = []
    for e in events:
        body = parse_canonical(e.body)
        try:
            out.append(_entry(body, roles, selected is None or e.seq in selected))
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            raise IntegrityError(
                f"audit event {e.seq}: a field the timeline reads is malformed"
                f" ({type(exc).__name__}: {exc}); tcr audit verify does not check it"
            ) from None
    return out


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
