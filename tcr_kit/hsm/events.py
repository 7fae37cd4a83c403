"""The audit events of an HSM, as typed objects: :class:`ActivationEvent`.

Three kinds: ``hsm.activate`` (every attempt; outcome ``activated``, ``pin handed off`` or
``refused: <the error line>``), ``hsm.deactivate`` (the end of a session, with the
operations done) and ``hsm.rekey``. :meth:`ActivationEvent.payload` is the JSON object
stored in the custody ledger, field for field the format ledgers have always held (see
docs/guide-activation-scripts.md, "Audit events"); :meth:`ActivationEvent.from_payload`
reads one back. No event ever holds a secret or a PIN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tcr_kit.hsm.token import EpochRef, SignRecord

ACTIVATE = "hsm.activate"
DEACTIVATE = "hsm.deactivate"
REKEY = "hsm.rekey"


@dataclass(frozen=True)
class Presented:
    """One credential that was presented, described without its secret."""

    kind: str
    """``card`` or ``file`` or ``inline``."""
    source: str
    set_id: str
    index: int
    share_digest: str
    card_serial: str | None = None
    card_label: str | None = None
    tcr_id: str | None = None
    tcr_name: str | None = None
    credential: str | None = None
    holder: str | None = None
    custody_basis: str | None = None
    """With a ledger: ``bag``, ``in-person`` or ``override`` (:mod:`tcr_kit.hsm.clearance`)."""
    custody: str | None = None
    """With a ledger: why custody let it activate (the bag and its events, the holder
    present, or the override's signers and reason)."""

    def describe(self) -> str:
        who = f" (TCR {self.tcr_id})" if self.tcr_id else ""
        return f"{self.source}{who}, share {self.index}"

    def facts(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class HsmRef:
    """The HSM an event is about; the token's label and serial once it was opened."""

    name: str
    module: str
    token_label: str | None = None
    token_serial: str | None = None

    def facts(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class ShareSetRef:
    """The share set of the configuration: ledger id, epoch, threshold and count."""

    id: str
    epoch: int
    threshold: int
    count: int

    def facts(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ActivationEvent:
    """One audit event about an HSM (see the module docstring)."""

    kind: str
    """``hsm.activate``, ``hsm.deactivate`` or ``hsm.rekey``."""
    hsm: HsmRef
    config_sha256: str
    share_set: ShareSetRef
    presented: tuple[Presented, ...]
    outcome: str
    at: str
    """UTC time, ISO 8601."""
    purpose: str | None = None
    """``hsm.activate``: ``session``, ``sign``, ``pin-handoff``, ``collect`` ..."""
    operations: tuple[SignRecord, ...] | None = None
    """``hsm.deactivate``: what the session did (key label, input and signature SHA-256)."""
    old: EpochRef | None = None
    """``hsm.rekey``: the retired epoch."""
    new: EpochRef | None = None
    """``hsm.rekey``: the new epoch."""
    new_share_set: str | None = None
    """``hsm.rekey``: the ledger id of the new share set."""
    new_share_digests: tuple[str, ...] | None = None
    """``hsm.rekey``: SHA-256 of each new share."""
    new_threshold: int | None = None
    new_count: int | None = None
    """``hsm.rekey``: the new set's m and n, which ``tcr hsm config-rekey`` checks against
    the ledger's set; ``None`` in rekeys recorded before they were kept (their n is the
    number of ``new_share_digests``, their m is not in the event)."""
    override: dict[str, Any] | None = None
    """``hsm.activate``: the emergency override (statement and staff signatures)."""
    approvals: dict[str, Any] | None = None
    """``hsm.activate``: the remote approvals checked (request and signed approvals)."""
    site_sha256: str | None = None
    """SHA-256 of the site file the configuration names (module path, ``[hsm.env]``,
    token): which code the PIN was given to. ``None`` for a configuration without one (and
    in events recorded before it was kept)."""
    marker_count: dict[str, int] | None = None
    """``hsm.activate``: ``{"old": N, "new": M}`` when this activation raised the HSM
    marker's count to the configuration's (after the set was extended); ``None`` otherwise
    (and in events recorded before the marker followed an extension)."""
    verdict_form: int | None = None
    """``hsm.activate`` recording an override or approvals: the form of the verdicts it
    records on them (:data:`tcr_kit.audit.statements.VERDICT_FORM`); ``None`` in events
    recorded before it was kept (docs/audit-format.md)."""

    @property
    def refused(self) -> bool:
        return self.outcome.startswith("refused: ")

    @property
    def subjects(self) -> list[str]:
        """The ledger subjects: the HSM, the share set and each known credential."""
        out = [f"hsm:{self.hsm.name}", f"share-set:{self.share_set.id}"]
        return out + [f"credential:{p.credential}" for p in self.presented if p.credential]

    def describe(self) -> list[str]:
        """The HSM and each presented share, line by line (as ``tcr hsm activate`` shows),
        then the configuration's and site file's hashes, hex and PGP words."""
        lines = [
            f"activated HSM {self.hsm.name} (token '{self.hsm.token_label}'"
            f" serial {self.hsm.token_serial}) with {len(self.presented)} shares:"
        ]
        for p in self.presented:
            who = f"TCR {p.tcr_id}" if p.tcr_id is not None else p.holder
            lines.append(f"  share {p.index}  {p.source}  ({who or '-'})  sha256 {p.share_digest}")
        return lines + self.describe_hashes()

    def hashes(self) -> dict[str, str]:
        """``{"config": HEX, "site file": HEX}``: what the event commits the HSM's set-up to."""
        out = {"config": self.config_sha256}
        if self.site_sha256 is not None:
            out["site file"] = self.site_sha256
        return out

    def describe_hashes(self) -> list[str]:
        """Each hash of :meth:`hashes` as hex and as PGP words, to compare aloud."""
        from tcr_kit.audit.pgpwords import digest_words

        lines = []
        for what, value in self.hashes().items():
            hex_, words = digest_words(bytes.fromhex(value))
            lines += [f"  {what} SHA-256: {hex_}", f"    PGP words: {words}"]
        return lines

    def payload(self) -> dict[str, Any]:
        """The JSON object stored in the ledger (the unchanged audit format)."""
        out: dict[str, Any] = {
            "hsm": self.hsm.facts(),
            "config_sha256": self.config_sha256,
            "share_set": self.share_set.facts(),
            "presented": [p.facts() for p in self.presented],
            "outcome": self.outcome,
            "at": self.at,
        }
        if self.purpose is not None:
            out["purpose"] = self.purpose
        if self.operations is not None:
            out["operations"] = [dict(op.__dict__) for op in self.operations]
        if self.old is not None:
            out["old"] = dict(self.old.__dict__)
        if self.new is not None:
            out["new"] = dict(self.new.__dict__)
        if self.new_share_set is not None:
            out["new_share_set"] = self.new_share_set
        if self.new_share_digests is not None:
            out["new_share_digests"] = list(self.new_share_digests)
        if self.new_threshold is not None:
            out["new_threshold"] = self.new_threshold
        if self.new_count is not None:
            out["new_count"] = self.new_count
        if self.override is not None:
            out["override"] = self.override
        if self.approvals is not None:
            out["approvals"] = self.approvals
        if self.site_sha256 is not None:
            out["site_sha256"] = self.site_sha256
        if self.marker_count is not None:
            out["marker_count"] = dict(self.marker_count)
        if self.verdict_form is not None:
            out["verdict_form"] = self.verdict_form
        return out

    @classmethod
    def from_payload(cls, kind: str, payload: dict[str, Any]) -> ActivationEvent:
        """An event read back from a ledger payload (``payload()`` gives it again)."""

        def epoch(key: str) -> EpochRef | None:
            ref = payload.get(key)
            return EpochRef(str(ref["set_id"]), int(ref["epoch"])) if ref is not None else None

        ops = payload.get("operations")
        digests = payload.get("new_share_digests")
        return cls(
            kind=kind,
            hsm=HsmRef(**payload["hsm"]),
            config_sha256=payload["config_sha256"],
            share_set=ShareSetRef(**payload["share_set"]),
            presented=tuple(Presented(**p) for p in payload["presented"]),
            outcome=payload["outcome"],
            at=payload["at"],
            purpose=payload.get("purpose"),
            operations=tuple(SignRecord(**op) for op in ops) if ops is not None else None,
            old=epoch("old"),
            new=epoch("new"),
            new_share_set=payload.get("new_share_set"),
            new_share_digests=tuple(digests) if digests is not None else None,
            new_threshold=_count(payload, "new_threshold"),
            new_count=_count(payload, "new_count"),
            override=payload.get("override"),
            approvals=payload.get("approvals"),
            site_sha256=payload.get("site_sha256"),
            marker_count=payload.get("marker_count"),
            verdict_form=payload.get("verdict_form"),
        )


def _count(payload: dict[str, Any], key: str) -> int | None:
    """``payload[key]``, a positive int, or ``None`` when absent; anything else is not a
    payload this module wrote (``ValueError``)."""
    value = payload.get(key)
    if value is None:
        return None
    if type(value) is not int or value < 1:
        raise ValueError(f"{key}: not a positive integer")
    return value
