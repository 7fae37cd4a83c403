"""The checks of each audit event, made on any slice of a log independently of the others.

What makes event *s* valid depends on three things only: the event itself, the event
before it (whose hash its body names as ``prev``), and which keys were registered and
revoked before *s*. The last is known before any event is checked: registrations and
revocations are rare, and :func:`key_timeline` finds them with a substring test and reads
them in one pass. With that timeline any slice of the log can be checked alone, hashes,
canonical form, fields and signature included, so the slices can go to several processes
(:mod:`tcr_kit.audit.parallel`) that each receive nothing but two indices.

The outcome is the one a walk from event 1 gives. The timeline answers "registered (or
revoked) before *s*" exactly as the walk's key state at *s* would, for every *s* up to the
first bad event: the registrations and revocations it holds before that event are the
valid ones, read in order (a key registered twice or revoked twice keeps its first
record, and the second event is refused by the checks here). Each slice stops at its own
first bad event and the smallest over all slices is the one reported, so events after the
first bad one, which a walk never reaches, cannot change the verdict.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.audit.chain import (
    CHECKPOINT_EVENT,
    GENESIS_PREV,
    KEY_ADD,
    KEY_REVOKE,
    AuditIntegrityError,
    KeyRecord,
    event_hash,
)
from tcr_kit.audit.signing import (
    ALGORITHMS,
    ECDSA_P256,
    Verifier,
    canonical_public_key,
    check_public_key,
    key_id,
    make_verifier,
)
from tcr_kit.audit.statements import STATEMENT_KINDS, STATEMENT_MARK
from tcr_kit.errors import InputError, IntegrityError

Row = tuple[int, bytes, str, str, bool]
"""One event as stored: seq, body, hash (hex), signature (hex), whether co-signatures are
stored with it."""
RowOf = Callable[[Any], Row]
"""Turns one entry of the sequence being checked into a :data:`Row`; raises
:class:`IntegrityError` for an entry that is not an event (a malformed transcript)."""
Selector = Callable[[dict[str, Any]], bool]

PROGRESS_EVERY = 1000
"""Events between two progress reports of a slice."""

# How a registration or revocation starts in canonical JSON (keys are sorted, nothing is
# escaped in these names): a body without it is neither, or is not canonical (and then
# refused by its own checks, before anything that depends on the timeline).
_KEY_MARK = '"kind":"audit.key.'
_KEY_MARK_BYTES = _KEY_MARK.encode("ascii")
_COSIGNERS_MARK = b'"cosigners":'


def registration(payload: dict[str, Any], seq: int) -> KeyRecord:
    """The key a registration's payload declares; :class:`AuditIntegrityError` if malformed."""
    try:
        pub = bytes.fromhex(str(payload["public_key"]))
        algorithm = str(payload["algorithm"])
        owner = str(payload["owner"])
    except (KeyError, ValueError):
        raise AuditIntegrityError(seq, "malformed key registration") from None
    try:
        check_public_key(algorithm, pub)
    except (ValueError, TypeError, IndexError):
        raise AuditIntegrityError(seq, "malformed key registration") from None
    if algorithm not in ALGORITHMS or payload.get("key_id") != key_id(pub):
        raise AuditIntegrityError(seq, "malformed key registration")
    return KeyRecord(key_id(pub), algorithm, pub, owner, seq)


def key_bodies(entries: Sequence[Any], body: Callable[[Any], object]) -> list[tuple[int, bytes]]:
    """(index, body) of the entries that may register or revoke a key: one substring test
    per entry (``body(entry)``: its body as ``str`` or ``bytes``, anything else if none)."""
    found: list[tuple[int, bytes]] = []
    for index, entry in enumerate(entries):
        text = body(entry)
        if type(text) is str:
            if _KEY_MARK in text and text.isascii():
                found.append((index, text.encode("ascii")))
        elif isinstance(text, bytes | bytearray) and _KEY_MARK_BYTES in text:
            found.append((index, bytes(text)))
    return found


def key_timeline(bodies: Iterable[tuple[int, bytes]]) -> dict[str, KeyRecord]:
    """Every key the log registers, with the event that registered it and the one that
    revoked it (first of each), from the (index, body) of the events that may do either
    (:func:`key_bodies`), in order. Nothing is refused here: the event checks do that."""
    timeline: dict[str, KeyRecord] = {}
    for index, data in bodies:
        try:
            parsed = parse_canonical(data)
        except ValueError:
            continue
        payload = parsed.get("payload") if isinstance(parsed, dict) else None
        if not isinstance(payload, dict):
            continue
        if parsed.get("kind") == KEY_ADD:
            try:
                key = registration(payload, index + 1)
            except AuditIntegrityError:
                continue
            timeline.setdefault(key.key_id, key)
        elif parsed.get("kind") == KEY_REVOKE:
            target = timeline.get(str(payload.get("key_id")))
            if target is not None and target.revoked_seq is None:
                timeline[target.key_id] = replace(target, revoked_seq=index + 1)
    return timeline


@dataclass
class SliceResult:
    """What checking one slice found; small, so that a worker process returns it cheaply."""

    malformed: tuple[int, str] | None = None
    """The first entry that is not an event: (index, message)."""
    error: tuple[int, str] | None = None
    """The first bad event: (seq, reason)."""
    digests: bytes = b""
    """The 32-byte hash of every event of the slice, in order (complete only without error)."""
    announced: list[int] = field(default_factory=list)
    """Events that announce a checkpoint."""
    cosigned: list[int] = field(default_factory=list)
    """Indices of the events that carry co-signatures or declare co-signers."""
    statements: list[int] = field(default_factory=list)
    """Indices of the events that may embed a signed statement
    (:mod:`tcr_kit.audit.statements`)."""
    selected: list[int] = field(default_factory=list)
    """The events the selector chose."""
    unselectable: bool = False
    """The selector raised on an event."""


def check_slice(
    entries: Sequence[Any],
    start: int,
    stop: int,
    row: RowOf,
    timeline: dict[str, KeyRecord],
    selector: Selector | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    base: int = 0,
    prev: str | None = None,
) -> SliceResult:
    """Check events ``start`` to ``stop - 1`` (indices of ``entries``; the entry at index
    *i* is event *base + i + 1*). After the first bad event the rest of the slice is only
    read as entries, so that a malformed entry anywhere is still found (it is reported
    before any bad event). ``prev``: the hash of the event before the slice, where
    ``entries`` does not hold it (a slice that starts a part of the log, ``base > 0``).
    Indices in the result (``malformed``, ``cosigned``) count from the start of the log."""
    out = SliceResult()
    digests: list[bytes] = []
    verifiers: dict[str, Verifier] = {}
    if prev is None:
        if base:
            raise ValueError("a slice after the start of the log needs the hash before it")
        prev = GENESIS_PREV if start == 0 else _hash_hex(entries[start - 1], row)
    next_report = start + PROGRESS_EVERY
    for index in range(start, stop):
        if index == next_report and progress is not None:
            progress(index - start)
            next_report += PROGRESS_EVERY
        try:
            stored_seq, body, recorded, signature, cosigned = row(entries[index])
        except IntegrityError as exc:
            out.malformed = (base + index, str(exc))
            break
        if out.error is not None:
            continue
        seq = base + index + 1
        try:
            digest, prev, parsed = _check_event(
                seq, stored_seq, body, recorded, signature, prev, timeline, verifiers
            )
        except AuditIntegrityError as exc:
            out.error = (exc.seq, exc.reason)
            continue
        digests.append(digest)
        kind = parsed.get("kind")
        if kind == CHECKPOINT_EVENT:
            out.announced.append(seq)
        if cosigned or _COSIGNERS_MARK in body:
            out.cosigned.append(seq - 1)
        if (type(kind) is str and kind in STATEMENT_KINDS) or STATEMENT_MARK in body:
            out.statements.append(seq - 1)
        if selector is not None and not out.unselectable:
            try:
                if selector(parsed):
                    out.selected.append(seq)
            except (InputError, ValueError, KeyError, TypeError):
                out.unselectable = True
    if progress is not None:
        progress(stop - start)
    out.digests = b"".join(digests)
    return out


def _hash_hex(entry: Any, row: RowOf) -> str:
    """The recomputed hash of the event before a slice (which that event's own slice
    checks); an entry that is not an event is reported before anything that follows it."""
    try:
        return event_hash(row(entry)[1]).hex()
    except IntegrityError:
        return ""


def _check_event(
    seq: int,
    stored_seq: int,
    body: bytes,
    recorded: str,
    signature_hex: str,
    prev: str,
    timeline: dict[str, KeyRecord],
    verifiers: dict[str, Verifier],
) -> tuple[bytes, str, dict[str, Any]]:
    """Every check of event ``seq``, in the order a walk from event 1 makes them; returns
    its hash (bytes and hex) and parsed body, or raises :class:`AuditIntegrityError`."""
    if stored_seq != seq:
        if stored_seq > seq:
            raise AuditIntegrityError(seq, f"missing (next row is {stored_seq}: deleted?)")
        raise AuditIntegrityError(seq, f"row numbered {stored_seq} out of order")
    digest = event_hash(body)
    digest_hex = digest.hex()
    if not isinstance(recorded, str) or not recorded.isascii():
        raise AuditIntegrityError(seq, "recorded hash is not hex (edited?)")
    if not hmac.compare_digest(digest_hex, recorded.lower()):
        raise AuditIntegrityError(seq, "content does not match its recorded hash (edited?)")
    try:
        parsed = parse_canonical(body)
    except ValueError as exc:
        raise AuditIntegrityError(seq, f"body is not canonical JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise AuditIntegrityError(seq, "body is not a JSON object")
    if parsed.get("v") != 1:
        raise AuditIntegrityError(seq, f"unknown format version {parsed.get('v')!r}")
    if parsed.get("seq") != seq:
        raise AuditIntegrityError(seq, f"body says seq {parsed.get('seq')} (moved or reordered?)")
    if parsed.get("prev") != prev:
        raise AuditIntegrityError(
            seq, f"does not follow event {seq - 1} (inserted, deleted or reordered before it?)"
        )
    kid = parsed.get("key_id")
    actor = parsed.get("actor")
    payload = parsed.get("payload")
    if not isinstance(kid, str) or not isinstance(actor, str) or not isinstance(payload, dict):
        raise AuditIntegrityError(seq, "malformed event fields")
    kind = parsed.get("kind")
    new_key: KeyRecord | None = None
    if kind == KEY_ADD:
        new_key = registration(payload, seq)
        first = timeline.get(new_key.key_id)
        if first is not None and first.added_seq < seq:
            raise AuditIntegrityError(seq, "key registered twice")
        twin = _same_key_before(timeline, new_key, seq)
        if twin is not None:
            raise AuditIntegrityError(
                seq,
                f"key registered twice: key {new_key.key_id} is key {twin.key_id} (registered"
                f" at event {twin.added_seq}) in another encoding of the same P-256 point",
            )
    if seq == 1:
        if new_key is None or new_key.key_id != kid or new_key.owner != actor:
            raise AuditIntegrityError(1, "the first event must be a self-signed key registration")
        signer = new_key
    else:
        found = timeline.get(kid)
        if found is None or found.added_seq >= seq:
            raise AuditIntegrityError(seq, f"signed by key {kid}, not registered before it")
        if found.revoked_seq is not None and found.revoked_seq < seq:
            raise AuditIntegrityError(
                seq, f"signed by key {kid}, revoked at event {found.revoked_seq}"
            )
        signer = found
    if signer.owner != actor:
        raise AuditIntegrityError(seq, f"actor {actor} signed with the key of {signer.owner}")
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise AuditIntegrityError(seq, "signature is not hex") from None
    if not _signature_ok(signer, digest, signature, verifiers):
        raise AuditIntegrityError(
            seq, "signature does not verify (event altered, or signed by another key)"
        )
    if kind == KEY_REVOKE:
        target = timeline.get(str(payload.get("key_id")))
        if (
            target is None
            or target.added_seq >= seq
            or (target.revoked_seq is not None and target.revoked_seq < seq)
            or target.key_id == kid
        ):
            raise AuditIntegrityError(seq, "malformed key revocation")
    return digest, digest_hex, parsed


def _same_key_before(timeline: dict[str, KeyRecord], key: KeyRecord, seq: int) -> KeyRecord | None:
    """A key registered before event ``seq`` under another ``key_id`` that is the same key
    as ``key`` (the same P-256 point, encoded otherwise: compressed, say), or ``None``.
    Ed25519 keys have one encoding (:func:`registration` accepts the canonical one only),
    so only P-256 registrations, which are rare, are compared."""
    if key.algorithm != ECDSA_P256:
        return None
    mine = canonical_public_key(key.algorithm, key.public_key)
    for other in timeline.values():
        if (
            other.algorithm == key.algorithm
            and other.added_seq < seq
            and other.key_id != key.key_id
            and canonical_public_key(other.algorithm, other.public_key) == mine
        ):
            return other
    return None


def _signature_ok(
    signer: KeyRecord, digest: bytes, signature: bytes, verifiers: dict[str, Verifier]
) -> bool:
    verifier = verifiers.get(signer.key_id)
    if verifier is None:
        try:
            verifier = make_verifier(signer.algorithm, signer.public_key)
        except (ValueError, TypeError, IndexError):
            return False
        verifiers[signer.key_id] = verifier
    return verifier(digest, signature)
