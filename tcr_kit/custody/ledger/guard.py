"""The guard in front of every change: the policy in force, and the rows a change depends on
checked against the audit log before anything is written.

* :meth:`GuardedReader.policy` is the policy recorded by the last ``policy.set`` event (or
  the default policy when none was ever recorded); :meth:`GuardedReader.set_policy` records
  a new one (an SA only).
* :meth:`GuardedReader._permit` is the one call at the start of each change method: it
  checks the rows the change depends on (:meth:`_check_rows`) and then the policy's rules,
  raising :class:`~tcr_kit.errors.NotPermitted` (exit 5) before any write, so a dry run
  reports the same refusal.
* :meth:`_check_rows` is fast: it reads only the audit events naming the subject (the
  ``subjects`` index), compares the subject's row and the discrepancies linked to it with
  the records those events carry, and notices rows deleted or inserted behind the tool's
  back, and audit events deleted (sequence numbers with a gap).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tcr_kit.audit.canonical import canonical_bytes, parse_canonical
from tcr_kit.audit.chain import as_bytes, event_hash
from tcr_kit.custody.errors import LedgerIntegrityError
from tcr_kit.custody.ledger.reading import LedgerReader
from tcr_kit.custody.ledger.storage import Actor, serialised
from tcr_kit.custody.models import Bag, Credential, Discrepancy
from tcr_kit.custody.policy import Policy, default_policy, parse_policy

__all__ = ["POLICY_SUBJECT", "GuardedReader"]

POLICY_SUBJECT = "policy"
"""The audit subject of ``policy.set`` events."""

_OWN_TABLE = {
    "bag": "bag",
    "credential": "credential",
    "person": "person",
    "artifact": "artifact",
    "artifact-release": "artifact_release",
}


class GuardedReader(LedgerReader):
    """Policy look-up and the pre-change checks (base of every change mixin)."""

    # -- the policy ------------------------------------------------------------------------
    def policy(self) -> Policy:
        """The policy in force: the last one recorded, else the default policy."""
        seq = 0
        for body in self.audit.events_about(POLICY_SUBJECT):
            if body.get("kind") == "policy.set":
                seq = int(body.get("seq", 0))
        if not seq:
            return default_policy()
        stored = next(self.audit.events(seq, seq), None)
        if stored is None or event_hash(stored.body).hex() != stored.hash:
            raise LedgerIntegrityError(
                f"audit event {seq} (policy.set) differs from its hash "
                "(edited behind the tool's back)"
            )
        payload = parse_canonical(stored.body).get("payload", {})
        text = payload.get("policy") if isinstance(payload, dict) else None
        if not isinstance(text, str):
            raise LedgerIntegrityError(f"audit event {seq} (policy.set) carries no policy")
        return parse_policy(text, f"policy recorded in audit event {seq}")

    @serialised
    def set_policy(self, actor: Actor, text: str, *, dry_run: bool = False) -> Policy:
        """Record ``text`` (TOML) as the policy in force: a signed ``policy.set`` event that
        only a person the current policy allows (an SA by default) may make."""
        new = parse_policy(text)
        self._permit("policy.set", actor)
        with self._change(
            actor,
            "policy.set",
            [POLICY_SUBJECT],
            {"policy": text, "policy_sha256": new.sha256, "name": new.name},
            dry_run=dry_run,
        ):
            pass
        return new

    def _cosign_required(self) -> bool:
        """Rule ``witness-cosign`` of the policy in force."""
        return self.policy().witness_cosign

    def permit(self, action: str, actor: Actor) -> None:
        """Whether the policy lets ``actor`` perform ``action`` (an action of
        :data:`~tcr_kit.custody.policy.ACTIONS`, e.g. ``hsm.activate``): returns, or raises
        :class:`~tcr_kit.errors.NotPermitted` (exit 5) naming the rule."""
        self._permit(action, actor)

    def activation_refusal(self, credential: Credential) -> str | None:
        """Why custody forbids presenting ``credential`` to activate an HSM, or ``None``.

        Refused: a credential not issued (sealed in a bag not yet opened, retired, lost,
        destroyed), or with an open discrepancy on it, on any bag it was ever sealed in, or
        on its holder. The rows consulted are first checked against the audit log
        (:class:`LedgerIntegrityError` on a mismatch)."""
        cred = credential
        bags = [b for b in self.bags() if cred.id in b.contents]
        subjects = [f"credential:{cred.id}", *(f"bag:{b.serial}" for b in bags)]
        subjects += [f"person:{cred.holder}"] if cred.holder else []
        self._check_rows(subjects)
        cred = self.credential(cred.id)
        if cred.state.value == "sealed":
            bag = self._get_or_none(Bag, cred.bag)
            where = f"bag {cred.bag} ({bag.state.value if bag else 'missing'})"
            return f"credential {cred.id} is sealed in {where}, which has not been opened"
        if cred.state.value != "issued":
            return f"credential {cred.id} is {cred.state.value}"
        about = set(subjects)
        for d in self.discrepancies(open_only=True):
            hit = sorted(about & set(d.objects))
            if hit:
                return (
                    f"credential {cred.id}: open {d.severity.value} discrepancy {d.id} "
                    f"({d.category.value}) on {hit[0]}"
                )
        return None

    # -- the one pre-change call -----------------------------------------------------------
    def _permit(
        self,
        action: str,
        actor: Actor,
        *,
        witness: str | None = None,
        bags: Sequence[Bag] = (),
        credentials: Sequence[Credential] = (),
        vouching: bool = False,
        own_only: bool = False,
    ) -> Policy:
        """Check the rows ``action`` depends on, then the policy: the actor's role, the
        witness (different person, witness role, not a holder), a TCR acting only for their
        own credentials (``own_only``), and, when the actor vouches for custody
        (``vouching``: inspect, open, reseal, destroy, ...), that they hold none of it."""
        subjects = [f"person:{actor.person}"]
        subjects += [f"person:{witness}"] if witness else []
        subjects += [f"bag:{b.serial}" for b in bags]
        subjects += [f"credential:{c.id}" for c in credentials]
        self._check_rows(subjects)
        policy = self.policy()
        me = self.person(actor.person)
        policy.require_role(action, me)
        held = self._held(bags, credentials)
        if own_only:
            policy.require_own(action, me, held.values())
        if vouching:
            policy.require_not_holder(action, me, "inspector or actor", held)
        if witness is not None:
            other = self.person(witness)
            policy.require_witness(action, me, other)
            policy.require_not_holder(action, other, "witness", held)
        return policy

    def _permit_discrepancies(
        self, action: str, people: Sequence[str], discrepancies: Iterable[Discrepancy]
    ) -> None:
        """Rules ``action-role``, ``holder-not-vouching`` and ``critical-two-staff`` for
        overriding or resolving ``discrepancies`` by ``people`` (the actor first)."""
        policy = self.policy()
        persons = [self.person(p) for p in dict.fromkeys(people)]
        for p in persons:
            policy.require_role(action, p)
        for d in discrepancies:
            self._check_rows([f"discrepancy:{d.id}"])
            involved = self._involved(d)
            for p in persons:
                policy.require_not_holder(
                    action, p, "resolver or overrider", self._held_objects(d.objects)
                )
            policy.require_two_staff(action, d.severity.value, d.id, persons, involved)

    def _held(
        self, bags: Sequence[Bag], credentials: Sequence[Credential]
    ) -> dict[str, str | None]:
        held: dict[str, str | None] = {f"bag:{b.serial}": b.holder for b in bags}
        for b in bags:
            for cid in b.contents:
                cred = self._get_or_none(Credential, cid)
                held[f"credential:{cid}"] = cred.holder if cred else None
        held.update({f"credential:{c.id}": c.holder for c in credentials})
        return held

    def _held_objects(self, objects: Iterable[str]) -> dict[str, str | None]:
        held: dict[str, str | None] = {}
        for obj in objects:
            kind, _, key = obj.partition(":")
            if kind == "bag":
                bag = self._get_or_none(Bag, key)
                if bag is not None:
                    held.update(self._held([bag], []))
            elif kind == "credential":
                cred = self._get_or_none(Credential, key)
                held[obj] = cred.holder if cred else None
        return held

    def _involved(self, d: Discrepancy) -> set[str]:
        """People involved in a discrepancy: holders of what it names, people it names."""
        people = {h for h in self._held_objects(d.objects).values() if h}
        people |= {o.partition(":")[2] for o in d.objects if o.startswith("person:")}
        return people

    # -- rows against the audit log --------------------------------------------------------
    def _check_rows(self, subjects: Iterable[str]) -> None:
        """Each subject's own row (``bag:X`` -> bag X) and every discrepancy linked to it
        must be exactly what the last audit event carrying it says; a row that an event
        wrote but that is gone, or a row no event wrote, refuses the change (exit 3)."""
        count, last = self.audit.count(), self.audit.head()[0]
        if count != last:
            raise LedgerIntegrityError(
                f"the audit log has {count} events but its last is number {last}: "
                "events were deleted behind the tool's back"
            )
        for subject in dict.fromkeys(subjects):
            self._check_subject(subject)

    def _check_subject(self, subject: str) -> None:
        kind, _, key = subject.partition(":")
        own = _OWN_TABLE.get(kind)
        expected: dict[tuple[str, str], tuple[int, bytes]] = {}
        for body in self.audit.events_about(subject):
            payload = body.get("payload")
            records = payload.get("records") if isinstance(payload, dict) else None
            for rec in records if isinstance(records, list) else []:
                if not isinstance(rec, dict) or not isinstance(rec.get("doc"), dict):
                    continue
                table, rkey, doc = str(rec.get("table")), str(rec.get("key")), rec["doc"]
                mine = (table == own and rkey == key) or (
                    table == "discrepancy"
                    and (subject in doc.get("objects", ()) or subject == f"discrepancy:{rkey}")
                )
                if mine:
                    expected[(table, rkey)] = (int(body.get("seq", 0)), canonical_bytes(doc))
        actual: dict[tuple[str, str], bytes] = {}
        if own is not None:
            row = self._conn.execute(
                f"SELECT doc FROM {own} WHERE key = ?",  # noqa: S608
                (key,),
            ).fetchone()
            if row is not None:
                actual[(own, key)] = as_bytes(row[0])
        for dkey, doc in self._conn.execute("SELECT key, doc FROM discrepancy"):
            raw = as_bytes(doc)
            if (str(dkey) == key and kind == "discrepancy") or _names(raw, subject):
                actual[("discrepancy", str(dkey))] = raw
        for ident in sorted(set(expected) | set(actual)):
            want, have = expected.get(ident), actual.get(ident)
            if want is not None and have == want[1]:
                continue
            latest = self._latest_record(*ident)  # slow path: confirm with the whole log
            if latest is None and have is not None:
                raise LedgerIntegrityError(
                    f"ledger row {ident[0]}/{ident[1]} was never written by an audited change "
                    "(inserted behind the tool's back); nothing changed"
                )
            if latest is not None and have is None:
                raise LedgerIntegrityError(
                    f"ledger row {ident[0]}/{ident[1]} written by audit event {latest[0]} is "
                    "missing (deleted behind the tool's back); nothing changed"
                )
            if latest is not None and have != latest[1]:
                raise LedgerIntegrityError(
                    f"ledger row {ident[0]}/{ident[1]} differs from audit event {latest[0]} "
                    "(edited behind the tool's back); nothing changed"
                )

    def _latest_record(self, table: str, key: str) -> tuple[int, bytes] | None:
        found: tuple[int, bytes] | None = None
        for event in self.audit.events():
            try:
                body = parse_canonical(event.body)
            except ValueError:
                continue
            payload = body.get("payload") if isinstance(body, dict) else None
            records = payload.get("records") if isinstance(payload, dict) else None
            for rec in records if isinstance(records, list) else []:
                if (
                    isinstance(rec, dict)
                    and rec.get("table") == table
                    and str(rec.get("key")) == key
                    and isinstance(rec.get("doc"), dict)
                ):
                    found = (event.seq, canonical_bytes(rec["doc"]))
        return found


def _names(raw: bytes, subject: str) -> bool:
    try:
        doc: Any = parse_canonical(raw)
    except ValueError:
        return False
    objects = doc.get("objects") if isinstance(doc, Mapping) else None
    return isinstance(objects, list) and subject in objects
