"""Remote approvals of an HSM activation, signed by TCRs who are not in the room.

A TCR at home cannot present a share (the shares still need the cards in the room), but
they can approve one activation with their own key: the HSM configuration may require M
approvals (``[approvals] required = M``) before anyone may activate it.

1. Staff make an :class:`ApprovalRequest` (:func:`new_request`): the ceremony, the HSM, the
   configuration's SHA-256, the purpose, a random 256-bit nonce, when it was made and when
   it expires.
2. Each TCR checks it (its SHA-256 as hex and PGP words, read aloud on the call) and signs
   it (:func:`sign_request`) with their card's signing key or a software key: an
   :class:`Approval`.
3. :func:`check_approvals` checks approvals against the roster (the signer is a TCR, not
   retired, and the key is the one the roster records for them), the request's hash, its
   expiry and duplicates; :func:`require_approvals` is the check an activation makes
   (exit 4 without a fresh quorum of valid approvals) and the approvals go into its
   ``hsm.activate`` audit event.

Formats (canonical JSON, :mod:`tcr_kit.audit.canonical`: sorted keys, no spaces, UTF-8, no
floats; a file holds exactly those bytes):

* request: ``{"format": "tcr-kit/approval-request", "version": 1, "ceremony": N,
  "hsm": NAME, "config_sha256": HEX, "purpose": TEXT, "nonce": HEX64, "created": T,
  "expires": T}``, times ISO 8601 UTC with ``Z``; its **request hash** is the SHA-256 of
  those bytes.
* approval: ``{"format": "tcr-kit/approval", "version": 1, "request_sha256": HEX,
  "signer": PERSON, "algorithm": ALG, "public_key": HEX, "signed_at": T,
  "signature": HEX}``. The signature is over the canonical JSON of the approval **without**
  its ``signature`` key (so it covers the request hash, the signer, the key and the time);
  ``ed25519`` (raw 32-byte key, RFC 8032) or ``ecdsa-p256-sha256`` (DER SubjectPublicKeyInfo,
  DER signature over SHA-256), the algorithms of :mod:`tcr_kit.audit.signing`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tcr_kit.clock import isoformat, utcnow
from tcr_kit.errors import InputError, IntegrityError, QuorumError

if TYPE_CHECKING:
    from tcr_kit.audit.signing import Signer
    from tcr_kit.custody.ledger import Ledger
    from tcr_kit.custody.models import Person
    from tcr_kit.hsm.config import LoadedConfig

__all__ = [
    "APPROVAL_FORMAT",
    "REQUEST_FORMAT",
    "Approval",
    "ApprovalBundle",
    "ApprovalCheck",
    "ApprovalInvalid",
    "ApprovalRequest",
    "ApprovalsNotMet",
    "check_approvals",
    "ledger_roster",
    "load_approval",
    "load_request",
    "new_request",
    "parse_expiry",
    "require_approvals",
    "sign_request",
]

REQUEST_FORMAT: Literal["tcr-kit/approval-request"] = "tcr-kit/approval-request"
"""The ``format`` marker of an approval request."""
APPROVAL_FORMAT: Literal["tcr-kit/approval"] = "tcr-kit/approval"
"""The ``format`` marker of a signed approval."""
MAX_FILE = 16 * 1024
"""Largest request or approval file read."""

_HEX64 = r"^[0-9a-f]{64}$"
Roster = Callable[[str], "Person | None"]
"""``roster(person_id)``: the roster's person, or ``None`` when there is none."""


class ApprovalInvalid(IntegrityError):
    """An approval that cannot be signed or does not verify (exit 3)."""


class ApprovalsNotMet(QuorumError):
    """Fewer valid, fresh approvals than the HSM configuration requires (exit 4)."""

    check: ApprovalCheck | None = None
    """The verdict on each approval given, where they were examined: the refused
    activation records it (the approvals counted valid, the others' reasons)."""

    def with_check(self, check: ApprovalCheck) -> ApprovalsNotMet:
        self.check = check
        return self


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None or not value.endswith("Z"):
        raise ValueError("must be ISO 8601 UTC ending in Z")
    return parsed


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def facts(self) -> dict[str, Any]:
        return self.model_dump()

    def canonical(self) -> bytes:
        """The exact bytes of the file (canonical JSON)."""
        from tcr_kit.audit.canonical import canonical_bytes

        return canonical_bytes(self.facts())


class ApprovalRequest(_Model):
    """What remote TCRs approve: one activation of one HSM in one ceremony."""

    format: Literal["tcr-kit/approval-request"]
    version: Literal[1]
    ceremony: Annotated[int, Field(ge=1)]
    hsm: Annotated[str, Field(min_length=1, max_length=64)]
    config_sha256: Annotated[str, Field(pattern=_HEX64)]
    purpose: Annotated[str, Field(min_length=1, max_length=500)]
    nonce: Annotated[str, Field(pattern=_HEX64)]
    created: str
    expires: str

    @field_validator("created", "expires")
    @classmethod
    def _utc(cls, value: str) -> str:
        _time(value)
        return value

    @property
    def sha256(self) -> str:
        """The request hash (what every approval names)."""
        from tcr_kit.audit.statements import request_sha256

        return request_sha256(self.facts())

    @property
    def expires_at(self) -> datetime:
        return _time(self.expires)

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at

    def describe(self) -> list[str]:
        """The request as a TCR reads it before signing, with its hash as hex and words."""
        from tcr_kit.audit.pgpwords import digest_words

        hex_, words = digest_words(bytes.fromhex(self.sha256))
        return [
            f"approval request for ceremony {self.ceremony}: activate HSM {self.hsm}",
            f"  purpose: {self.purpose}",
            f"  HSM config sha256 {self.config_sha256}",
            f"  made {self.created}, expires {self.expires}",
            f"  nonce {self.nonce}",
            f"request sha256 {hex_}",
            f"  {words}",
        ]


class Approval(_Model):
    """One TCR's signed approval of a request."""

    format: Literal["tcr-kit/approval"]
    version: Literal[1]
    request_sha256: Annotated[str, Field(pattern=_HEX64)]
    signer: Annotated[str, Field(min_length=1, max_length=64)]
    algorithm: Literal["ed25519", "ecdsa-p256-sha256"]
    public_key: Annotated[str, Field(pattern=r"^[0-9a-f]{2,400}$")]
    signed_at: str
    signature: Annotated[str, Field(pattern=r"^[0-9a-f]{2,400}$")]

    @field_validator("signed_at")
    @classmethod
    def _utc(cls, value: str) -> str:
        _time(value)
        return value

    def message(self) -> bytes:
        """The signed bytes: canonical JSON of the approval without ``signature`` (the
        audit verifier rebuilds them with the same function)."""
        from tcr_kit.audit.statements import approval_message

        return approval_message(self.facts())


@dataclass(frozen=True)
class ApprovalBundle:
    """A request and the approvals presented with it (what an activation is given)."""

    request: ApprovalRequest
    approvals: tuple[Approval, ...]

    def facts(self, *, check: ApprovalCheck) -> dict[str, Any]:
        """The ``approvals`` object of the ``hsm.activate`` audit event, with ``check``, the
        verdict the activation reached on them: ``approvals`` holds only the ones it counted
        and ``rejected`` the others' signers and reasons. ``tcr audit verify`` re-checks
        every recorded approval of an activation that was not refused, and of a refused one
        every approval its verdict counted; after the first event carrying ``verdict_form``
        it refuses approvals recorded without a verdict, so there is no form without one
        (:func:`tcr_kit.hsm.verdicts.recorded_statements` decides what an event records)."""
        return {
            "request_sha256": self.request.sha256,
            "request": self.request.facts(),
            "approvals": [a.facts() for a in check.valid],
            "rejected": [{"signer": s, "reason": r} for s, r in check.rejected],
        }


@dataclass
class ApprovalCheck:
    """The outcome of :func:`check_approvals`: the valid approvals and the refused ones."""

    request: ApprovalRequest
    valid: list[Approval] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """``(signer, reason)`` of each approval not counted."""

    @property
    def signers(self) -> list[str]:
        return [a.signer for a in self.valid]

    def facts(self) -> dict[str, Any]:
        return {
            "request_sha256": self.request.sha256,
            "valid": self.signers,
            "rejected": [{"signer": s, "reason": r} for s, r in self.rejected],
        }


# -- making and signing -----------------------------------------------------------------------

_UNITS = {"m": 60, "h": 3600, "d": 86400}


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """``--expires``: an ISO 8601 time with its zone (``2026-12-02T18:00Z``), or a duration
    from now (``90m``, ``12h``, ``2d``); exit 2 otherwise."""
    from datetime import timedelta

    value = text.strip()
    if value[:-1].isdigit() and value[-1:] in _UNITS:
        return (now or utcnow()) + timedelta(seconds=int(value[:-1]) * _UNITS[value[-1]])
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InputError(
            f"--expires {text!r}: give a time with its zone (2026-12-02T18:00Z) or a duration"
            " (90m, 12h, 2d)"
        )
    return parsed


def new_request(
    loaded: LoadedConfig,
    *,
    ceremony: int,
    purpose: str,
    expires: datetime,
    nonce: bytes | None = None,
) -> ApprovalRequest:
    """A request to approve activating ``loaded``'s HSM in ``ceremony``, until ``expires``."""
    now = utcnow()
    if expires.tzinfo is None:
        raise InputError("the expiry needs a time zone (UTC)")
    if expires <= now:
        raise InputError(f"the expiry {isoformat(expires)} is not in the future")
    nonce = nonce if nonce is not None else secrets.token_bytes(32)
    request: ApprovalRequest = _parse(
        ApprovalRequest,
        {
            "format": REQUEST_FORMAT,
            "version": 1,
            "ceremony": ceremony,
            "hsm": loaded.hsm.name,
            "config_sha256": loaded.sha256,
            "purpose": purpose,
            "nonce": nonce.hex(),
            "created": isoformat(now),
            "expires": isoformat(expires),
        },
        "approval request",
    )
    return request


def _public_hex(signer: Signer) -> str:
    """The key as the roster records it: raw Ed25519, or DER SPKI for ECDSA P-256 (what
    every :class:`Signer`, a card's included, gives as ``public_key_bytes()``)."""
    return signer.public_key_bytes().hex()


def sign_request(request: ApprovalRequest, signer_id: str, signer: Signer) -> Approval:
    """``signer_id`` approves ``request`` with ``signer`` (a software key or a card's
    :class:`~tcr_kit.cards.signing.CardSigner`); an expired request is refused (exit 3)."""
    if request.expired():
        raise ApprovalInvalid(f"the request expired at {request.expires}; not signed")
    unsigned = {
        "format": APPROVAL_FORMAT,
        "version": 1,
        "request_sha256": request.sha256,
        "signer": signer_id,
        "algorithm": signer.algorithm,
        "public_key": _public_hex(signer),
        "signed_at": isoformat(utcnow()),
        "signature": "00",
    }
    draft: Approval = _parse(Approval, unsigned, "approval")
    signature = signer.sign(draft.message())
    signed: Approval = draft.model_copy(update={"signature": signature.hex()})
    return signed


# -- reading ----------------------------------------------------------------------------------


def _parse(model: type[Any], raw: Any, what: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or what
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InputError(f"{what}: {where}: {message}") from None


def _load(path: Path, model: type[Any], what: str) -> Any:
    from tcr_kit.audit.canonical import canonical_bytes, parse_canonical

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror}") from None
    if len(data) > MAX_FILE:
        raise InputError(f"{path}: too large for {what}")
    try:
        raw = parse_canonical(data.strip())
    except ValueError as exc:
        raise InputError(f"{path}: not {what} (JSON: {exc})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: not {what}")
    parsed = _parse(model, raw, f"{path}")
    if canonical_bytes(raw) != data.strip():
        raise InputError(f"{path}: {what} is not canonical JSON")
    return parsed


def load_request(path: Path) -> ApprovalRequest:
    """Read an approval request file (exit 2 when malformed)."""
    request: ApprovalRequest = _load(path, ApprovalRequest, "an approval request")
    return request


def load_approval(path: Path) -> Approval:
    """Read a signed approval file (exit 2 when malformed)."""
    approval: Approval = _load(path, Approval, "an approval")
    return approval


# -- checking ---------------------------------------------------------------------------------


def _why_not(request: ApprovalRequest, a: Approval, roster: Roster) -> str | None:
    from tcr_kit.audit.signing import SignatureInvalid, verify_signature
    from tcr_kit.custody.models import TCR_ROLES

    if a.request_sha256 != request.sha256:
        return f"signed another request ({a.request_sha256[:16]}...)"
    person = roster(a.signer)
    if person is None:
        return f"{a.signer} is not on the roster"
    if person.retired:
        return f"{a.signer} is retired from the roster"
    if not set(person.roles) & TCR_ROLES:
        return f"{a.signer} is not a TCR (CO or RKSH)"
    if person.public_key is None or person.key_algorithm is None:
        return f"the roster records no key for {a.signer}"
    if person.public_key != a.public_key or person.key_algorithm != a.algorithm:
        return f"signed with a key the roster does not record for {a.signer}"
    if _time(a.signed_at) >= request.expires_at:
        return f"signed at {a.signed_at}, after the request expired"
    try:
        verify_signature(
            a.algorithm,
            bytes.fromhex(a.public_key),
            a.message(),
            bytes.fromhex(a.signature),
            key_name=f"of {a.signer}",
        )
    except SignatureInvalid:
        return "the signature does not verify"
    return None


def check_approvals(
    request: ApprovalRequest,
    approvals: Sequence[Approval],
    roster: Roster,
    *,
    now: datetime | None = None,
) -> ApprovalCheck:
    """Sort ``approvals`` into valid and rejected (with the reason): each must be of this
    request, by a TCR on the roster with the key the roster records, correctly signed before
    the expiry, and by a signer not already counted. An expired request counts none."""
    check = ApprovalCheck(request)
    expired = request.expired(now)
    for a in approvals:
        reason = _why_not(request, a, roster)
        if reason is None and expired:
            reason = f"the request expired at {request.expires}"
        if reason is None and a.signer in check.signers:
            reason = f"a second approval by {a.signer} (each TCR counts once)"
        if reason is None:
            check.valid.append(a)
        else:
            check.rejected.append((a.signer, reason))
    return check


def ledger_roster(ledger: Ledger) -> Roster:
    """The roster of ``ledger`` as a :data:`Roster`."""
    from tcr_kit.custody.ledger import NotFound

    def find(person_id: str) -> Person | None:
        try:
            return ledger.person(person_id)
        except NotFound:
            return None

    return find


def require_approvals(
    loaded: LoadedConfig,
    bundle: ApprovalBundle | None,
    *,
    ledger: Ledger | None,
    ceremony: int | None,
) -> ApprovalCheck | None:
    """The check of an activation: ``loaded`` requires ``[approvals] required`` valid,
    fresh approvals of a request for this HSM, this configuration and this ceremony, not
    used by an earlier activation; otherwise :class:`ApprovalsNotMet` (exit 4)."""
    need = loaded.config.approvals.required
    name = loaded.hsm.name
    if bundle is None:
        if need == 0:
            return None
        raise ApprovalsNotMet(f"{name} requires {need} remote approval(s); none were given")
    if ledger is None:
        raise ApprovalsNotMet("remote approvals are checked against the roster: use a ledger")
    request = bundle.request
    # Each approval is examined first, so that a refusal for any reason records which
    # signatures held (the audit verifier re-checks those).
    check = check_approvals(request, bundle.approvals, ledger_roster(ledger))
    if request.hsm != name or request.config_sha256 != loaded.sha256:
        raise ApprovalsNotMet(
            f"the approval request is for HSM {request.hsm} with config"
            f" {request.config_sha256[:16]}..., not {name} with config {loaded.sha256[:16]}..."
        ).with_check(check)
    if ceremony is not None and request.ceremony != ceremony:
        raise ApprovalsNotMet(
            f"the approval request is for ceremony {request.ceremony}, not ceremony {ceremony}"
        ).with_check(check)
    if request.expired():
        raise ApprovalsNotMet(f"the approval request expired at {request.expires}").with_check(
            check
        )
    from tcr_kit.audit.statements import refused_activation

    for event in ledger.audit.events_about(f"hsm:{name}"):
        payload = event.get("payload") or {}
        used = payload.get("approvals") if isinstance(payload, dict) else None
        if (
            event.get("kind") == "hsm.activate"
            and isinstance(used, dict)
            and used.get("request_sha256") == request.sha256
            and not refused_activation(payload)
        ):
            raise ApprovalsNotMet(
                f"the approval request {request.sha256[:16]}... was already used by audit"
                f" event {event.get('seq')}; ask for a new one"
            ).with_check(check)
    if len(check.valid) < need:
        got = len(check.valid)
        why = "; ".join(f"{s}: {r}" for s, r in check.rejected)
        raise ApprovalsNotMet(
            f"{name} requires {need} valid remote approval(s), {got} given"
            + (f" ({why})" if why else "")
        ).with_check(check)
    return check
