"""Signed statements carried inside audit events, re-checked from the log alone.

Some events embed a statement that *somebody other than the actor* signed: the emergency
override of an activation (two staff members), the remote approvals of an activation
(TCRs at home), a TCR's seal attestation of a bag sealed at home, the signed manifest of a
share set. The event's own signature only proves that the actor recorded them; whoever
holds the actor's key could record garbage "signatures" and the chain would still verify.
:func:`check_statements` closes that gap: for each statement it rebuilds the exact bytes
the signer signed (the functions below are the ones the signing code itself calls), and
checks each signature with the key the log registered for the named person before that
event and had not revoked by then (the key timeline of
:func:`tcr_kit.audit.eventcheck.key_timeline`), plus the rules the statement itself
carries. What the custody policy requires (roles, how many approvals an HSM needs) is
not re-applied here: that needs the roster and the configuration, not only the log.

Finding the candidates costs one set lookup of the event's kind (:data:`STATEMENT_KINDS`)
and one substring test (:data:`STATEMENT_MARK`) per event, made inside the slice pass of
:mod:`tcr_kit.audit.eventcheck` on the body it has already parsed; only the candidates are
parsed again, after the chain checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from tcr_kit.audit.canonical import canonical_bytes, parse_canonical
from tcr_kit.audit.chain import AuditIntegrityError, KeyRecord
from tcr_kit.audit.signing import key_id, signature_ok

__all__ = [
    "MANIFEST_DOMAIN",
    "SEAL_ATTESTATION_DOMAIN",
    "STATEMENT_KINDS",
    "STATEMENT_MARK",
    "VERDICT_FORM",
    "approval_message",
    "check_statements",
    "manifest_digest",
    "override_message",
    "refused_activation",
    "rejected_override_signatures",
    "request_sha256",
    "seal_attestation_digest",
    "statement_signers",
]

STATEMENT_MARK = b'"signature":'
"""How an embedded signature starts in canonical JSON (a ``"`` inside a string is escaped,
so text cannot imitate it): with :data:`STATEMENT_KINDS`, what makes an event a
candidate."""
STATEMENT_KINDS = frozenset(
    {"hsm.activate", "bag.remote-seal", "share-set.manifest", "share-set.extend"}
)
"""The kinds of event that carry a signed statement: always candidates, so that a statement
stripped of every signature is checked (and refused) too."""
SEAL_ATTESTATION_DOMAIN = b"tcr-kit/seal-attestation/v1\n"
"""Domain prefix of the digest a seal attestation's holder signs."""
MANIFEST_DOMAIN = b"tcr-kit/share-manifest/v1\n"
"""Domain prefix of the digest a share manifest's signer signs (the sharing package keeps
its own copy, being below this one; a unit test holds the two equal)."""

VERDICT_FORM = 2
"""``verdict_form`` of an ``hsm.activate`` event that records an override or approvals:
each rejected override signature is named by its place in the list (``index``). Form 1,
never written as such, is the ``rejected`` list of earlier events, naming the person only.
Once a log holds an event carrying it, every later refused activation recording a
statement must carry it and a verdict on each statement (:func:`check_statements`)."""

_ACTIVATE = "hsm.activate"
_MANIFEST_KINDS = frozenset({"share-set.manifest", "share-set.extend"})
_OVERRIDE_PEOPLE = 2
"""An override statement carries at least two signatures by different people (the policy
may ask for more; that is not re-applied here)."""


# -- the signed bytes (shared with the signing code) ------------------------------------------


def override_message(statement: Mapping[str, Any]) -> bytes:
    """The bytes each signer of an activation override signs: the canonical JSON of its
    statement (``hsm.clearance.OverrideStatement.facts``)."""
    return canonical_bytes(dict(statement))


def approval_message(approval: Mapping[str, Any]) -> bytes:
    """The bytes a remote approval's signer signs: the canonical JSON of the approval
    without its ``signature``."""
    return canonical_bytes({k: v for k, v in approval.items() if k != "signature"})


def request_sha256(request: Mapping[str, Any]) -> str:
    """An approval request's hash (hex): SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_bytes(dict(request))).hexdigest()


def seal_attestation_digest(fields: Mapping[str, Any]) -> bytes:
    """The digest a seal attestation's holder signs: SHA-256 of the domain prefix and the
    canonical JSON of the attestation's fields (everything but ``signature``)."""
    body = canonical_bytes({k: v for k, v in fields.items() if k != "signature"})
    return hashlib.sha256(SEAL_ATTESTATION_DOMAIN + body).digest()


def manifest_digest(manifest: Mapping[str, Any]) -> bytes:
    """The digest a share manifest's signer signs, and the manifest's identity: SHA-256 of
    the domain prefix and the manifest without ``signature`` as sorted, compact JSON in
    **UTF-8** (not ASCII-escaped, unlike the audit log's canonical form)."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(MANIFEST_DOMAIN + text.encode()).digest()


# -- who signs the statements of an event ---------------------------------------------------


def statement_signers(event: Mapping[str, Any]) -> set[str]:
    """The people named as signers of the statements ``event`` (a parsed body) carries:
    whose key registrations a receipt of it must hold so that its statements can be
    re-checked (:mod:`tcr_kit.audit.receipt`). Best effort on a malformed event (the
    check itself refuses it)."""
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return set()
    found: set[object] = set()
    override = payload.get("override")
    if isinstance(override, dict) and isinstance(override.get("signatures"), list):
        found |= {s.get("person") for s in override["signatures"] if isinstance(s, dict)}
    approvals = payload.get("approvals")
    if isinstance(approvals, dict) and isinstance(approvals.get("approvals"), list):
        found |= {a.get("signer") for a in approvals["approvals"] if isinstance(a, dict)}
    for record in payload.get("records") or ():
        if isinstance(record, dict) and record.get("table") == "attestation":
            doc = record.get("doc")
            found.add(doc.get("holder") if isinstance(doc, dict) else None)
    manifest = payload.get("manifest")
    if isinstance(manifest, dict) and isinstance(manifest.get("signer"), dict):
        found.add(manifest["signer"].get("id"))
    return {who for who in found if isinstance(who, str)}


# -- the check --------------------------------------------------------------------------------


class _Malformed(Exception):
    """A statement whose structure is not the one its signing code writes."""


def check_statements(events: Iterable[tuple[int, bytes]], keys: Mapping[str, KeyRecord]) -> int:
    """Re-check every signed statement the events carry; returns how many were checked.

    ``events``: (seq, body) of events whose chain and signature were verified, in any
    order, at least every event of a kind in :data:`STATEMENT_KINDS` or whose body holds
    :data:`STATEMENT_MARK`; ``keys``: the log's key timeline. A bad, missing, duplicate or
    unknown signature raises :class:`~tcr_kit.audit.chain.AuditIntegrityError` naming the
    event (the first by seq).
    In a refused activation, which may record the very override or approvals whose
    signatures failed, only what it did not reject is re-checked: the approvals it counted
    valid and the override signatures its ``rejected`` list does not name (by place, or,
    in events recorded before :data:`VERDICT_FORM`, every signature of the person named);
    one recorded without that verdict (before it was kept) is not re-checked, unless an
    event before it (among ``events``) carries ``verdict_form``: then it fails."""
    signers = _Signers(keys)
    rule = _VerdictRule()
    count = 0
    for seq, body in sorted(events):
        try:
            parsed = parse_canonical(body)
        except ValueError:
            raise AuditIntegrityError(seq, "body is not canonical JSON") from None
        try:
            count += _check_event(seq, parsed, signers, rule)
        except _Malformed as exc:
            raise AuditIntegrityError(seq, f"malformed {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError):
            raise AuditIntegrityError(seq, "malformed signed statement") from None
    return count


def _check_event(seq: int, event: Any, signers: _Signers, rule: _VerdictRule) -> int:
    if not isinstance(event, dict) or not isinstance(event.get("payload"), dict):
        return 0
    kind, payload = event.get("kind"), event["payload"]
    count = 0
    if kind == _ACTIVATE:
        refused = refused_activation(payload)
        rule.check(seq, payload, refused=refused)
        # A refused activation's statements are re-checked where it recorded its verdict
        # on them (a ``rejected`` list): what it did not reject must hold.
        if payload.get("override") is not None and (
            not refused or _has_verdict(payload["override"])
        ):
            _check_override(seq, payload, signers, refused=refused)
            count += 1
        if payload.get("approvals") is not None and (
            not refused or _has_verdict(payload["approvals"])
        ):
            count += _check_approvals(seq, payload, signers, refused=refused)
    for record in payload.get("records") or ():
        if isinstance(record, dict) and record.get("table") == "attestation":
            _check_attestation(seq, record.get("doc"), signers)
            count += 1
    if kind in _MANIFEST_KINDS and payload.get("manifest") is not None:
        _check_manifest(seq, payload, signers)
        count += 1
    return count


def refused_activation(payload: Mapping[str, Any]) -> bool:
    """Whether an ``hsm.activate`` payload records a refusal (its ``outcome`` starts with
    ``refused``): one reading for the verifier, the timeline and the check that approvals
    were not used before, so that none counts as refused what another counts as done."""
    return str(payload.get("outcome", "")).startswith("refused")


def _for_this_activation(
    seq: int, statement: dict[str, Any], payload: dict[str, Any], wrong: str
) -> None:
    """Raise ``wrong`` unless ``statement`` names the HSM and the configuration of the
    activation ``payload`` records."""
    hsm = _object(payload["hsm"], "activation")
    if statement.get("hsm") != hsm.get("name") or statement.get("config_sha256") != payload.get(
        "config_sha256"
    ):
        raise AuditIntegrityError(seq, wrong)


def _has_verdict(value: object) -> bool:
    """Whether a refused activation recorded its verdict on this statement."""
    return isinstance(value, dict) and "rejected" in value


class _VerdictRule:
    """Once an ``hsm.activate`` carrying ``verdict_form`` was seen (at :attr:`since`),
    every later refused one that records an override or approvals must carry
    ``verdict_form`` and a verdict (``rejected``) on each: otherwise a forger holding the
    actor's key could drop a verdict to escape the re-check. Before the first such event
    nothing is required (logs of earlier versions verify as before)."""

    def __init__(self) -> None:
        self.since: int | None = None

    def check(self, seq: int, payload: dict[str, Any], *, refused: bool) -> None:
        form = payload.get("verdict_form")
        if form is not None:
            if type(form) is not int or form != VERDICT_FORM:
                raise _Malformed("verdict_form")
            if self.since is None:
                self.since = seq
        if not refused or self.since is None:
            return
        given = [n for n in ("override", "approvals") if payload.get(n) is not None]
        if given and form is None:
            raise AuditIntegrityError(
                seq,
                f"a refused activation after event {self.since}, which recorded its verdicts,"
                f" records its {' and '.join(given)} without verdict_form (verdict dropped?)",
            )
        for name in given:
            if not _has_verdict(payload[name]):
                raise AuditIntegrityError(
                    seq,
                    f"a refused activation records its {name} without a verdict (no rejected"
                    " list: dropped?)",
                )


def _rejected_signatures(
    seq: int, override: dict[str, Any], signatures: list[Any], *, form: object
) -> tuple[set[int], set[str]]:
    """The override signatures a refused activation rejected: their places (``index``,
    :data:`VERDICT_FORM`) and, in an event recorded before it, the people named (each of
    whose signatures is then skipped, as it always was)."""
    items = override["rejected"]
    if not isinstance(items, list):
        raise _Malformed("override rejected")
    places: set[int] = set()
    people: set[str] = set()
    for raw in items:
        item = _object(raw, "override rejected")
        person = _text(item["person"], "override rejected")
        if form is None:
            people.add(person)
            continue
        index = item["index"]
        if type(index) is not int or not 0 <= index < len(signatures):
            raise _Malformed("override rejected")
        named = _object(signatures[index], "override signature").get("person")
        if named != person:
            raise AuditIntegrityError(
                seq,
                f"the override's rejected list names signature {index} as {person}'s;"
                f" it is {named}'s",
            )
        places.add(index)
    return places, people


def rejected_override_signatures(payload: Mapping[str, Any]) -> set[int] | None:
    """The places in ``payload["override"]["signatures"]`` of an ``hsm.activate`` payload
    whose signatures its verdict rejected, read as :func:`check_statements` reads them (by
    ``index`` in an event carrying ``verdict_form``; before it, every signature of each
    person named): what a reader must not show as a signature that held. ``None`` where the
    verdict is malformed (the verifier refuses the event). Shown only for a refused
    activation's override; an accepted one's signatures are all re-checked."""
    try:
        override = _object(payload["override"], "override")
        signatures = override["signatures"]
        if not isinstance(signatures, list):
            return None
        if "rejected" not in override:
            return set()
        places, people = _rejected_signatures(
            0, override, signatures, form=payload.get("verdict_form")
        )
    except (_Malformed, AuditIntegrityError, KeyError, TypeError):
        return None
    named = [s.get("person") if isinstance(s, dict) else None for s in signatures]
    return places | {i for i, who in enumerate(named) if isinstance(who, str) and who in people}


def _check_override(
    seq: int, payload: dict[str, Any], signers: _Signers, *, refused: bool = False
) -> None:
    """An accepted activation's override: every rule. A refused one's (``refused``): each
    signature its ``rejected`` list does not name (by place; in an event without
    ``verdict_form``, by person) must verify; the HSM, configuration and the two signers may
    be why it was refused."""
    override = _object(payload["override"], "override")
    if not {"statement", "signatures"} <= set(override):
        raise _Malformed("override")
    statement = _object(override["statement"], "override statement")
    if statement.get("format") != "tcr-kit/activation-override" or statement.get("version") != 1:
        raise _Malformed("override statement")
    if not refused:
        _for_this_activation(
            seq, statement, payload,
            "the override was signed for another HSM or configuration than this activation",
        )  # fmt: skip
    message = override_message(statement)
    signatures = override["signatures"]
    if not isinstance(signatures, list):
        raise _Malformed("override signatures")
    places: set[int] = set()
    skipped: set[str] = set()
    if refused:
        form = payload.get("verdict_form")
        places, skipped = _rejected_signatures(seq, override, signatures, form=form)
    people: list[str] = []
    for index, item in enumerate(signatures):
        sig = _object(item, "override signature")
        if not {"person", "algorithm", "signature"} <= set(sig):
            raise _Malformed("override signature")
        person = _text(sig["person"], "override signature")
        if index in places or person in skipped:
            continue
        if person in people:
            raise AuditIntegrityError(seq, f"the override is signed twice by {person}")
        people.append(person)
        raw = bytes.fromhex(_text(sig["signature"], "override signature"))
        algorithm = sig["algorithm"]
        candidates = signers.live(seq, person, "override")
        if not any(_verifies(k, algorithm, message, raw) for k in candidates):
            revoked = next(
                (k for k in signers.revoked(seq, person) if _verifies(k, algorithm, message, raw)),
                None,
            )
            if revoked is not None:
                raise AuditIntegrityError(
                    seq,
                    f"the override signature of {person} is by their key {revoked.key_id},"
                    f" revoked at event {revoked.revoked_seq}",
                )
            raise AuditIntegrityError(
                seq,
                f"the override signature of {person} does not verify under their key"
                f" {', '.join(k.key_id for k in candidates)}",
            )
    if not refused and len(people) < _OVERRIDE_PEOPLE:
        raise AuditIntegrityError(
            seq,
            f"the override carries {len(people)} signature(s); two different people must sign",
        )


def _check_approvals(
    seq: int, payload: dict[str, Any], signers: _Signers, *, refused: bool = False
) -> int:
    """The approvals an activation counted valid; in a refused one (``refused``) the
    request may be for another HSM or configuration (why it was refused)."""
    bundle = _object(payload["approvals"], "approvals")
    request = _object(bundle["request"], "approval request")
    stated = _text(bundle["request_sha256"], "approvals")
    if request.get("format") != "tcr-kit/approval-request" or request.get("version") != 1:
        raise _Malformed("approval request")
    if not hmac.compare_digest(request_sha256(request), stated):
        raise AuditIntegrityError(seq, "the approval request does not hash to its request_sha256")
    if not refused:
        _for_this_activation(
            seq, request, payload,
            "the approval request is for another HSM or configuration than this activation",
        )  # fmt: skip
    expires = _utc(request["expires"])
    approvals = bundle["approvals"]
    if not isinstance(approvals, list):
        raise _Malformed("approvals")
    seen: list[str] = []
    for item in approvals:
        approval = _object(item, "approval")
        if approval.get("format") != "tcr-kit/approval" or approval.get("version") != 1:
            raise _Malformed("approval")
        signer = _text(approval["signer"], "approval")
        if signer in seen:
            raise AuditIntegrityError(seq, f"a second approval by {signer}")
        seen.append(signer)
        if approval.get("request_sha256") != stated:
            raise AuditIntegrityError(seq, f"the approval of {signer} is of another request")
        if _utc(approval["signed_at"]) >= expires:
            raise AuditIntegrityError(seq, f"the approval of {signer} was signed after the expiry")
        public = bytes.fromhex(_text(approval["public_key"], "approval"))
        key = signers.exact(seq, signer, public, "approval")
        raw = bytes.fromhex(_text(approval["signature"], "approval"))
        if not _verifies(key, approval.get("algorithm"), approval_message(approval), raw):
            raise AuditIntegrityError(
                seq, f"the approval signature of {signer} does not verify under key {key.key_id}"
            )
    return len(approvals)


def _check_attestation(seq: int, doc: object, signers: _Signers) -> None:
    fields = _object(doc, "seal attestation")
    holder = _text(fields["holder"], "seal attestation")
    public = bytes.fromhex(_text(fields["public_key"], "seal attestation"))
    key = signers.exact(seq, holder, public, "seal attestation")
    raw = bytes.fromhex(_text(fields["signature"], "seal attestation"))
    if not _verifies(key, fields.get("algorithm"), seal_attestation_digest(fields), raw):
        raise AuditIntegrityError(
            seq, f"the seal attestation of {holder} does not verify under key {key.key_id}"
        )


def _check_manifest(seq: int, payload: dict[str, Any], signers: _Signers) -> None:
    manifest = _object(payload["manifest"], "share manifest")
    signer = _object(manifest["signer"], "share manifest signer")
    who = _text(signer["id"], "share manifest signer")
    digest = manifest_digest(manifest)
    if not hmac.compare_digest(digest.hex(), _text(payload["manifest_sha256"], "manifest")):
        raise AuditIntegrityError(seq, "the share manifest does not hash to its manifest_sha256")
    public = bytes.fromhex(_text(signer["public_key"], "share manifest signer"))
    key = signers.exact(seq, who, public, "share manifest")
    raw = bytes.fromhex(_text(manifest["signature"], "share manifest"))
    if not _verifies(key, signer.get("algorithm"), digest, raw):
        raise AuditIntegrityError(
            seq, f"the share manifest signature of {who} does not verify under key {key.key_id}"
        )


def _verifies(key: KeyRecord, algorithm: object, message: bytes, signature: bytes) -> bool:
    return key.algorithm == algorithm and signature_ok(
        key.algorithm, key.public_key, message, signature
    )


class _Signers:
    """The key timeline by owner: which keys a person could sign with at an event."""

    def __init__(self, keys: Mapping[str, KeyRecord]) -> None:
        self._keys = keys
        self._by_owner: dict[str, list[KeyRecord]] = {}
        for key in keys.values():
            self._by_owner.setdefault(key.owner, []).append(key)

    def live(self, seq: int, person: str, what: str) -> list[KeyRecord]:
        """The keys registered to ``person`` before event ``seq`` and not revoked before
        it; none is an unknown signer (or one whose keys were all revoked)."""
        registered = [k for k in self._by_owner.get(person, ()) if k.added_seq < seq]
        live = [k for k in registered if k.revoked_seq is None or k.revoked_seq > seq]
        if live:
            return live
        if registered:
            revoked = registered[-1]
            raise AuditIntegrityError(
                seq,
                f"the {what} signer {person}'s key {revoked.key_id} was revoked at event"
                f" {revoked.revoked_seq}",
            )
        raise AuditIntegrityError(
            seq, f"the {what} signer {person} has no key registered before this event"
        )

    def revoked(self, seq: int, person: str) -> list[KeyRecord]:
        """The keys of ``person`` registered before event ``seq`` and revoked before it."""
        return [
            k
            for k in self._by_owner.get(person, ())
            if k.added_seq < seq and k.revoked_seq is not None and k.revoked_seq < seq
        ]

    def exact(self, seq: int, person: str, public_key: bytes, what: str) -> KeyRecord:
        """The key ``public_key``, which must be one of :meth:`live` for ``person``."""
        kid = key_id(public_key)
        live = self.live(seq, person, what)
        found = next((k for k in live if k.key_id == kid), None)
        if found is None:
            key = self._keys.get(kid)
            if key is not None and key.owner == person and key.added_seq < seq:
                raise AuditIntegrityError(
                    seq,
                    f"the {what} of {person} is signed by key {kid}, revoked at event"
                    f" {key.revoked_seq}",
                )
            raise AuditIntegrityError(
                seq, f"the {what} of {person} names key {kid}, not registered to them at this event"
            )
        return found


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(what)
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _Malformed(what)
    return value


def _utc(value: object) -> datetime:
    text = _text(value, "time")
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None or not text.endswith("Z"):
        raise _Malformed("time")
    return parsed
