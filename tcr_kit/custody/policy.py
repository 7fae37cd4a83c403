"""The custody policy: who may do what, as data (TOML), and the rules that enforce it.

The ledger records the policy in force as a signed ``policy.set`` audit event (only an SA
may make one); a ledger without one uses :func:`default_policy` (the file
``default_policy.toml`` next to this module). Every change method of the ledger asks the
policy before it writes anything; a refusal is :class:`~tcr_kit.errors.NotPermitted`
(exit 5) naming the rule. ``docs/policy.md`` lists every rule with the command it governs.

Rules (their names appear in every refusal):

``action-role``
    the actor has one of the roles the policy lists for the action (and the signer of a share
    set's manifest one of those of ``share-set.sign-manifest``, when it is registered);
``witness-role``
    a witness has one of the policy's witness roles;
``witness-distinct``
    the witness is a different person from the actor;
``tcr-own-only``
    a TCR (CO/RKSH, no staff role) seals and attests only for credentials they hold;
``holder-not-vouching``
    nobody witnesses, inspects, opens, overrides or resolves anything about a bag or
    credential they hold;
``critical-two-staff``
    overriding or resolving a critical discrepancy needs two different staff members with
    the action's roles, neither involved in it (holding a bag or credential it names, or
    named in it);
``override-two-staff``
    an emergency override of activation custody needs the signatures of two different
    staff members with the roles of ``hsm.activate-override``, neither a holder of an
    overridden credential.
``witness-cosign``
    a person named as vouching for a change (witness, overrider, second staff member)
    co-signs its audit event (``rules.witness_cosign``, default true; checked by the
    ledger's write path, :mod:`tcr_kit.custody.ledger.storage`).
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from tcr_kit.custody.models import STAFF_ROLES, TCR_ROLES, Person, Role
from tcr_kit.errors import InputError, NotPermitted

__all__ = [
    "ACTIONS",
    "LATER_ACTIONS",
    "LATER_RULES",
    "RULES",
    "Policy",
    "PolicyInvalid",
    "default_policy",
    "default_policy_text",
    "parse_policy",
]

ACTIONS: dict[str, str] = {
    "roster.change": "tcr roster add | retire | rekey",
    "policy.set": "tcr policy set",
    "share-set.change": (
        "tcr hsm register-set | config-extend | config-rekey | rekey, "
        "tcr shares register | extend --share-set"
    ),
    "share-set.sign-manifest": (
        "the signer (tcr shares sign) of a manifest that tcr shares register | extend "
        "--share-set or tcr hsm register-set --manifest records"
    ),
    "credential.add": "tcr credential add [--enrolment]",
    "credential.lifecycle": (
        "tcr credential retire | lose | destroy | replace, tcr card rotate --replace"
    ),
    "bag.seal": "tcr bag seal",
    "bag.remote-seal": "tcr bag ship --attestation (recording a TCR's remote seal)",
    "bag.store": "tcr bag store",
    "bag.ship": "tcr bag ship",
    "bag.receive": "tcr bag receive",
    "bag.inspect": "tcr bag inspect",
    "bag.open": "tcr bag open",
    "bag.reseal": "tcr bag reseal",
    "bag.end": "tcr bag retire | destroy | lose",
    "discrepancy.open": "tcr discrepancy add",
    "discrepancy.resolve": "tcr discrepancy resolve",
    "discrepancy.override": "tcr bag open --override-by",
    "ceremony.add": "Ledger.add_ceremony (library)",
    "hsm.activate": "tcr hsm activate --as",
    "artifact.register": "tcr artifact register",
    "artifact.release": "tcr artifact release (the actor; the --witness is a second staff member)",
    "hsm.activate-override": "tcr hsm activate --override-signer (each signer of an override)",
}
"""Every action the policy governs -> the command(s) it governs."""

LATER_ACTIONS: frozenset[str] = frozenset(
    {"artifact.register", "artifact.release", "hsm.activate-override", "share-set.sign-manifest"}
)
"""Actions added after policies were first recorded: a policy text that does not list one
(written before it existed) gets the default policy's roles for it, so a recorded policy
stays valid; :attr:`Policy.defaulted` names them and ``tcr policy show`` says so."""

LATER_RULES: dict[str, Any] = {"override_people": 2, "witness_cosign": True}
"""Rule keys added after policies were first recorded, with the value a policy text that
does not set one (written before it existed) gets; :attr:`Policy.defaulted` names them too."""

RULES: dict[str, str] = {
    "action-role": "the actor has one of the roles the policy lists for the action",
    "witness-role": "a witness has one of the policy's witness roles",
    "witness-distinct": "the witness is a different person from the actor",
    "tcr-own-only": "a TCR seals and attests only for credentials they hold",
    "holder-not-vouching": (
        "nobody witnesses, inspects, opens, overrides or resolves anything about a bag or "
        "credential they hold"
    ),
    "critical-two-staff": (
        "overriding or resolving a critical discrepancy needs two different staff members, "
        "neither involved in it"
    ),
    "override-two-staff": (
        "an emergency override of activation custody needs the signatures of two different "
        "staff members, neither a holder of an overridden credential"
    ),
    "witness-cosign": (
        "a witness, overrider or second staff member co-signs the event they vouch for"
    ),
}
"""Every rule's name -> what it says."""

_RULE_KEYS = {
    "witness_roles",
    "witness_distinct",
    "tcr_own_only",
    "holder_not_vouching",
    "critical_severities",
    "critical_people",
    "override_people",
    "witness_cosign",
}
_SEVERITIES = {"low", "medium", "high", "critical"}


class PolicyInvalid(InputError):
    """A policy file that is not a valid policy (exit 2)."""


def _roles(value: Any, where: str) -> frozenset[Role]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyInvalid(f"policy: {where} must be a list of roles")
    try:
        return frozenset(Role(v.upper()) for v in value)
    except ValueError:
        raise PolicyInvalid(f"policy: {where}: unknown role in {value}") from None


def _describe(roles: Collection[Role]) -> str:
    return "/".join(sorted(r.value for r in roles)) or "nobody"


@dataclass(frozen=True)
class Policy:
    """A parsed policy. Build with :func:`parse_policy` or :func:`default_policy`."""

    name: str
    version: int
    actions: Mapping[str, frozenset[Role]]
    witness_roles: frozenset[Role]
    witness_distinct: bool
    tcr_own_only: bool
    holder_not_vouching: bool
    critical_severities: frozenset[str]
    critical_people: int
    override_people: int
    """Rule ``override-two-staff``: staff signatures an activation override needs."""
    text: str
    """The TOML text this policy was parsed from (what the ledger records)."""
    witness_cosign: bool = True
    """Rule ``witness-cosign``: people vouching for a change co-sign its event."""
    defaulted: frozenset[str] = frozenset()
    """Actions of :data:`LATER_ACTIONS` the text does not list (default roles apply) and rule
    keys of :data:`LATER_RULES` it does not set (default values apply)."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    # -- the rules -----------------------------------------------------------------------
    def require_role(self, action: str, person: Person) -> None:
        """Rule ``action-role``."""
        allowed = self.actions[action]
        if not set(person.roles) & allowed:
            raise NotPermitted(
                "action-role",
                f"{action} ({ACTIONS[action]}) is for {_describe(allowed)}; "
                f"{person.id} is {_describe(person.roles)}",
            )

    def require_signer(self, action: str, person: Person, what: str) -> None:
        """Rule ``action-role`` for the signer of ``what`` a change records (a share set's
        manifest): the record is only as good as whoever signed it, so the signer, not only
        the actor recording it, must hold one of the action's roles."""
        allowed = self.actions[action]
        if not set(person.roles) & allowed:
            raise NotPermitted(
                "action-role",
                f"{action}: {what}'s signer {person.id} is {_describe(person.roles)}; "
                f"its signer must be {_describe(allowed)}",
            )

    def require_witness(self, action: str, actor: Person, witness: Person) -> None:
        """Rules ``witness-distinct`` and ``witness-role``."""
        if self.witness_distinct and witness.id == actor.id:
            raise NotPermitted(
                "witness-distinct", f"{action}: {actor.id} cannot witness their own action"
            )
        if not set(witness.roles) & self.witness_roles:
            raise NotPermitted(
                "witness-role",
                f"{action}: a witness is {_describe(self.witness_roles)}; "
                f"{witness.id} is {_describe(witness.roles)}",
            )

    def require_own(self, action: str, actor: Person, holders: Iterable[str | None]) -> None:
        """Rule ``tcr-own-only``: a TCR acts only on what they hold themselves."""
        if not self.tcr_own_only or not is_tcr_only(actor):
            return
        others = sorted({h or "nobody" for h in holders if h != actor.id})
        if others:
            raise NotPermitted(
                "tcr-own-only",
                f"{action}: {actor.id} is a TCR and may act only for their own credentials, "
                f"not for what {', '.join(others)} holds",
            )

    def require_not_holder(
        self, action: str, person: Person, as_what: str, held: Mapping[str, str | None]
    ) -> None:
        """Rule ``holder-not-vouching``: ``held`` maps object (``bag:X``) -> its holder."""
        if not self.holder_not_vouching:
            return
        mine = sorted(obj for obj, holder in held.items() if holder == person.id)
        if mine:
            raise NotPermitted(
                "holder-not-vouching",
                f"{action}: {person.id} holds {', '.join(mine)} and cannot be its {as_what}",
            )

    def require_two_staff(
        self,
        action: str,
        severity: str,
        what: str,
        people: Sequence[Person],
        involved: Collection[str],
    ) -> None:
        """Rule ``critical-two-staff`` for a discrepancy of ``severity``."""
        if severity not in self.critical_severities:
            return
        allowed = self.actions[action]
        distinct = {p.id: p for p in people}
        for p in distinct.values():
            if p.id in involved:
                raise NotPermitted(
                    "critical-two-staff",
                    f"{action} of {severity} discrepancy {what}: {p.id} is involved in it",
                )
        staff = [
            p for p in distinct.values() if set(p.roles) & STAFF_ROLES and set(p.roles) & allowed
        ]
        if len(staff) < self.critical_people:
            names = ", ".join(sorted(distinct)) or "nobody"
            raise NotPermitted(
                "critical-two-staff",
                f"{action} of {severity} discrepancy {what} needs {self.critical_people} "
                f"different staff members ({_describe(allowed)}), not involved in it; "
                f"given: {names}",
            )

    def require_override(
        self, people: Sequence[Person], holders: Collection[str], credentials: Collection[str]
    ) -> None:
        """Rule ``override-two-staff``: ``people`` signed an override of ``credentials``
        (held by ``holders``); each needs the override roles, none may hold one of them,
        and there must be ``override_people`` different staff members."""
        action = "hsm.activate-override"
        allowed = self.actions[action]
        what = ", ".join(sorted(credentials))
        distinct = {p.id: p for p in people}
        for p in distinct.values():
            if p.id in holders:
                raise NotPermitted(
                    "override-two-staff",
                    f"{action} of {what}: {p.id} holds an overridden credential",
                )
        staff = [
            p
            for p in distinct.values()
            if set(p.roles) & STAFF_ROLES and set(p.roles) & allowed and not p.retired
        ]
        if len(staff) < self.override_people:
            names = ", ".join(sorted(distinct)) or "nobody"
            raise NotPermitted(
                "override-two-staff",
                f"{action} of {what} needs the signatures of {self.override_people} different "
                f"staff members ({_describe(allowed)}), holding none of it; given: {names}",
            )


def is_tcr_only(person: Person) -> bool:
    """A TCR without a staff role."""
    return bool(set(person.roles) & TCR_ROLES) and not set(person.roles) & STAFF_ROLES


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Parse and check a policy TOML text; :class:`PolicyInvalid` (exit 2) names the fault.
    Every action in :data:`ACTIONS` must be listed (no silent defaults)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyInvalid(f"{source}: not TOML: {exc}") from None
    except RecursionError:  # deeply nested arrays or tables: no policy looks like that
        raise PolicyInvalid(f"{source}: not TOML: nested too deeply") from None
    unknown = set(doc) - {"name", "version", "actions", "rules"}
    if unknown:
        raise PolicyInvalid(f"{source}: unknown key {sorted(unknown)[0]!r}")
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not name:
        raise PolicyInvalid(f"{source}: 'name' must be a non-empty string")
    if version != 1:
        raise PolicyInvalid(f"{source}: 'version' must be 1")
    actions = doc.get("actions")
    rules = doc.get("rules")
    if not isinstance(actions, dict) or not isinstance(rules, dict):
        raise PolicyInvalid(f"{source}: needs [actions] and [rules] tables")
    extra = set(actions) - set(ACTIONS)
    if extra:
        raise PolicyInvalid(f"{source}: unknown action {sorted(extra)[0]!r}")
    defaulted = frozenset((set(ACTIONS) - set(actions)) & LATER_ACTIONS)
    if defaulted and source != _DEFAULT_SOURCE:  # the default itself must list them all
        actions = {**actions, **{a: _later_default(a) for a in defaulted}}
    missing = set(ACTIONS) - set(actions)
    if missing:
        raise PolicyInvalid(f"{source}: action {sorted(missing)[0]!r} is not listed")
    later = (_RULE_KEYS - set(rules)) & set(LATER_RULES)
    if later and source != _DEFAULT_SOURCE:  # the default itself must set them all
        rules = {**rules, **{k: LATER_RULES[k] for k in later}}
        defaulted |= later
    if set(rules) != _RULE_KEYS:
        odd = sorted(set(rules) ^ _RULE_KEYS)[0]
        raise PolicyInvalid(f"{source}: [rules] must have exactly {sorted(_RULE_KEYS)}: {odd!r}")
    cosign = rules["witness_cosign"]
    if not isinstance(cosign, bool):
        raise PolicyInvalid(f"{source}: rules.witness_cosign must be true or false")
    for flag in ("witness_distinct", "tcr_own_only", "holder_not_vouching"):
        if not isinstance(rules[flag], bool):
            raise PolicyInvalid(f"{source}: rules.{flag} must be true or false")
    severities = rules["critical_severities"]
    if not isinstance(severities, list) or not set(severities) <= _SEVERITIES:
        raise PolicyInvalid(f"{source}: rules.critical_severities: {sorted(_SEVERITIES)}")
    people = rules["critical_people"]
    if not isinstance(people, int) or isinstance(people, bool) or not 1 <= people <= 10:
        raise PolicyInvalid(f"{source}: rules.critical_people must be 1..10")
    override = rules["override_people"]
    if not isinstance(override, int) or isinstance(override, bool) or not 2 <= override <= 10:
        raise PolicyInvalid(f"{source}: rules.override_people must be 2..10")
    return Policy(
        name=name,
        version=version,
        actions={a: _roles(v, f"actions.{a}") for a, v in actions.items()},
        witness_roles=_roles(rules["witness_roles"], "rules.witness_roles"),
        witness_distinct=rules["witness_distinct"],
        tcr_own_only=rules["tcr_own_only"],
        holder_not_vouching=rules["holder_not_vouching"],
        critical_severities=frozenset(severities),
        critical_people=people,
        override_people=override,
        text=text,
        witness_cosign=cosign,
        defaulted=defaulted,
    )


_DEFAULT_SOURCE = "default policy"


def _later_default(action: str) -> list[str]:
    """The default policy's roles for a later action (see :data:`LATER_ACTIONS`)."""
    return sorted(r.value for r in default_policy().actions[action])


def default_policy_text() -> str:
    """The TOML of the default policy (package data ``default_policy.toml``)."""
    return (
        resources.files("tcr_kit.custody")
        .joinpath("default_policy.toml")
        .read_text(encoding="utf-8")
    )


@functools.cache
def default_policy() -> Policy:
    """The default policy, derived from the ceremony roles (``docs/policy.md``)."""
    return parse_policy(default_policy_text(), _DEFAULT_SOURCE)
