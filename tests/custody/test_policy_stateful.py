"""A hypothesis state machine drives random custody and activation actions by random roster
members. After every step: no action the policy forbids succeeded (checked against an
independent statement of the default policy below), no permitted action was refused as not
permitted, every activation the ledger allowed used only clean credentials, and the ledger
verifies. Bounded to a few seconds."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tcr_kit.audit.cosign import WitnessSigner
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Credential, CredentialKind, Role
from tcr_kit.errors import NotPermitted, TcrError

from .conftest import SAFE, _person

ROLES = {
    "sa-1": Role.SA,
    "ca-1": Role.CA,
    "ca-2": Role.CA,
    "iw-1": Role.IW,
    "iw-2": Role.IW,
    "ssc-1": Role.SSC,
    "tcr-1": Role.CO,
    "tcr-2": Role.CO,
    "tcr-3": Role.CO,
}
KEYS = {pid: SoftwareEd25519Signer.generate() for pid in ROLES}
PEOPLE = sorted(ROLES)
CARDS = {f"card-{i}": f"tcr-{i}" for i in (1, 2, 3)}
STAFF = {Role.SA, Role.CA, Role.IW, Role.SSC}

people = st.sampled_from(PEOPLE)
cards = st.sampled_from(sorted(CARDS))


def _staff(pid: str | None) -> bool:
    return pid is not None and ROLES[pid] in STAFF


def _witness_ok(actor: str, witness: str, holder: str | None) -> bool:
    return _staff(witness) and witness != actor and witness != holder


class Custody(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # /dev/shm when there is one: the state machine's many small commits need no disk.
        shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
        self._dir = tempfile.TemporaryDirectory(prefix="tcr-policy-sm-", dir=shm)
        self.ledger = Ledger.open(Path(self._dir.name) / "ledger.sqlite", synchronous="NORMAL")
        led = self.ledger
        sa = self.actor("sa-1")
        led.initialise(_person("sa-1", (Role.SA,), KEYS["sa-1"]), KEYS["sa-1"])
        for pid in (p for p in PEOPLE if p != "sa-1"):
            facility = {"facility": "east"} if ROLES[pid] == Role.CO else {}
            led.add_person(sa, _person(pid, (ROLES[pid],), KEYS[pid], **facility))
        self._before_credentials()
        for index, (cid, holder) in enumerate(CARDS.items(), 1):
            led.add_credential(self.actor("ca-1"), self._credential(cid, holder, index))
        # Everyone is present with their key: the witness, overrider or second co-signs.
        led.use_cosigners([WitnessSigner(pid, KEYS[pid]) for pid in PEOPLE])
        self.serial = 0
        self.refused_wrongly: list[str] = []
        self.allowed_wrongly: list[str] = []
        self.last_intact: dict[str, bool] = {}
        """Model: bag serial -> whether its last recorded inspection found it intact."""
        self.opened_intact: dict[str, bool] = {}
        """Model: card -> taken from a bag opened without override after an intact
        inspection (and not sealed again since)."""

    def _before_credentials(self) -> None:
        """Hook for a subclass (a share set, a ceremony) before the cards are registered."""

    def _credential(self, cid: str, holder: str, index: int) -> Credential:
        return Credential(id=cid, kind=CredentialKind.SMARTCARD, serial=cid, holder=holder)

    def teardown(self) -> None:
        self.ledger.close()
        self._dir.cleanup()

    def actor(self, pid: str) -> Actor:
        return Actor(pid, KEYS[pid])

    def _try(self, permitted: bool, what: str, call, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        """Run a change; record a policy verdict that disagrees with ``permitted``."""
        try:
            call(*args, **kwargs)
        except NotPermitted as exc:
            if permitted:
                self.refused_wrongly.append(f"{what}: {exc}")
            return False
        except TcrError:
            return False  # a state refusal (wrong lifecycle state, discrepancy, ...)
        if not permitted:
            self.allowed_wrongly.append(what)
        return True

    def _bags(self) -> list[str]:
        return [b.serial for b in self.ledger.bags()]

    # -- custody actions -----------------------------------------------------------------
    @rule(who=people, card=cards, witness=people)
    def seal(self, who: str, card: str, witness: str) -> None:
        holder = CARDS[card]
        role_ok = ROLES[who] in (Role.CA, Role.CO)
        own_ok = ROLES[who] != Role.CO or who == holder
        permitted = role_ok and own_ok and _witness_ok(who, witness, holder)
        self.serial += 1
        sealed = self._try(
            permitted,
            f"{who} seals {card} witnessed by {witness}",
            self.ledger.seal_bag,
            self.actor(who),
            f"TEB-{self.serial:03d}",
            [card],
            witness=witness,
            location=SAFE,
            holder=holder,
        )
        if sealed:
            self.opened_intact[card] = False

    @precondition(lambda self: bool(self.ledger.bags()))
    @rule(who=people, witness=people, ok=st.booleans(), data=st.data())
    def inspect(self, who: str, witness: str, ok: bool, data: st.DataObject) -> None:
        serial = data.draw(st.sampled_from(self._bags()))
        holder = self.ledger.bag(serial).holder
        permitted = ROLES[who] == Role.CA and who != holder and _witness_ok(who, witness, holder)
        before = len(self.ledger.inspections(serial))
        self._try(
            permitted,
            f"{who} inspects {serial} witnessed by {witness}",
            self.ledger.inspect_bag,
            self.actor(who),
            serial,
            serial_read=serial,
            checklist={"seal-intact": ok},
            witness=witness,
        )
        if len(self.ledger.inspections(serial)) > before:  # recorded (with a discrepancy or not)
            self.last_intact[serial] = ok

    @precondition(lambda self: bool(self.ledger.bags()))
    @rule(who=people, witness=people, override=st.none() | people, data=st.data())
    def open(self, who: str, witness: str, override: str | None, data: st.DataObject) -> None:
        serial = data.draw(st.sampled_from(self._bags()))
        holder = self.ledger.bag(serial).holder
        permitted = ROLES[who] == Role.CA and _witness_ok(who, witness, holder)
        blocking = self.ledger.discrepancies(open_only=True, about=f"bag:{serial}")
        if blocking and override is not None:
            # Who may override (IW/CA other than the actor) is checked before the policy
            # (exit 2); the policy then needs two staff members, neither holding the bag.
            permitted = permitted and ROLES[override] in (Role.CA, Role.IW)
            permitted = permitted and override != who and override != holder
        opened = self._try(
            permitted,
            f"{who} opens {serial} witnessed by {witness}, override {override}",
            self.ledger.open_bag,
            self.actor(who),
            serial,
            serial_read=serial,
            witness=witness,
            override_by=override,
        )
        if opened:
            for card in self.ledger.bag(serial).contents:
                self.opened_intact[card] = self.last_intact.get(serial) is True and not blocking

    @precondition(lambda self: bool(self.ledger.discrepancies(open_only=True)))
    @rule(who=people, second=st.none() | people, data=st.data())
    def resolve(self, who: str, second: str | None, data: st.DataObject) -> None:
        d = data.draw(st.sampled_from(self.ledger.discrepancies(open_only=True)))
        holders = {self.ledger.bag(o[4:]).holder for o in d.objects if o.startswith("bag:")}
        resolvers = [who] + ([second] if second else [])
        permitted = all(ROLES[p] in (Role.CA, Role.IW) and p not in holders for p in resolvers)
        if d.severity.value == "critical":
            permitted = permitted and second is not None and second != who
        self._try(
            permitted,
            f"{who} (+{second}) resolves {d.id} ({d.severity.value})",
            self.ledger.resolve_discrepancy,
            self.actor(who),
            d.id,
            "examined",
            second=second,
        )

    @precondition(lambda self: bool(self.ledger.bags()))
    @rule(who=people, data=st.data())
    def store(self, who: str, data: st.DataObject) -> None:
        serial = data.draw(st.sampled_from(self._bags()))
        permitted = ROLES[who] in (Role.CA, Role.SSC)
        self._try(
            permitted,
            f"{who} stores {serial}",
            self.ledger.store_bag,
            self.actor(who),
            serial,
            location=SAFE,
        )

    @rule(who=people, card=cards)
    def activate(self, who: str, card: str) -> None:
        """The gate the HSM activation goes through: the policy, then custody."""
        led = self.ledger
        try:
            led.permit("hsm.activate", self.actor(who))
        except NotPermitted:
            assert ROLES[who] != Role.CA
            return
        assert ROLES[who] == Role.CA, f"{who} was allowed to activate"
        cred = led.credential(card)
        refusal = led.activation_refusal(cred)
        bags = {f"bag:{b.serial}" for b in led.bags() if card in b.contents}
        dirty = [d.id for d in led.discrepancies(open_only=True) if bags & set(d.objects)]
        clean = cred.state.value == "issued" and not dirty
        assert (refusal is None) == clean, (card, cred.state, dirty, refusal)

    # -- after every step ----------------------------------------------------------------
    @invariant()
    def nothing_forbidden_succeeded_and_the_ledger_verifies(self) -> None:
        assert self.allowed_wrongly == []
        assert self.refused_wrongly == []
        self.ledger.verify()


Custody.TestCase.settings = settings(
    max_examples=5,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
class TestCustodyPolicyStateMachine(Custody.TestCase):  # type: ignore[misc,valid-type]
    """Random custody and activation actions by random roster members."""
