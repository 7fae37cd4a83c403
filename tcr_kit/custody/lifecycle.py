"""Lifecycles of bags and credentials as explicit state machines.

A transition names its action, the states it may start from, the state it leads to, and
whether the process requires a witness (someone other than the actor, recorded with the
event). Anything else is refused with :class:`TransitionRefused`.

Bag::

    (new) --seal/remote seal--> sealed
    sealed|received|inspected --store--> stored
    sealed|stored|inspected --ship--> in-transit --receive--> received
    sealed|stored|received|inspected --inspect (witness)--> inspected
    inspected --open (witness; blocked by an open discrepancy)--> opened
    opened --reseal into a new bag (witness)--> resealed      (old serial -> new serial)
    opened --retire--> retired
    opened|resealed|retired --destroy (witness)--> destroyed
    any state but destroyed/lost --lose--> lost

Credential::

    issued --seal--> sealed --bag opened--> issued
    issued|sealed --retire--> retired --destroy (witness)--> destroyed
    issued|sealed|retired --lose--> lost
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tcr_kit.errors import InputError


class BagState(StrEnum):
    SEALED = "sealed"
    STORED = "stored"
    IN_TRANSIT = "in-transit"
    RECEIVED = "received"
    """Arrived, unopened, not yet inspected."""
    INSPECTED = "inspected"
    OPENED = "opened"
    RESEALED = "resealed"
    """Opened, and its contents went into a new bag (``replaced_by``)."""
    RETIRED = "retired"
    DESTROYED = "destroyed"
    LOST = "lost"


class BagAction(StrEnum):
    STORE = "store"
    SHIP = "ship"
    RECEIVE = "receive"
    INSPECT = "inspect"
    OPEN = "open"
    RESEAL = "reseal"
    RETIRE = "retire"
    DESTROY = "destroy"
    LOSE = "lose"


class CredentialState(StrEnum):
    ISSUED = "issued"
    """Out of any bag: with its holder or in use at a ceremony."""
    SEALED = "sealed"
    RETIRED = "retired"
    DESTROYED = "destroyed"
    LOST = "lost"


class CredentialAction(StrEnum):
    SEAL = "seal"
    UNSEAL = "unseal"
    RETIRE = "retire"
    DESTROY = "destroy"
    LOSE = "lose"


class TransitionRefused(InputError):
    """The action is not allowed from the object's current state (exit 2)."""


class WitnessRequired(InputError):
    """The process requires a witness other than the actor for this action (exit 2)."""


@dataclass(frozen=True)
class Rule:
    sources: frozenset[str]
    target: str
    witness: bool


_B = BagState
BAG_RULES: dict[BagAction, Rule] = {
    BagAction.STORE: Rule(frozenset({_B.SEALED, _B.RECEIVED, _B.INSPECTED}), _B.STORED, False),
    BagAction.SHIP: Rule(frozenset({_B.SEALED, _B.STORED, _B.INSPECTED}), _B.IN_TRANSIT, False),
    BagAction.RECEIVE: Rule(frozenset({_B.IN_TRANSIT}), _B.RECEIVED, False),
    BagAction.INSPECT: Rule(
        frozenset({_B.SEALED, _B.STORED, _B.RECEIVED, _B.INSPECTED}), _B.INSPECTED, True
    ),
    BagAction.OPEN: Rule(frozenset({_B.INSPECTED}), _B.OPENED, True),
    BagAction.RESEAL: Rule(frozenset({_B.OPENED}), _B.RESEALED, True),
    BagAction.RETIRE: Rule(frozenset({_B.OPENED}), _B.RETIRED, False),
    BagAction.DESTROY: Rule(frozenset({_B.OPENED, _B.RESEALED, _B.RETIRED}), _B.DESTROYED, True),
    BagAction.LOSE: Rule(frozenset(set(_B) - {_B.DESTROYED, _B.LOST}), _B.LOST, False),
}
SEAL_NEEDS_WITNESS = True
"""A bag sealed on site needs a witness; a remote seal is vouched for by the signed
attestation (and the video call) instead."""

_C = CredentialState
CREDENTIAL_RULES: dict[CredentialAction, Rule] = {
    CredentialAction.SEAL: Rule(frozenset({_C.ISSUED}), _C.SEALED, False),
    CredentialAction.UNSEAL: Rule(frozenset({_C.SEALED}), _C.ISSUED, False),
    CredentialAction.RETIRE: Rule(frozenset({_C.ISSUED, _C.SEALED}), _C.RETIRED, False),
    CredentialAction.DESTROY: Rule(frozenset({_C.RETIRED}), _C.DESTROYED, True),
    CredentialAction.LOSE: Rule(frozenset({_C.ISSUED, _C.SEALED, _C.RETIRED}), _C.LOST, False),
}


def _check_witness(what: str, action: str, actor: str, witness: str | None) -> None:
    if witness is None:
        raise WitnessRequired(f"{what}: '{action}' needs a witness (someone other than {actor})")
    if witness == actor:
        raise WitnessRequired(f"{what}: the witness of '{action}' cannot be the actor ({actor})")


def bag_transition(
    serial: str, state: BagState, action: BagAction, actor: str, witness: str | None
) -> BagState:
    """The state after ``action``; raises if illegal or if a required witness is missing."""
    rule = BAG_RULES[action]
    if state not in rule.sources:
        allowed = ", ".join(sorted(a.value for a, r in BAG_RULES.items() if state in r.sources))
        raise TransitionRefused(
            f"bag {serial} is {state.value}: cannot {action.value} "
            f"(allowed: {allowed or 'nothing'})"
        )
    if rule.witness:
        _check_witness(f"bag {serial}", action.value, actor, witness)
    elif witness is not None and witness == actor:
        raise WitnessRequired(f"bag {serial}: the witness cannot be the actor ({actor})")
    return BagState(rule.target)


def credential_transition(
    cred_id: str,
    state: CredentialState,
    action: CredentialAction,
    actor: str,
    witness: str | None,
) -> CredentialState:
    rule = CREDENTIAL_RULES[action]
    if state not in rule.sources:
        raise TransitionRefused(f"credential {cred_id} is {state.value}: cannot {action.value}")
    if rule.witness:
        _check_witness(f"credential {cred_id}", action.value, actor, witness)
    return CredentialState(rule.target)
