"""Receipts: one participant's events, each with an inclusion proof against a signed
checkpoint note, checkable offline with nothing but the log's verifier key.

A receipt is one JSON object (see ``docs/audit-format.md``)::

    {"format": "tcr-kit/audit-receipt", "version": 1, "participant": "tcr-3",
     "ceremony": 55 | null, "checkpoint": "<signed note>",
     "events": [{"seq": n, "body": "...", "hash": "...", "signature": "...",
                 "proof": ["<base64>", ...]}],
     "keys":   [ the audit.key.add events of the keys that signed them, and of the keys
                 of the people who signed a statement inside them, same fields ]}

An event belongs to a participant when it concerns them by the one rule of
:mod:`tcr_kit.audit.concerns`, the same that ``tcr audit show --person`` applies: they acted
(``actor``), are a subject (``person:<id>``), are named as a witness, co-signer or
``override_by``, it writes a record whose ``holder`` is them, lists a credential of theirs
among ``presented`` (``holder`` or ``tcr_id``), records an override or approval they signed
(a *rejected* signature included: a person must see where theirs was refused), or records a
share manifest they signed (``manifest.signer.id``), or registers a key to them
(``audit.key.add`` with ``owner`` them). ``tcr audit check-receipt`` re-applies
the rule to every event a receipt lists, and re-checks the statements inside them under the
key registrations the receipt carries; a rejected signature is not re-checked, as in
``tcr audit verify``. With a ceremony number, only events of that ceremony (subject
``ceremony:N``, or a record whose ``doc`` has ``"ceremony": N``) are taken.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.audit.chain import (
    KEY_ADD,
    AuditIntegrityError,
    AuditLog,
    KeyRecord,
    StoredEvent,
    event_hash,
)
from tcr_kit.audit.concerns import concerns
from tcr_kit.audit.merkle import LogTree, ProofInvalid, leaf_hash, verify_inclusion
from tcr_kit.audit.note import (
    Checkpoint,
    NoteInvalid,
    NoteVerifier,
    key_hash,
    open_checkpoint,
    parse,
)
from tcr_kit.audit.selection import EventSelection
from tcr_kit.audit.signing import ALGORITHMS, ED25519, signature_ok
from tcr_kit.audit.statements import check_statements, statement_signers
from tcr_kit.audit.treehead import log_tree
from tcr_kit.errors import InputError, IntegrityError, OperationalError
from tcr_kit.fileio import write_new_file

RECEIPT_FORMAT = "tcr-kit/audit-receipt"
RECEIPT_VERSION = 1


class ReceiptInvalid(IntegrityError):
    """A receipt does not check: names the event (or part) that failed."""


def mentions(body: dict[str, Any], participant: str) -> bool:
    """Whether an event body concerns ``participant``: :func:`~tcr_kit.audit.concerns.concerns`,
    the rule the timeline's person filter shares."""
    return concerns(body, participant)


def in_ceremony(body: dict[str, Any], number: int) -> bool:
    """Whether an event is of ceremony ``number``: the rule of ``tcr audit export --ceremony``."""
    return EventSelection.names_ceremony(body, number)


def _entry(event: StoredEvent, tree: LogTree, size: int) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "body": event.body.decode("ascii"),
        "hash": event.hash,
        "signature": event.signature,
        "proof": [
            base64.b64encode(p).decode("ascii")
            for p in tree.tree.inclusion_proof(event.seq - 1, size)
        ],
    }


def ledger_verifiers(log: AuditLog, names: Iterable[str]) -> list[NoteVerifier]:
    """Note verifiers for every registered Ed25519 audit key under each of ``names``."""
    out: list[NoteVerifier] = []
    for event in log.events():
        body = parse_canonical(event.body)
        if body.get("kind") != KEY_ADD or body["payload"].get("algorithm") != ED25519:
            continue
        pub = bytes.fromhex(body["payload"]["public_key"])
        out += [NoteVerifier(n, key_hash(n, pub), pub) for n in names]
    return out


def build_receipt(
    log: AuditLog, participant: str, note: str, *, ceremony: int | None = None
) -> dict[str, Any]:
    """A receipt for ``participant`` against ``note``, a checkpoint of this log signed by
    one of its registered keys; the note's root must be this log's tree at that size."""
    tree = log_tree(log)
    names = {s.name for s in parse(note).signatures}
    cp, _, _ = open_checkpoint(note, ledger_verifiers(log, names))
    if cp.size > tree.size:
        raise IntegrityError(
            f"the checkpoint covers {cp.size} events but this log has {tree.size} (rolled back?)"
        )
    if not hmac.compare_digest(tree.root(cp.size), cp.root):
        raise IntegrityError(f"the checkpoint's root is not this log's tree at size {cp.size}")
    events: list[StoredEvent] = []
    key_events: dict[str, StoredEvent] = {}
    bodies: dict[int, dict[str, Any]] = {}
    for event in log.events(1, cp.size):
        body = parse_canonical(event.body)
        bodies[event.seq] = body
        if body.get("kind") == KEY_ADD:
            key_events[str(body["payload"]["key_id"])] = event
        if mentions(body, participant) and (ceremony is None or in_ceremony(body, ceremony)):
            events.append(event)
    if not events:
        where = f" in ceremony {ceremony}" if ceremony is not None else ""
        raise InputError(f"no audit event up to {cp.size} concerns {participant}{where}")
    signing_keys = {str(bodies[e.seq]["key_id"]) for e in events}
    # And every key of the people who signed a statement inside them, registered before
    # the last of them: check_receipt re-checks those statements too.
    signers = set().union(*(statement_signers(bodies[e.seq]) for e in events))
    for kid, event in key_events.items():
        owner = bodies[event.seq]["payload"].get("owner")
        if owner in signers and event.seq < events[-1].seq:
            signing_keys.add(kid)
    # And the registrations of the keys that registered those, back to the log's first
    # event: check_receipt re-checks each registration's signature, so that a statement is
    # re-checked only under keys whose registration the receipt shows was signed.
    pending = list(signing_keys)
    while pending:
        registrar = str(bodies[key_events[pending.pop()].seq]["key_id"])
        if registrar in key_events and registrar not in signing_keys:
            signing_keys.add(registrar)
            pending.append(registrar)
    keys = sorted((key_events[k] for k in signing_keys), key=lambda e: e.seq)
    return {
        "format": RECEIPT_FORMAT,
        "version": RECEIPT_VERSION,
        "participant": participant,
        "ceremony": ceremony,
        "checkpoint": note,
        "events": [_entry(e, tree, cp.size) for e in events],
        "keys": [_entry(e, tree, cp.size) for e in keys],
    }


def write_receipt(
    receipt: dict[str, Any], path: str | os.PathLike[str], *, force: bool = False
) -> None:
    data = (json.dumps(receipt, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
    write_new_file(path, data, mode=0o644, force=force)


@dataclass(frozen=True)
class CheckedEvent:
    seq: int
    kind: str
    time: str
    actor: str


@dataclass(frozen=True)
class ReceiptResult:
    participant: str
    ceremony: int | None
    checkpoint: Checkpoint
    events: list[CheckedEvent]
    signed_by: list[str]


@dataclass(frozen=True)
class _Entry:
    seq: int
    body: bytes
    hash: str
    signature: str
    proof: list[bytes]


def _entries(items: Any, what: str) -> list[_Entry]:
    if not isinstance(items, list):
        raise InputError(f"receipt: {what} is not a list")
    out = []
    for item in items:
        try:
            out.append(
                _Entry(
                    int(item["seq"]),
                    str(item["body"]).encode("ascii"),
                    str(item["hash"]),
                    str(item["signature"]),
                    [base64.b64decode(p, validate=True) for p in item["proof"]],
                )
            )
        except (KeyError, TypeError, ValueError, binascii.Error, UnicodeEncodeError) as exc:
            raise InputError(f"receipt: malformed entry in {what}: {exc}") from None
    return out


def load_receipt(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not JSON: {exc}") from None
    except RecursionError:  # a receipt comes from outside: never a traceback
        raise InputError(f"{path}: not a receipt: JSON nested too deeply") from None
    if (
        not isinstance(doc, dict)
        or doc.get("format") != RECEIPT_FORMAT
        or doc.get("version") != RECEIPT_VERSION
    ):
        raise InputError(f"{path}: not a tcr-kit audit receipt (version 1)")
    return doc


def _check_included(entry: _Entry, cp: Checkpoint, what: str) -> dict[str, Any]:
    label = f"{what} {entry.seq}"
    digest = event_hash(entry.body)
    if not hmac.compare_digest(digest.hex(), entry.hash.lower()):
        raise ReceiptInvalid(f"receipt: {label}: body does not match its hash (edited?)")
    try:
        body = parse_canonical(entry.body)
    except ValueError as exc:
        raise ReceiptInvalid(f"receipt: {label}: body is not canonical JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("seq") != entry.seq or body.get("v") != 1:
        raise ReceiptInvalid(f"receipt: {label}: body does not say seq {entry.seq}")
    if not 1 <= entry.seq <= cp.size:
        raise ReceiptInvalid(f"receipt: {label}: not within the checkpoint's {cp.size} events")
    try:
        verify_inclusion(entry.seq - 1, cp.size, leaf_hash(digest), entry.proof, cp.root)
    except ProofInvalid as exc:
        raise ReceiptInvalid(f"receipt: {label}: not in the checkpointed tree: {exc}") from None
    return body


def check_receipt(
    doc: dict[str, Any], verifiers: Sequence[NoteVerifier], note: str | None = None
) -> ReceiptResult:
    """Check a receipt offline. ``verifiers``: the log's published key(s); ``note``: a
    checkpoint the checker already trusts (default: the one in the receipt), which must be
    the same tree head as the receipt's."""
    participant = doc.get("participant")
    ceremony = doc.get("ceremony")
    if not isinstance(participant, str) or not (ceremony is None or isinstance(ceremony, int)):
        raise InputError("receipt: malformed participant or ceremony")
    embedded = doc.get("checkpoint")
    if not isinstance(embedded, str):
        raise InputError("receipt: no checkpoint note")
    try:
        cp, _, names = open_checkpoint(embedded, verifiers)
    except NoteInvalid as exc:
        raise ReceiptInvalid(f"receipt: checkpoint: {exc}") from None
    if note is not None:
        given, _, _ = open_checkpoint(note, verifiers)
        if not given.same_head(cp):
            raise ReceiptInvalid(
                f"receipt is against tree size {cp.size} of {cp.origin}, not the given "
                f"checkpoint (tree size {given.size} of {given.origin})"
            )
    keys: dict[str, tuple[int, str, bytes, str]] = {}  # key id -> seq, alg, pub, owner
    for entry in _entries(doc.get("keys"), "keys"):
        body = _check_included(entry, cp, "key registration")
        payload = body.get("payload")
        if body.get("kind") != KEY_ADD or not isinstance(payload, dict):
            raise ReceiptInvalid(f"receipt: key registration {entry.seq}: not a key registration")
        try:
            keys[str(payload["key_id"])] = (
                entry.seq,
                str(payload["algorithm"]),
                bytes.fromhex(str(payload["public_key"])),
                str(payload["owner"]),
            )
        except (KeyError, ValueError):
            raise ReceiptInvalid(f"receipt: key registration {entry.seq}: malformed") from None
    signed = _signed_registrations(_entries(doc.get("keys"), "keys"), keys)
    checked: list[CheckedEvent] = []
    entries = _entries(doc.get("events"), "events")
    if not entries:
        raise ReceiptInvalid("receipt: lists no event")
    for entry in entries:
        body = _check_included(entry, cp, "event")
        if not mentions(body, participant):
            raise ReceiptInvalid(f"receipt: event {entry.seq}: does not concern {participant}")
        if ceremony is not None and not in_ceremony(body, ceremony):
            raise ReceiptInvalid(f"receipt: event {entry.seq}: not of ceremony {ceremony}")
        kid = str(body.get("key_id"))
        label = f"receipt: event {entry.seq}"
        key = keys.get(kid)
        if key is None:
            raise ReceiptInvalid(f"{label}: signing key {kid} is not registered before it")
        owner = _check_signed(entry, body, kid, key, label)
        checked.append(CheckedEvent(entry.seq, str(body.get("kind")), str(body.get("time")), owner))
    _check_statements(entries, {kid: keys[kid] for kid in signed})
    return ReceiptResult(participant, ceremony, cp, checked, names)


def _check_signed(
    entry: _Entry, body: dict[str, Any], kid: str, key: tuple[int, str, bytes, str], label: str
) -> str:
    """Raise :class:`ReceiptInvalid` (``label``: what failed) unless ``entry`` is signed by
    ``key`` (id ``kid``), registered before it (the log's first event registers its own
    signer) to the entry's actor; returns that actor."""
    seq, algorithm, pub, owner = key
    if seq > entry.seq or (seq == entry.seq and entry.seq != 1):
        raise ReceiptInvalid(f"{label}: signing key {kid} is not registered before it")
    if owner != body.get("actor"):
        raise ReceiptInvalid(f"{label}: actor {body.get('actor')} signed with the key of {owner}")
    try:
        signature = bytes.fromhex(entry.signature)
    except ValueError:
        raise ReceiptInvalid(f"{label}: signature is not hex") from None
    if algorithm not in ALGORITHMS or not signature_ok(
        algorithm, pub, event_hash(entry.body), signature
    ):
        raise ReceiptInvalid(f"{label}: signature does not verify")
    return owner


def _signed_registrations(
    entries: Sequence[_Entry], keys: dict[str, tuple[int, str, bytes, str]]
) -> set[str]:
    """The key ids whose registration the receipt shows was signed: the log's first event
    (self-signed), or a registration signed by a key shown so, registered before it, of
    its actor. A registration whose signer's key the receipt carries must verify under it
    (exit 3); one whose signer's key it lacks (receipts made before registrations were
    re-checked) still serves to check the events' own signatures, not a statement."""
    signed: set[str] = set()
    for entry in sorted(entries, key=lambda e: e.seq):
        body = parse_canonical(entry.body)  # checked by _check_included
        own, registrar = str(body["payload"]["key_id"]), str(body.get("key_id"))
        if registrar not in keys or (registrar == own and entry.seq != 1):
            continue
        label = f"receipt: key registration {entry.seq}"
        _check_signed(entry, body, registrar, keys[registrar], label)
        if registrar in signed or (registrar == own and entry.seq == 1):
            signed.add(own)
    return signed


def _check_statements(
    entries: Sequence[_Entry], keys: dict[str, tuple[int, str, bytes, str]]
) -> None:
    """The signed statements inside the receipt's events, re-checked as ``tcr audit
    verify`` does (:func:`~tcr_kit.audit.statements.check_statements`), with the key
    registrations the receipt carries (a receipt shows no revocation: see the docs)."""
    timeline = {
        kid: KeyRecord(kid, algorithm, pub, owner, seq)
        for kid, (seq, algorithm, pub, owner) in keys.items()
    }
    try:
        check_statements(((e.seq, e.body) for e in entries), timeline)
    except AuditIntegrityError as exc:
        hint = ""
        if "has no key registered before this event" in exc.reason:
            # Receipts made before statements were re-checked do not carry their signers'
            # keys: say how to get one that does, since the log itself may be sound.
            hint = (
                " (a receipt made before tcr-kit re-checked the statements inside events"
                " lacks their signers' keys: make it again with tcr audit receipt)"
            )
        raise ReceiptInvalid(f"receipt: event {exc.seq}: {exc.reason}{hint}") from None
