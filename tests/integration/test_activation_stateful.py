"""The custody state machine of tests/custody/test_policy_stateful.py, with real activations:
random roster members activate a real SoftHSM2 HSM (2-of-3) with random shares, naming random
holders in person and sometimes an emergency override signed by random people, in between
random seals, inspections, openings, resolutions and storage. After every step: no action the
policy forbids succeeded, an activation succeeded exactly when every credential it used was
clean by an independent model of issue 9 (issued; no open discrepancy on it, its bags or its
holder, and taken from a bag opened intact in this ceremony or presented by its holder in the
room; or named by a valid two-staff override), and the ledger (audit log included) verifies.
The activations run through the library's own path: ``Activation.session``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test

import tests.custody.test_policy_stateful as base
from tcr_kit.custody.models import Attendance, Credential, CredentialKind, Role, ShareSet, build
from tcr_kit.errors import TcrError
from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.clearance import sign_override
from tests.fixtures.stack import SoftHsm
from tests.integration.hsm_helpers import DemoHsm, make_hsm

pytestmark = pytest.mark.integration
ROLES = base.ROLES
IN_ROOM = ("tcr-1", "tcr-2")
"""TCRs present at ceremony 1; tcr-3 takes part remotely."""
TCRS = st.sets(st.sampled_from(["tcr-1", "tcr-2", "tcr-3"]))
OUTCOMES = {"activated": 0, "refused": 0}
"""Over the whole run: the test fails unless both outcomes happened."""


class ActivationMachine(base.Custody):
    hsm: DemoHsm

    def __init__(self, hsm: DemoHsm) -> None:
        self.hsm = hsm
        super().__init__()

    def _before_credentials(self) -> None:
        cfg = self.hsm.loaded.share_set
        ca = self.actor("ca-1")
        self.ledger.add_share_set(
            ca, build(ShareSet, id=cfg.id, m=cfg.threshold, n=cfg.count, purpose="HSM", epoch=1)
        )
        people = [build(Attendance, person=p, role=ROLES[p].value, remote=p == "tcr-3")
                  for p in base.PEOPLE]  # fmt: skip
        self.ledger.begin_ceremony(ca, 1, facility="east", attendance=people)
        self.ledger.use_ceremony(1)

    def _credential(self, cid: str, holder: str, index: int) -> Credential:
        return Credential(id=cid, kind=CredentialKind.SMARTCARD, serial=cid, holder=holder,
                          share_set=self.hsm.loaded.share_set.id, share_index=index)  # fmt: skip

    @rule(card=base.cards, intact=st.booleans(), resolve=st.booleans())
    def bag_round(self, card: str, intact: bool, resolve: bool) -> None:
        """A whole bag round by the right people, so that the random walk reaches bags
        opened intact, over a resolved discrepancy, or over an override: seal (witnessed),
        inspect (intact or not), resolve by two staff when ``resolve``, open (with an
        override while a discrepancy is open)."""
        led = self.ledger
        self.seal("ca-1", card, "iw-1")
        serial = f"TEB-{self.serial:03d}"
        if led.credential(card).bag != serial:
            return  # not sealed (already in a bag)
        before = len(led.inspections(serial))
        self._try(True, f"ca-2 inspects {serial}", led.inspect_bag, self.actor("ca-2"),
                  serial, serial_read=serial, checklist={"seal-intact": intact},
                  witness="iw-2")  # fmt: skip
        if len(led.inspections(serial)) > before:
            self.last_intact[serial] = intact
        for d in led.discrepancies(open_only=True, about=f"bag:{serial}") if resolve else ():
            self._try(True, f"ca-1 + iw-1 resolve {d.id}", led.resolve_discrepancy,
                      self.actor("ca-1"), d.id, "examined", second="iw-1")  # fmt: skip
        blocking = led.discrepancies(open_only=True, about=f"bag:{serial}")
        opened = self._try(True, f"ca-1 opens {serial}", led.open_bag, self.actor("ca-1"),
                           serial, serial_read=serial, witness="iw-1",
                           override_by="iw-2" if blocking else None)  # fmt: skip
        if opened:
            self.opened_intact[card] = self.last_intact.get(serial) is True and not blocking

    def _clean(self, card: str, in_person: set[str], overridden: set[str]) -> bool:
        """The independent model of issue 9, item 3."""
        led = self.ledger
        cred = led.credential(card)
        if cred.state.value != "issued":
            return False
        about = {f"credential:{card}", f"person:{cred.holder}"}
        about |= {f"bag:{b.serial}" for b in led.bags() if card in b.contents}
        dirty = any(about & set(d.objects) for d in led.discrepancies(open_only=True))
        present = cred.holder in in_person and cred.holder in IN_ROOM
        accounted = self.opened_intact.get(card, False) or present
        return (accounted and not dirty) or card in overridden

    # Weighted (a value listed more often is drawn more often), so that enough activations
    # can succeed among the refusals.
    @rule(
        who=st.sampled_from(["ca-1", "ca-2"] * 4 + base.PEOPLE),
        picks=st.sampled_from([[1, 2]] * 4 + [[2, 1], [1, 3], [3, 2], [1], [1, 2, 3], [3]]),
        in_person=st.sampled_from(
            [{"tcr-1", "tcr-2"}] * 3 + [{"tcr-1", "tcr-2", "tcr-3"}, {"tcr-1"}, {"tcr-3"}, set()]
        ),
        signers=st.sampled_from(
            [[]] * 4 + [["iw-1", "ca-2"], ["iw-1"], ["sa-1", "iw-2"], ["tcr-1", "ca-1"]]
        ),
        overridden=st.sampled_from([{"card-3"}, {"card-1", "card-2"}, {"card-2", "card-3"}]),
    )
    def activate_hsm(
        self,
        who: str,
        picks: list[int],
        in_person: set[str],
        signers: list[str],
        overridden: set[str],
    ) -> None:
        loaded = self.hsm.loaded
        override = None
        if signers and overridden:
            override = sign_override(self.ledger, loaded.hsm.name, loaded.sha256,
                                     sorted(overridden), "emergency",
                                     [self.actor(p) for p in signers])  # fmt: skip
        valid_override = len(signers) == 2 and all(ROLES[p] in (Role.CA, Role.IW) for p in signers)
        covered = overridden if override is not None and valid_override else set()
        expected = (
            ROLES[who] == Role.CA
            and (override is None or valid_override)
            and len(picks) >= loaded.share_set.threshold
            and all(self._clean(f"card-{i}", in_person, covered) for i in picks)
        )
        activation = Activation(loaded, ledger=self.ledger, actor=self.actor(who),
                                in_person=tuple(sorted(in_person)), override=override)  # fmt: skip
        files = self.hsm.plan.share_files
        what = f"{who} activates with {picks}, in person {sorted(in_person)}, override {signers}"
        try:
            with activation.session([ShareFile(files[i - 1]) for i in picks]) as s:
                s.sign("ksk-demo", b"zone")
        except TcrError as exc:  # NotPermitted (exit 5) and every other refusal
            OUTCOMES["refused"] += 1
            if expected:
                self.refused_wrongly.append(f"{what}: {exc}")
            return
        if not expected:
            self.allowed_wrongly.append(what)
            return
        OUTCOMES["activated"] += 1
        first = activation.events[0]
        for p in first.presented:  # the event says how custody accounted for each
            assert p.custody_basis in ("bag", "in-person", "override"), p
            if p.custody_basis == "bag":
                assert self.opened_intact.get(str(p.credential)), p
            if p.custody_basis == "in-person":
                assert p.holder in in_person and p.holder in IN_ROOM, p
            if p.custody_basis == "override":
                assert p.credential in covered, p


def test_random_custody_and_activations_by_random_people(softhsm: SoftHsm, tmp_path: Path) -> None:
    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    run_state_machine_as_test(
        lambda: ActivationMachine(hsm),
        settings=settings(
            max_examples=10,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    assert OUTCOMES["activated"] > 0 and OUTCOMES["refused"] > 0, OUTCOMES
