"""The roster: people, their roles and their registered signing keys."""

from __future__ import annotations

from tcr_kit.audit.signing import ED25519, Signer, key_id
from tcr_kit.custody.ledger.guard import GuardedReader
from tcr_kit.custody.ledger.storage import Actor, serialised
from tcr_kit.custody.lifecycle import CredentialState
from tcr_kit.custody.models import STAFF_ROLES, Person
from tcr_kit.custody.models import revalidate as _revalidate
from tcr_kit.errors import InputError

__all__ = ["RosterMixin"]

_LIVE_CREDENTIAL = {CredentialState.ISSUED, CredentialState.SEALED}


class RosterMixin(GuardedReader):
    """Start a ledger; add, retire and re-key people (staff only change the roster)."""

    def initialise(self, first: Person, signer: Signer, *, dry_run: bool = False) -> None:
        """Start an empty ledger: the first person (staff) registers their own key."""
        if self.audit.count():
            raise InputError(f"{self.path}: ledger is already initialised")
        if not set(first.roles) & STAFF_ROLES:
            raise InputError("the first person in the ledger must be staff (CA, IW, SSC, SA)")
        if (
            first.public_key != signer.public_key_bytes().hex()
            or first.key_algorithm != signer.algorithm
        ):
            raise InputError("the first person's public key must be the signer's")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            event = self.audit.register_key(
                signer, first.id, signer.public_key_bytes(), first.id, signer.algorithm
            )
            self._records = []
            self._put(first)
            event2 = self.audit.append(
                signer, first.id, "person.add", {"records": self._records}, [f"person:{first.id}"]
            )
            self.last_events = [event, event2]
            self._conn.execute("ROLLBACK" if dry_run else "COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        finally:
            self._records = None

    @serialised
    def add_person(self, actor: Actor, person: Person, *, dry_run: bool = False) -> Person:
        self._permit("roster.change", actor)
        self._require_staff(actor)
        if self._get_or_none(Person, person.id) is not None:
            raise InputError(f"person {person.id} is already in the roster")
        with self._change(actor, "person.add", [f"person:{person.id}"], dry_run=dry_run):
            if person.public_key is not None:
                pub = bytes.fromhex(person.public_key)
                algorithm = person.key_algorithm or ED25519
                if self.audit.same_key(algorithm, pub) is not None:  # in any encoding
                    raise InputError("that public key is already registered to someone")
                self.last_events.append(
                    self.audit.register_key(actor.signer, actor.person, pub, person.id, algorithm)
                )
            self._put(person)
        return person

    @serialised
    def retire_person(self, actor: Actor, pid: str, *, dry_run: bool = False) -> Person:
        self._permit("roster.change", actor)
        self._check_rows([f"person:{pid}"])
        self._require_staff(actor)
        person = self.person(pid)
        if person.retired:
            raise InputError(f"person {pid} is already retired")
        held = [c.id for c in self.credentials(pid) if c.state in _LIVE_CREDENTIAL]
        if held:
            raise InputError(f"person {pid} still holds credentials: {', '.join(held)}")
        updated = person.model_copy(update={"retired": True})
        with self._change(actor, "person.retire", [f"person:{pid}"], dry_run=dry_run):
            self._put(_revalidate(updated))
        return updated

    @serialised
    def replace_key(
        self,
        actor: Actor,
        pid: str,
        public_key: bytes,
        *,
        algorithm: str = ED25519,
        dry_run: bool = False,
    ) -> Person:
        """Give ``pid`` a new signing key (lost key, or a card key replacing a software key):
        the old key is revoked and the new one registered, in one change."""
        self._permit("roster.change", actor)
        self._check_rows([f"person:{pid}"])
        self._require_staff(actor)
        person = self.person(pid)
        if actor.person == pid:
            raise InputError("another staff member must replace your key")
        updated = _revalidate(
            person.model_copy(update={"public_key": public_key.hex(), "key_algorithm": algorithm})
        )
        with self._change(actor, "person.rekey", [f"person:{pid}"], dry_run=dry_run):
            if person.public_key is not None:
                old = key_id(bytes.fromhex(person.public_key))
                self.last_events.append(self.audit.revoke_key(actor.signer, actor.person, old))
            try:
                twin = self.audit.same_key(algorithm, public_key)  # in any encoding
            except (ValueError, TypeError, IndexError) as exc:
                raise InputError(f"public key for {pid}: {exc}") from None
            if twin is not None:
                raise InputError("that public key is already registered")
            self.last_events.append(
                self.audit.register_key(actor.signer, actor.person, public_key, pid, algorithm)
            )
            self._put(updated)
        return updated

    def registered_key(self, pid: str) -> bytes | None:
        """The public key registered for ``pid`` (raw bytes), or ``None`` if they have none."""
        person = self.person(pid)
        return bytes.fromhex(person.public_key) if person.public_key is not None else None

    def _require_staff(self, actor: Actor) -> None:
        person = self._get_or_none(Person, actor.person)
        if person is not None and not set(person.roles) & STAFF_ROLES:
            raise InputError(f"{actor.person} is not staff; only staff change the roster")
