"""Activate an HSM with m of n shares: the library API for activation scripts.

::

    from tcr_kit.hsm import Activation, CardShare, ShareFile, load_config

    activation = Activation(load_config(Path("hsm.toml")), ledger=ledger, actor=actor)
    with activation.session([ShareFile(p1), CardShare(selector, pin, record), ...]) as hsm:
        signature = hsm.sign("ksk-2026", data)

Sources are share files, cards (with their PIN and, preferably, their enrolment record) or
share bytes already in memory, in any order. Before anything reaches the HSM each share is
decoded and checked: a share presented twice (same share, same index or same card) is
refused (exit 2), a share of another set or of a retired epoch is refused (exit 3), fewer
than m shares is exit 4 saying how many more are needed. The shares are combined with the
native engine (integrity-checked: a wrong secret is never output), the HSM user PIN is
derived from the secret (:mod:`tcr_kit.hsm.pin`) and the secret wiped at once; the PIN logs
in a python-pkcs11 session and is wiped. On leaving the ``with`` block the session logs out
and every buffer is wiped.

With a custody ledger, each credential must also be cleared by custody
(:mod:`tcr_kit.hsm.clearance`): registered, live, and taken from a bag inspected intact and
opened in the ceremony in force or presented in person by its holder (``in_person``), unless
an emergency ``override`` signed by two staff members names it; otherwise it is refused
before its PIN is tried (exit 3). An HSM configuration that requires remote approvals
(``[approvals] required = M``) is refused (exit 4) without ``approvals`` holding M valid,
fresh ones (:mod:`tcr_kit.hsm.approval`), before any share is read.

Every attempt, successful or not, appends an audit event (``hsm.activate``; and
``hsm.deactivate`` with the operations done, at the end of a session), a typed
:class:`~tcr_kit.hsm.events.ActivationEvent` in ``events``: through the custody ledger when
one is given (signed by ``actor``), and to ``on_event`` when given. The event
names the HSM, the configuration's SHA-256, the share set and epoch, the presented
credentials (card identity, TCR, share index and digest, ledger credential), the outcome,
and never the secret or the PIN.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcr_kit.clock import isoformat, utcnow
from tcr_kit.errors import TcrError
from tcr_kit.hsm.clearance import ActivationOverride, CustodyGate, sign_override
from tcr_kit.hsm.config import LoadedConfig
from tcr_kit.hsm.errors import (
    CustodyRefused,
    DuplicateCredential,
    NotEnoughCredentials,
    SiteFileChanged,
    WrongShareSet,
)
from tcr_kit.hsm.events import ACTIVATE, DEACTIVATE, ActivationEvent, HsmRef, Presented, ShareSetRef
from tcr_kit.hsm.pin import derive_user_pin
from tcr_kit.hsm.token import HsmSession, HsmToken, Marker
from tcr_kit.hsm.verdicts import recorded_statements
from tcr_kit.secrets import SecretBuffer

if TYPE_CHECKING:
    from tcr_kit.cards.enrol import CardSelector
    from tcr_kit.cards.record import EnrolmentRecord
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.custody.models import Credential
    from tcr_kit.hsm.approval import ApprovalBundle, ApprovalCheck
    from tcr_kit.sharing.native import NativeShare

EventSink = Callable[[ActivationEvent], None]
"""``on_event(event)``: receives every audit event (no secrets in it)."""

_LIVE = ("issued", "sealed")


# -- sources ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareFile:
    """A native share file (text or compact)."""

    path: Path


@dataclass(frozen=True)
class CardShare:
    """A TCR card (PKCS#11 token or PC/SC card), its PIN and, preferably, its record."""

    selector: CardSelector
    pin: SecretBuffer
    record: EnrolmentRecord | None = None
    allow_last_try: bool = False


@dataclass(frozen=True)
class InlineShare:
    """Share bytes already in memory (compact or text form); wiped once decoded."""

    data: SecretBuffer
    source: str = "share"


Source = ShareFile | CardShare | InlineShare


# -- the quorum being collected ---------------------------------------------------------------


class Quorum:
    """Shares collected one by one (an interactive collection, or a list of sources).

    Every :meth:`add` checks the new share against the HSM's marker, the configuration, the
    ledger and the shares already collected, and refuses it with one clear error. A refused
    source is remembered in :attr:`refused` (an interactive collection goes on after it), so
    that a quorum left short says in its exit-4 error which sources were refused and why.
    """

    def __init__(
        self,
        loaded: LoadedConfig,
        marker: Marker | None,
        *,
        credentials: list[Credential] | None = None,
        custody: CustodyGate | None = None,
    ) -> None:
        self.loaded = loaded
        self.marker = marker
        self._credentials = credentials or []
        self._custody = custody
        self.presented: list[Presented] = []
        self.refused: list[tuple[str, str]] = []
        """``(source, reason)`` of every refused :meth:`add`, in order."""
        self._pending: dict[str, str] = {}  # refused and not accepted since: the reason
        self._shares: list[NativeShare] = []

    @property
    def threshold(self) -> int:
        return self.marker.threshold if self.marker else self.loaded.share_set.threshold

    def still_needed(self) -> int:
        return max(0, self.threshold - len(self._shares))

    def complete(self) -> bool:
        return self.still_needed() == 0

    def missing_holders(self) -> list[Credential]:
        """Ledger credentials of this share set that were not presented yet."""
        used = {p.index for p in self.presented}
        return [
            c for c in self._credentials if c.share_index not in used and c.state.value in _LIVE
        ]

    def _require_custody(self, cred: Credential, p: Presented) -> Presented:
        """``p`` with its custody clearance; refused (exit 3) when custody forbids it."""
        if self._custody is None:
            return p
        cleared = self._custody.clear(cred, p.describe())
        return replace(p, custody_basis=cleared.basis, custody=cleared.detail)

    def _credential_for(self, index: int) -> Credential | None:
        """The ledger credential of share ``index``: the live one if there is one (a
        rotated card's retired predecessor has the same index)."""
        same = [c for c in self._credentials if c.share_index == index]
        return next((c for c in same if c.state.value in _LIVE), same[0] if same else None)

    def add(self, source: Source) -> Presented:
        """Read, decode and check one source; returns what was presented. A refusal is
        raised and also kept in :attr:`refused` for the quorum error."""
        try:
            presented = self._add(source)
        except TcrError as exc:
            name = _source_name(source)
            self.refused.append((name, str(exc)))
            self._pending.pop(name, None)
            self._pending[name] = str(exc)
            raise
        self._pending.pop(_source_name(source), None)
        return presented

    def _add(self, source: Source) -> Presented:
        from tcr_kit.sharing.errors import ShareError
        from tcr_kit.sharing.native import decode_share

        data, presented_card = self._read(source)
        try:
            name = presented_card["source"]  # every reader names its source and kind
            try:
                share = decode_share(bytes(data.view()), name)
            except ShareError as exc:
                raise WrongShareSet(str(exc)) from None
        finally:
            data.wipe()
        presented = Presented(
            kind=presented_card["kind"],
            source=name,
            set_id=share.set_id_hex,
            index=share.index,
            share_digest=share.digest().hex(),
            card_serial=presented_card.get("card_serial"),
            card_label=presented_card.get("card_label"),
            tcr_id=presented_card.get("tcr_id"),
            tcr_name=presented_card.get("tcr_name"),
        )
        presented = self._check(share, presented)
        self._shares.append(share)
        self.presented.append(presented)
        return presented

    def _read(self, source: Source) -> tuple[SecretBuffer, dict[str, str]]:
        if isinstance(source, ShareFile):
            return _read_file(Path(source.path)), {"kind": "file", "source": str(source.path)}
        if isinstance(source, InlineShare):
            return source.data, {"kind": "inline", "source": source.source}
        return self._read_card(source)

    def _read_card(self, source: CardShare) -> tuple[SecretBuffer, dict[str, str]]:
        from tcr_kit.cards.enrol import open_card, read_share
        from tcr_kit.cards.errors import LastTryRefused, PinIncorrect

        card = open_card(source.selector, allow_last_try=source.allow_last_try)
        try:
            status = card.status()
            ident = status.identity
            for p in self.presented:
                if p.card_serial == ident.serial:
                    raise DuplicateCredential(
                        f"{ident.describe()} was already presented ({p.describe()})"
                    )
            mine = [c for c in self._credentials if c.serial == ident.serial]
            if self._custody is not None and not mine:  # before the card's PIN is tried
                raise CustodyRefused(
                    f"{ident.describe()}: no credential of share set"
                    f" {self.loaded.share_set.id} is registered with card serial {ident.serial};"
                    " it cannot activate the HSM"
                )
            if self._custody is not None:
                for cred in mine:
                    self._custody.clear(cred, ident.describe())
            info = {
                "kind": "card",
                "source": ident.describe(),
                "card_serial": ident.serial,
                "card_label": ident.label or "",
            }
            if status.meta is not None:
                info["tcr_id"] = status.meta.tcr.id
                info["tcr_name"] = status.meta.tcr.name
            try:
                return read_share(card, source.pin, record=source.record), info
            except PinIncorrect as exc:
                raise PinIncorrect(exc.attempts_left, f"PIN for {ident.describe()}") from None
            except LastTryRefused:
                raise LastTryRefused(f"PIN for {ident.describe()}") from None
        finally:
            card.close()

    def _check(self, share: NativeShare, p: Presented) -> Presented:
        """``p`` with its ledger credential and holder, if the share is acceptable."""
        cfg = self.loaded.share_set
        if self.marker is not None:
            for old in self.marker.retired:
                if old.set_id == share.set_id_hex:
                    raise WrongShareSet(
                        f"{p.describe()} belongs to retired epoch {old.epoch} (set {old.set_id});"
                        f" {self.loaded.hsm.name} is now activated by epoch"
                        f" {self.marker.current.epoch} (set {self.marker.current.set_id})"
                    )
            if share.set_id_hex != self.marker.current.set_id:
                raise WrongShareSet(
                    f"{p.describe()} belongs to share set {share.set_id_hex}, not to set"
                    f" {self.marker.current.set_id} that activates {self.loaded.hsm.name}"
                )
        elif self._shares and share.set_id_hex != self._shares[0].set_id_hex:
            raise WrongShareSet(
                f"{p.describe()} belongs to share set {share.set_id_hex}, not to set"
                f" {self._shares[0].set_id_hex} like the shares before it"
            )
        # A count below the config's is a share made before an extension raised the set's n
        # (tcr shares extend); one above it comes from an extension the config does not know.
        if share.threshold != cfg.threshold or share.count > cfg.count:
            raise WrongShareSet(
                f"{p.describe()} is a {share.threshold}-of-{share.count} share; the config"
                f" says share set {cfg.id} is {cfg.threshold}-of-{cfg.count}"
            )
        for q, other in zip(self.presented, self._shares, strict=True):
            if hmac.compare_digest(other.digest(), bytes.fromhex(p.share_digest)):
                raise DuplicateCredential(f"{p.describe()} is the same share as {q.describe()}")
            if other.index == share.index:
                raise DuplicateCredential(
                    f"{p.describe()} has the same index as {q.describe()} (a copy of that share)"
                )
        cred = self._credential_for(share.index)
        if cred is None and self._custody is not None:
            raise CustodyRefused(
                f"{p.describe()}: no credential of share set {cfg.id} is registered with share"
                f" index {share.index}; it cannot activate the HSM"
            )
        if cred is not None:
            p = replace(p, credential=cred.id, holder=cred.holder)
            if cred.state.value not in _LIVE:
                raise WrongShareSet(
                    f"{p.describe()}: the ledger records credential {cred.id} as"
                    f" {cred.state.value}; it cannot activate the HSM"
                )
            if p.card_serial is not None and self._custody is not None:
                if cred.serial != p.card_serial:
                    raise CustodyRefused(
                        f"{p.describe()}: share {share.index} is registered as credential"
                        f" {cred.id}, serial {cred.serial}, not this card's serial"
                        f" {p.card_serial}; it cannot activate the HSM"
                    )
            p = self._require_custody(cred, p)
        return p

    def shares(self) -> list[NativeShare]:
        return list(self._shares)

    def still_refused(self) -> list[tuple[str, str]]:
        """The refused sources not accepted since, each once with its latest reason (in the
        order of those refusals)."""
        return list(self._pending.items())

    def require_complete(self) -> None:
        """Refuse (exit 4) a short quorum: how many more shares are needed, the ledger
        credentials not yet presented, and the sources refused and why."""
        need = self.still_needed()
        if need:
            names = ", ".join(
                f"{c.id} ({c.holder})" if c.holder else c.id for c in self.missing_holders()
            )
            refused = ", ".join(f"{name} ({why})" for name, why in self.still_refused())
            details = [
                *([f"not yet presented: {names}"] if names else []),
                *([f"refused: {refused}"] if refused else []),
            ]
            raise NotEnoughCredentials(
                len(self._shares),
                self.threshold,
                "; ".join(details),
                of=self.loaded.hsm.name,
            )


MAX_SHARE_FILE = 64 * 1024
"""Largest share file an activation reads (activation secrets are small)."""


def _read_file(path: Path) -> SecretBuffer:
    """Read a share file straight into a wipeable buffer (no immutable copy)."""
    from tcr_kit.errors import InputError, OperationalError

    try:
        with open(path, "rb") as fh:
            raw = bytearray(MAX_SHARE_FILE + 1)
            n = fh.readinto(raw)
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read: {exc.strerror}") from None
    buf = SecretBuffer.adopt(raw)
    if n > MAX_SHARE_FILE:
        buf.wipe()
        raise InputError(f"{path}: too large for an activation share file")
    secret = SecretBuffer(raw[:n])  # copies into a new buffer and wipes the slice
    buf.wipe()
    return secret


def _source_name(source: Source) -> str:
    if isinstance(source, ShareFile):
        return str(source.path)
    if isinstance(source, InlineShare):
        return source.source
    return source.selector.describe()


# -- the activation ---------------------------------------------------------------------------


@dataclass
class Activation:
    """Activation of the HSM named by ``config`` (see the module docstring)."""

    config: LoadedConfig
    ledger: Ledger | None = None
    actor: Actor | None = None
    on_event: EventSink | None = None
    events: list[ActivationEvent] = field(default_factory=list)
    in_person: tuple[str, ...] = ()
    """Holders presenting their own credential in the room (checked against the ceremony's
    attendance; see :mod:`tcr_kit.hsm.clearance`)."""
    override: ActivationOverride | None = None
    """An emergency custody override signed by two staff members."""
    approvals: ApprovalBundle | None = None
    """Remote approvals (a request and its signed approvals) for a configuration that
    requires them."""
    _token: HsmToken | None = None
    _approval_check: ApprovalCheck | None = None

    def __post_init__(self) -> None:
        if (self.ledger is None) != (self.actor is None):
            raise ValueError("a ledger needs an actor to sign its events (and vice versa)")

    def token(self) -> HsmToken:
        """The HSM token (opening it loads the module: missing module is exit 1)."""
        if self._token is None:
            self._token = HsmToken.open(self.config.hsm)
        return self._token

    def _ledger_checks(self, marker: Marker | None) -> list[Credential]:
        if self.ledger is None:
            return []
        from tcr_kit.custody.ledger import NotFound

        if self.actor is not None:
            self.ledger.permit("hsm.activate", self.actor)  # NotPermitted: exit 5

        cfg = self.config.share_set
        try:
            share_set = self.ledger.share_set(cfg.id)
        except NotFound:
            raise CustodyRefused(
                f"share set {cfg.id} is not registered in the ledger ('tcr hsm register-set'"
                " and 'tcr credential add'); nothing can activate the HSM with this ledger"
            ) from None
        if share_set.status != "active":
            raise WrongShareSet(f"share set {cfg.id} is {share_set.status} in the ledger")
        if share_set.epoch != cfg.epoch:
            raise WrongShareSet(
                f"the config names epoch {cfg.epoch} of share set {cfg.id};"
                f" the ledger records epoch {share_set.epoch}"
            )
        from tcr_kit.hsm.provision import check_raise_with_ledger

        check_raise_with_ledger(marker, self.config, share_set, self.ledger)  # a marker raise
        return [c for c in self.ledger.credentials() if c.share_set == cfg.id]

    def quorum(self) -> Quorum:
        """An empty quorum for this HSM, for collecting shares one at a time."""
        self._check_approvals()  # before the HSM is touched
        token = self.token()
        marker = token.marker()
        if marker is not None and marker.current.epoch != self.config.share_set.epoch:
            raise WrongShareSet(
                f"{token.describe()} is at epoch {marker.current.epoch}; the config"
                f" {self.config.path} says epoch {self.config.share_set.epoch}"
            )
        credentials = self._ledger_checks(marker)
        gate = None
        if self.ledger is not None:
            gate = CustodyGate.for_ledger(
                self.ledger, in_person=self.in_person, override=self.override
            )
            if self.ledger.ceremony_number is None and gate.ceremony is not None:
                self.ledger.use_ceremony(gate.ceremony)  # the events name the ceremony open
            self._check_site_file(gate.ceremony)
            gate.check_override(self.config.hsm.name, self.config.sha256)
        elif self.override is not None or self.in_person:
            raise ValueError("in_person and override need a custody ledger")
        return Quorum(self.config, marker, credentials=credentials, custody=gate)

    def _check_site_file(self, number: int | None) -> None:
        """Refuse (exit 3) a site file other than the one the ceremony in force recorded.

        The site file says which PKCS#11 module gets the PIN and with which environment; it
        differs from site to site by design, so the rehearsal check on the shared
        configuration cannot cover it: the ceremony's ``ceremony.open`` record is the one
        commitment to it (docs/threat-model.md, "Site file")."""
        if number is None or self.ledger is None:
            return
        from tcr_kit.custody.errors import NotFound

        try:
            recorded = self.ledger.ceremony(number).site_sha256
        except NotFound:
            return
        if recorded is None or (
            self.config.site_sha256 is not None
            and hmac.compare_digest(recorded, self.config.site_sha256)
        ):
            return
        if self.config.site_path is None:
            raise SiteFileChanged(
                f"ceremony {number} was opened with site file SHA-256 {recorded}; the"
                f" configuration {self.config.path} names no site file (its module and"
                " environment are inline): refused"
            )
        raise SiteFileChanged(
            f"site file {self.config.site_path} has SHA-256 {self.config.site_sha256}; ceremony"
            f" {number} was opened with site file SHA-256 {recorded}: it changed since the"
            " ceremony opened, refused (open a new ceremony with the reviewed site file)"
        )

    def _check_approvals(self) -> None:
        """Refuse (exit 4) a configuration requiring M approvals without M valid ones."""
        required = self.config.config.approvals.required
        self._approval_check = None
        if required == 0 and self.approvals is None:
            return
        from tcr_kit.hsm.approval import ApprovalsNotMet, require_approvals

        ceremony = None
        if self.ledger is not None:
            ceremony = self.ledger.ceremony_number
            if ceremony is None:
                current = self.ledger.open_ceremony()
                ceremony = current.number if current is not None else None
        try:
            self._approval_check = require_approvals(
                self.config, self.approvals, ledger=self.ledger, ceremony=ceremony
            )
        except ApprovalsNotMet as exc:
            self._approval_check = exc.check  # the refusal records each approval's verdict
            raise

    def _collect(self, sources: Iterable[Source] | Quorum, into: list[Quorum]) -> Quorum:
        """The complete quorum from ``sources``; the quorum being built is put in ``into``
        at once, so a refusal can name what was presented before it."""
        if isinstance(sources, Quorum):
            quorum = sources
            into.append(quorum)
        else:
            quorum = self.quorum()
            into.append(quorum)
            for source in sources:
                quorum.add(source)
        quorum.require_complete()
        return quorum

    def collect(self, sources: Iterable[Source] | Quorum) -> Quorum:
        """Check ``sources`` and return the complete quorum (exit 4 when short)."""
        return self._collect(sources, [])

    def _derive(self, quorum: Quorum) -> SecretBuffer:
        from tcr_kit.sharing.native import combine_shares

        # Too few shares here is QuorumNotMet (NotEnoughCredentials) from the engine itself.
        with combine_shares(quorum.shares()).secret as secret:
            return derive_user_pin(
                secret,
                bytes.fromhex(quorum.shares()[0].set_id_hex),
                info=self.config.pin.info,
                length=self.config.pin.length,
            )

    @contextmanager
    def session(
        self, sources: Iterable[Source] | Quorum, *, rw: bool = False, purpose: str = "session"
    ) -> Iterator[HsmSession]:
        """A logged-in session on the HSM, for the duration of the ``with`` block."""
        building: list[Quorum] = []
        try:
            quorum = self._collect(sources, building)
            token = self.token()
            with self._derive(quorum) as pin:
                followed = self._marker_follows_config(quorum, pin)
                with token.login(pin, rw=rw) as raw:
                    pin.wipe()
                    hsm = HsmSession(token, raw)
                    self._event(ACTIVATE, quorum, "activated", purpose=purpose, **followed)
                    try:
                        yield hsm
                    finally:
                        ops = tuple(hsm.operations)
                        self._event(DEACTIVATE, quorum, "deactivated", operations=ops)
        except TcrError as exc:
            partial = building[0] if building else None
            self._event(ACTIVATE, partial, f"refused: {exc}", purpose=purpose)
            raise

    def user_pin(self, sources: Iterable[Source] | Quorum) -> SecretBuffer:
        """The HSM user PIN for another program (checked by one login and logout first).

        The caller hands it on (never through argv or the environment) and wipes it.
        """
        building: list[Quorum] = []
        try:
            quorum = self._collect(sources, building)
            pin = self._derive(quorum)
            try:
                followed = self._marker_follows_config(quorum, pin)
                with self.token().login(pin):
                    pass
            except BaseException:
                pin.wipe()
                raise
        except TcrError as exc:
            partial = building[0] if building else None
            self._event(ACTIVATE, partial, f"refused: {exc}", purpose="pin-handoff")
            raise
        self._event(ACTIVATE, quorum, "pin handed off", purpose="pin-handoff", **followed)
        return pin

    def _marker_follows_config(self, quorum: Quorum, pin: SecretBuffer) -> dict[str, Any]:
        """Raise the marker's count to the configuration's once a quorum of the marker's own
        set is about to log in: after ``tcr shares extend`` and ``tcr hsm config-extend`` the
        set has more shares than when the marker was written (``tcr hsm init``/``rekey``),
        and the marker must not keep saying otherwise. With a ledger, :meth:`quorum` has
        checked that count, and that the set's signed manifest is of the marker's native set,
        against the ledger first. Only a raise, only for the marker's set, epoch and
        threshold; written with ``pin`` (a login of its own, which a wrong PIN fails like the
        activation's), read back. Returns the activation event's
        ``marker_count`` field (``{"marker_count": {"old": N, "new": M}}``) or nothing."""
        from tcr_kit.hsm.provision import marker_behind, write_marker

        marker, cfg = quorum.marker, self.config.share_set
        if (
            marker is None
            or not marker_behind(marker, cfg)
            or quorum.shares()[0].set_id_hex != marker.current.set_id
        ):
            return {}
        write_marker(self.token(), pin, replace(marker, count=cfg.count))
        quorum.marker = replace(marker, count=cfg.count)
        return {"marker_count": {"old": marker.count, "new": cfg.count}}

    # -- audit -------------------------------------------------------------------------------

    def sign_override(
        self, credentials: Sequence[str], reason: str, signers: Sequence[Actor]
    ) -> ActivationOverride:
        """Have ``signers`` sign an emergency override of ``credentials`` for this HSM and
        configuration (:func:`~tcr_kit.hsm.clearance.sign_override`) and use it.

        A signer's card that refuses (a wrong PIN, a blocked PIN, or the last try kept:
        the card's retry counter is read before the PIN is presented) is recorded as a
        refused ``hsm.activate`` (purpose ``override-signature``) as a wrong PIN of a
        share's card is, its outcome naming whose card and the tries left, never the PIN,
        and the remote approvals given examined first so that they carry their verdict
        (:mod:`tcr_kit.hsm.verdicts`); then the error is raised."""
        from tcr_kit.cards.errors import CardError

        if self.ledger is None:
            raise ValueError("an override needs a custody ledger")
        try:
            override = sign_override(
                self.ledger, self.config.hsm.name, self.config.sha256, credentials, reason, signers
            )
        except CardError as exc:
            self.record_refusal(None, exc, "override-signature")
            raise
        self.override = override
        return override

    def record_refusal(self, quorum: Quorum | None, error: TcrError, purpose: str) -> None:
        """Append a refused ``hsm.activate`` event (for callers that collect themselves)."""
        self._event(ACTIVATE, quorum, f"refused: {error}", purpose=purpose)

    def _event(self, kind: str, quorum: Quorum | None, outcome: str, **fields: Any) -> None:
        hsm = HsmRef(self.config.hsm.name, self.config.hsm.module)
        if self._token is not None:
            hsm = replace(hsm, token_label=self._token.label, token_serial=self._token.serial)
        cfg = self.config.share_set
        event = ActivationEvent(
            kind=kind,
            hsm=hsm,
            config_sha256=self.config.sha256,
            share_set=ShareSetRef(cfg.id, cfg.epoch, cfg.threshold, cfg.count),
            presented=tuple(quorum.presented) if quorum else (),
            outcome=outcome,
            at=isoformat(utcnow()),
            site_sha256=self.config.site_sha256,
            **fields,
        )
        if kind == ACTIVATE:  # the statements given, each with its verdict or not at all
            statements = recorded_statements(
                self.ledger, self.override, self.approvals, self._approval_check,
                refused=event.refused,
            )  # fmt: skip
            event = replace(event, **statements)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        if self.ledger is not None and self.actor is not None:
            self.ledger.record_event(self.actor, kind, event.subjects, event.payload())
