"""Custody clearance of the credentials presented to activate an HSM.

An activation with a custody ledger accepts a credential only when the ledger says where it
came from. Each presented credential must be

* **registered**: the share set is in the ledger and a credential of it carries the share's
  index (a card's serial must be that credential's serial);
* **live**: not retired, lost or destroyed, not sealed in a bag that was not opened, with no
  open discrepancy on it, on any bag it was ever in, or on its holder
  (:meth:`~tcr_kit.custody.ledger.Ledger.activation_refusal`, which first checks those rows
  against the audit log);
* **accounted for** in the ceremony in force, in one of two ways:

  - ``bag``: its last ``bag.open`` event is tagged with this ceremony, was not an override
    of a discrepancy, and the last ``bag.inspect`` of that bag before it is tagged with this
    ceremony and found it intact;
  - ``in-person``: its holder is named by the operator as presenting it
    (``tcr hsm activate --in-person HOLDER``) and the ceremony's attendance records the
    holder present in the room (not remote).

Anything else is refused with :class:`~tcr_kit.hsm.errors.CustodyRefused` (exit 3) naming the
credential and the reason, before the card's PIN is tried. An **emergency override**
(:class:`ActivationOverride`) lifts, for the credentials it names, the open discrepancies
and the need to be accounted for, never the rest (an unregistered credential, or one sealed
in a bag not opened, retired, lost or destroyed, stays refused): a reason and the signatures
of two staff members (rule ``override-two-staff`` of the policy), checked against the roster
when the activation starts and recorded in its audit event.

The override's signed message is the canonical JSON (:mod:`tcr_kit.audit.canonical`) of::

    {"format": "tcr-kit/activation-override", "version": 1, "hsm": NAME,
     "config_sha256": HEX, "ceremony": N or null, "credentials": [IDS, sorted],
     "reason": TEXT}

each signer signing those exact bytes with the key the roster records for them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tcr_kit.errors import TcrError
from tcr_kit.hsm.errors import CustodyRefused

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.custody.models import Ceremony, Credential, Person

__all__ = [
    "OVERRIDE_FORMAT",
    "ActivationOverride",
    "Clearance",
    "CustodyGate",
    "OverrideSignature",
    "OverrideStatement",
    "override_rejections",
    "sign_override",
]

OVERRIDE_FORMAT = "tcr-kit/activation-override"
"""The ``format`` marker of the message an activation override's signers sign."""

Basis = Literal["bag", "in-person", "override"]


@dataclass(frozen=True)
class OverrideStatement:
    """What the two staff members of an emergency override sign."""

    hsm: str
    config_sha256: str
    ceremony: int | None
    credentials: tuple[str, ...]
    reason: str

    def facts(self) -> dict[str, Any]:
        return {
            "format": OVERRIDE_FORMAT,
            "version": 1,
            "hsm": self.hsm,
            "config_sha256": self.config_sha256,
            "ceremony": self.ceremony,
            "credentials": sorted(self.credentials),
            "reason": self.reason,
        }

    def message(self) -> bytes:
        """The exact bytes each signer signs (canonical JSON of :meth:`facts`; the audit
        verifier rebuilds them with the same function)."""
        from tcr_kit.audit.statements import override_message

        return override_message(self.facts())


@dataclass(frozen=True)
class OverrideSignature:
    """One staff member's signature over an :class:`OverrideStatement`."""

    person: str
    algorithm: str
    signature: str
    """Hex."""


@dataclass(frozen=True)
class ActivationOverride:
    """An emergency override: the statement and its signatures (two staff members)."""

    statement: OverrideStatement
    signatures: tuple[OverrideSignature, ...]

    @classmethod
    def sign(cls, statement: OverrideStatement, signers: Sequence[Actor]) -> ActivationOverride:
        """Each of ``signers`` signs ``statement`` with their own key. A card that refuses
        (wrong PIN, blocked) raises its error naming whose card it is."""
        message = statement.message()
        return cls(
            statement,
            tuple(
                OverrideSignature(a.person, a.signer.algorithm, _sign(a, message)) for a in signers
            ),
        )

    def facts(self) -> dict[str, Any]:
        """The ``override`` object of the ``hsm.activate`` audit event."""
        return {
            "statement": self.statement.facts(),
            "signatures": [dict(s.__dict__) for s in self.signatures],
        }


def _sign(signer: Actor, message: bytes) -> str:
    """``signer``'s signature of ``message`` (hex); a card's PIN error names whose card."""
    from tcr_kit.cards.errors import LastTryRefused, PinBlocked, PinIncorrect

    what = f"PIN of the override signer card of {signer.person}"
    try:
        return signer.signer.sign(message).hex()
    except PinIncorrect as exc:
        raise PinIncorrect(exc.attempts_left, what) from None
    except PinBlocked:
        raise PinBlocked(what) from None
    except LastTryRefused:
        raise LastTryRefused(what) from None


@dataclass(frozen=True)
class Clearance:
    """Why a credential may activate: its basis and a line saying so (in the event)."""

    credential: str
    basis: Basis
    detail: str


@dataclass
class CustodyGate:
    """The custody checks of one activation (see the module docstring).

    ``ceremony`` is the ceremony in force (``None``: none is, and only an override can
    account for a credential); ``in_person`` the holders the operator names as presenting
    their own credential in the room.
    """

    ledger: Ledger
    ceremony: int | None
    in_person: Collection[str] = ()
    override: ActivationOverride | None = None
    cleared: dict[str, Clearance] = field(default_factory=dict)

    @classmethod
    def for_ledger(
        cls,
        ledger: Ledger,
        *,
        in_person: Collection[str] = (),
        override: ActivationOverride | None = None,
    ) -> CustodyGate:
        """The gate for the ceremony ``ledger`` tags its changes with, else the one open."""
        number = ledger.ceremony_number
        if number is None:
            current = ledger.open_ceremony()
            number = current.number if current is not None else None
        return cls(ledger, number, tuple(in_person), override)

    # -- before anything is read ---------------------------------------------------------
    def check_override(self, hsm: str, config_sha256: str) -> None:
        """Check the override (if any) against the roster and the policy, before any share
        is read: its HSM, configuration and ceremony must be this activation's, its reason
        non-empty, each signature valid under the signer's roster key (exit 3), and the
        signers two staff members, none holding an overridden credential (exit 5)."""
        if self.override is None:
            return
        from tcr_kit.custody.ledger import NotFound

        st = self.override.statement
        if st.hsm != hsm or st.config_sha256 != config_sha256 or st.ceremony != self.ceremony:
            raise CustodyRefused(
                f"the override was signed for HSM {st.hsm}, config {st.config_sha256[:16]}...,"
                f" ceremony {st.ceremony}; this is HSM {hsm}, config {config_sha256[:16]}...,"
                f" ceremony {self.ceremony}"
            )
        if not st.reason.strip():
            raise CustodyRefused("an activation override needs a reason")
        if not st.credentials:
            raise CustodyRefused("an activation override names no credential")
        message = st.message()
        people: list[Person] = []
        for sig in self.override.signatures:
            people.append(_override_signer(self.ledger, sig, message, [p.id for p in people]))
        holders = set()
        for cid in st.credentials:
            try:
                cred = self.ledger.credential(cid)
            except NotFound:
                raise CustodyRefused(f"the override names {cid}, not in the ledger") from None
            if cred.holder:
                holders.add(cred.holder)
        policy = self.ledger.policy()
        for p in people:
            policy.require_role("hsm.activate-override", p)
        policy.require_override(people, holders, st.credentials)

    # -- each credential -----------------------------------------------------------------
    def clear(self, cred: Credential, what: str) -> Clearance:
        """The clearance of ``cred`` (presented as ``what``), or :class:`CustodyRefused`."""
        refusal = self.ledger.activation_refusal(cred)
        cred = self.ledger.credential(cred.id)
        if cred.state.value != "issued":  # sealed, retired, lost, destroyed: no override
            why = refusal or f"credential {cred.id} is {cred.state.value}"
            raise CustodyRefused(f"{what}: {why}; it cannot activate the HSM")
        if refusal is None:
            found = self._bag_basis(cred) or self._in_person_basis(cred)
            if found is not None:
                self.cleared[cred.id] = found
                return found
            refusal = self._why_unaccounted(cred)
        if self.override is not None and cred.id in self.override.statement.credentials:
            signers = ", ".join(s.person for s in self.override.signatures)
            cleared = Clearance(
                cred.id,
                "override",
                f"emergency override by {signers} ({refusal}): {self.override.statement.reason}",
            )
            self.cleared[cred.id] = cleared
            return cleared
        raise CustodyRefused(f"{what}: {refusal}; it cannot activate the HSM")

    def _bag_basis(self, cred: Credential) -> Clearance | None:
        if self.ceremony is None:
            return None
        audit = self.ledger.audit
        opened = [
            e for e in audit.events_about(f"credential:{cred.id}") if e.get("kind") == "bag.open"
        ]
        if not opened:
            return None
        last = opened[-1]
        payload = last.get("payload") or {}
        if payload.get("ceremony") != self.ceremony or payload.get("overridden"):
            return None
        bags = [s.partition(":")[2] for s in last.get("subjects", ()) if s.startswith("bag:")]
        if len(bags) != 1:
            return None
        inspections = [
            e
            for e in audit.events_about(f"bag:{bags[0]}")
            if e.get("kind") == "bag.inspect" and int(e["seq"]) < int(last["seq"])
        ]
        if not inspections:
            return None
        seen = inspections[-1].get("payload") or {}
        if seen.get("ceremony") != self.ceremony or seen.get("outcome") != "intact":
            return None
        return Clearance(
            cred.id,
            "bag",
            f"from bag {bags[0]}, inspected intact (audit event {inspections[-1]['seq']}) and"
            f" opened (audit event {last['seq']}) in ceremony {self.ceremony}",
        )

    def _ceremony_record(self) -> Ceremony | None:
        from tcr_kit.custody.ledger import NotFound

        if self.ceremony is None:
            return None
        try:
            return self.ledger.ceremony(self.ceremony)
        except NotFound:
            return None

    def _in_person_basis(self, cred: Credential) -> Clearance | None:
        if cred.holder is None or cred.holder not in self.in_person:
            return None
        ceremony = self._ceremony_record()
        if ceremony is None:
            return None
        if not any(a.person == cred.holder and not a.remote for a in ceremony.attendance):
            return None
        return Clearance(
            cred.id,
            "in-person",
            f"presented in person by its holder {cred.holder}, present at ceremony {self.ceremony}",
        )

    def _why_unaccounted(self, cred: Credential) -> str:
        if self.ceremony is None:
            return (
                f"credential {cred.id}: no ceremony is in force, so it was neither taken from a"
                " bag opened in this ceremony nor presented in person"
            )
        holder = cred.holder
        if holder is not None and holder in self.in_person:
            ceremony = self._ceremony_record()
            if ceremony is None:
                return (
                    f"credential {cred.id}: ceremony {self.ceremony} was not opened with"
                    f" 'tcr ceremony open', so {holder}'s presence is not recorded"
                )
            return (
                f"credential {cred.id}: its holder {holder} is not recorded present in the"
                f" room at ceremony {self.ceremony}"
            )
        who = f"its holder {holder}" if holder else "no holder"
        return (
            f"credential {cred.id} was not taken from a bag inspected intact and opened in"
            f" ceremony {self.ceremony}, and {who} is not named as presenting it in person"
        )


def _override_signer(
    ledger: Ledger, sig: OverrideSignature, message: bytes, seen: Collection[str]
) -> Person:
    """The roster person whose key made ``sig`` over ``message``; :class:`CustodyRefused`
    saying why not (``seen``: the people whose signatures were taken before it)."""
    from tcr_kit.audit.signing import SignatureInvalid, verify_signature
    from tcr_kit.custody.ledger import NotFound

    if sig.person in seen:
        raise CustodyRefused(f"the override is signed twice by {sig.person}")
    try:
        person = ledger.person(sig.person)
    except NotFound:
        raise CustodyRefused(f"override signer {sig.person} is not on the roster") from None
    if person.retired or person.public_key is None or person.key_algorithm is None:
        raise CustodyRefused(f"override signer {sig.person} has no active roster key")
    try:
        verify_signature(
            person.key_algorithm,
            bytes.fromhex(person.public_key),
            message,
            bytes.fromhex(sig.signature),
            key_name=f"of {sig.person}",
        )
    except (SignatureInvalid, ValueError):
        raise CustodyRefused(
            f"the override signature of {sig.person} does not verify under their roster key"
        ) from None
    if sig.algorithm != person.key_algorithm:
        # The audit verifier checks a signature only under a key of the algorithm it names:
        # a verdict that let this one through would leave an honest log that fails exit 3.
        raise CustodyRefused(
            f"the override signature of {sig.person} names {sig.algorithm}; their roster key"
            f" is {person.key_algorithm}"
        )
    return person


def override_rejections(ledger: Ledger, override: ActivationOverride) -> list[dict[str, Any]]:
    """``[{"index", "person", "reason"}]`` of each signature of ``override`` that does not
    hold under its signer's roster key (the checks of :meth:`CustodyGate.check_override` on
    one signature), ``index`` its place in ``signatures``; recorded with a refused
    activation: ``tcr audit verify`` re-checks every signature not listed, whatever the
    activation was refused for. The place, not only the person, is named so that a person
    who signed twice has only the rejected signature skipped."""
    message = override.statement.message()
    seen: list[str] = []
    out: list[dict[str, Any]] = []
    for index, sig in enumerate(override.signatures):
        try:
            _override_signer(ledger, sig, message, seen)
        except TcrError as exc:
            out.append({"index": index, "person": sig.person, "reason": str(exc)})
        seen.append(sig.person)
    return out


def sign_override(
    ledger: Ledger,
    hsm: str,
    config_sha256: str,
    credentials: Sequence[str],
    reason: str,
    signers: Sequence[Actor],
) -> ActivationOverride:
    """An override of ``credentials`` for the ceremony in force in ``ledger`` (as
    :meth:`CustodyGate.for_ledger` finds it), signed by each of ``signers``; the activation
    checks it (:meth:`CustodyGate.check_override`)."""
    ceremony = CustodyGate.for_ledger(ledger).ceremony
    statement = OverrideStatement(hsm, config_sha256, ceremony, tuple(credentials), reason)
    return ActivationOverride.sign(statement, signers)
