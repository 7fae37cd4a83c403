"""Quorum readiness: could the HSM be activated today, and what would restore it if not?

For the share set named by the HSM configuration, every credential the custody ledger
records for it is classed as

* **available**: issued, or sealed in a bag that is sealed, stored, received or inspected
  and has no open discrepancy;
* **in transit**: its bag is shipped and not yet received;
* **blocked**: its bag has an open discrepancy (it cannot be opened until resolved or
  overridden);
* **lost**: the credential or its bag is recorded lost, or the credential is retired or
  destroyed.

Verdict: **ready** when available >= m + margin; **at risk** when m <= available < m +
margin; **not ready** when available < m. Each credential that is not available comes with
the action that would bring it back, and the verdict says how many are needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tcr_kit.hsm.config import LoadedConfig

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Ledger

Availability = Literal["available", "in-transit", "blocked", "lost"]
Verdict = Literal["ready", "at-risk", "not-ready"]

_VERIFYING_EVENTS = (
    "bag.inspect",
    "bag.receive",
    "credential.add",
    "credential.enrolment",
    "hsm.activate",
)
_OK_BAG_STATES = {"sealed", "stored", "received", "inspected", "opened"}


@dataclass
class CredentialView:
    credential: str
    holder: str | None
    share_index: int | None
    kind: str
    serial: str
    state: str
    bag: str | None
    bag_state: str | None
    location: str
    last_verified: str | None
    """UTC time of the last inspection, receipt, enrolment or activation naming it."""
    last_verified_by: str | None
    availability: Availability
    restore: str | None = None
    open_discrepancies: list[str] = field(default_factory=list)


@dataclass
class Readiness:
    hsm: str
    share_set: str
    epoch: int
    threshold: int
    count: int
    margin: int
    registered: int
    available: int
    verdict: Verdict
    summary: str
    credentials: list[CredentialView]
    restore: list[str]

    def facts(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["credentials"] = [c.__dict__ for c in self.credentials]
        return out

    def headline(self) -> str:
        return (
            f"{self.hsm}: share set {self.share_set} epoch {self.epoch},"
            f" {self.threshold}-of-{self.count}, margin {self.margin}"
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per credential, for a table with the columns :data:`ROW_COLUMNS`."""
        return [
            {
                "credential": c.credential,
                "share": c.share_index or "-",
                "holder": c.holder or "-",
                "status": c.availability,
                "where": c.location,
                "last verified": (c.last_verified or "never")[:19].replace("T", " ")
                + (" UTC" if c.last_verified else ""),
            }
            for c in self.credentials
        ]


ROW_COLUMNS = ["credential", "share", "holder", "status", "where", "last verified"]
"""The columns of :meth:`Readiness.rows`."""


def _last_verified(ledger: Ledger, cid: str, bag: str | None) -> tuple[str | None, str | None]:
    best: tuple[str, str] | None = None
    subjects = [f"credential:{cid}"] + ([f"bag:{bag}"] if bag else [])
    for subject in subjects:
        for event in ledger.history(subject):
            kind = str(event.get("kind", ""))
            if kind not in _VERIFYING_EVENTS:
                continue
            payload = event.get("payload") or {}
            if kind == "hsm.activate" and payload.get("outcome") != "activated":
                continue
            at = str(event.get("time", ""))
            if best is None or at > best[0]:
                best = (at, kind)
    return (best[0], best[1]) if best else (None, None)


def readiness(loaded: LoadedConfig, ledger: Ledger) -> Readiness:
    """The readiness view for ``loaded``'s share set from ``ledger``."""
    from tcr_kit.custody.ledger import NotFound

    cfg = loaded.share_set
    m, n, margin = cfg.threshold, cfg.count, cfg.margin
    notes: list[str] = []
    try:
        share_set = ledger.share_set(cfg.id)
        if share_set.status != "active":
            notes.append(f"share set {cfg.id} is {share_set.status} in the ledger")
        if share_set.epoch != cfg.epoch:
            notes.append(f"the ledger records epoch {share_set.epoch}, the config says {cfg.epoch}")
    except NotFound:
        notes.append(f"share set {cfg.id} is not in the ledger (register it and its credentials)")
    open_d = ledger.discrepancies(open_only=True)
    views: list[CredentialView] = []
    for cred in sorted(
        (c for c in ledger.credentials() if c.share_set == cfg.id),
        key=lambda c: (c.share_index or 0, c.id),
    ):
        bag = ledger.bag(cred.bag) if cred.bag else None
        about = {f"credential:{cred.id}"} | ({f"bag:{bag.serial}"} if bag else set())
        about |= {f"bag:{b.serial}" for b in ledger.bags() if cred.id in b.contents}
        about |= {f"person:{cred.holder}"} if cred.holder else set()
        d_ids = [d.id for d in open_d if about & set(d.objects)]
        state = cred.state.value
        availability: Availability
        restore: str | None = None
        if state in ("lost", "destroyed", "retired") or (bag and bag.state.value == "lost"):
            availability = "lost"
            restore = (
                f"replace it: re-split the share set (rekey) or re-issue share"
                f" {cred.share_index or '?'} from a quorum"
            )
        elif bag is not None and bag.state.value == "in-transit":
            availability = "in-transit"
            restore = f"receive bag {bag.serial} ('tcr bag receive')"
        elif d_ids:
            availability = "blocked"
            restore = f"resolve {', '.join(d_ids)} on bag {bag.serial if bag else '-'}"
        elif bag is not None and bag.state.value not in _OK_BAG_STATES:
            availability = "lost"
            restore = f"bag {bag.serial} is {bag.state.value}; reseal the credential"
        else:
            availability = "available"
        at, by = _last_verified(ledger, cred.id, bag.serial if bag else None)
        views.append(
            CredentialView(
                credential=cred.id,
                holder=cred.holder,
                share_index=cred.share_index,
                kind=cred.kind.value,
                serial=cred.serial,
                state=state,
                bag=bag.serial if bag else None,
                bag_state=bag.state.value if bag else None,
                location=bag.location.describe() if bag else f"with {cred.holder or 'nobody'}",
                last_verified=at,
                last_verified_by=by,
                availability=availability,
                restore=restore,
                open_discrepancies=d_ids,
            )
        )
    # A retired credential whose share index a live credential now carries (a rotated card)
    # needs no restoring.
    live = {v.share_index for v in views if v.state in ("issued", "sealed")}
    for v in views:
        if v.state == "retired" and v.share_index in live:
            v.restore = None
    # One share index counts once (a rotated card and its retired predecessor share it).
    available = len({v.share_index or v.credential for v in views if v.availability == "available"})
    registered = len({v.share_index or v.credential for v in views if v.state != "retired"})
    if notes and any("not in the ledger" in x or "retired" in x for x in notes):
        verdict: Verdict = "not-ready"
    elif available >= m + margin:
        verdict = "ready"
    elif available >= m:
        verdict = "at-risk"
    else:
        verdict = "not-ready"
    if notes and verdict == "ready":
        verdict = "at-risk"
    actions = [f"{v.credential} ({v.holder or '-'}): {v.restore}" for v in views if v.restore]
    if registered < n:
        actions.append(f"{n - registered} of {n} credentials are not registered in the ledger")
    actions = notes + actions
    if verdict == "ready":
        summary = f"ready: {available} of {n} available, {m} needed (margin {margin})"
    elif verdict == "at-risk":
        summary = (
            f"at risk: {available} of {n} available, {m} needed;"
            f" {m + margin - available} more would restore the margin of {margin}"
        )
    else:
        summary = f"not ready: {available} of {n} available, {m} needed; {m - available} more"
        if available >= m:
            summary = f"not ready: {'; '.join(notes)}"
    return Readiness(
        hsm=loaded.hsm.name,
        share_set=cfg.id,
        epoch=cfg.epoch,
        threshold=m,
        count=n,
        margin=margin,
        registered=registered,
        available=available,
        verdict=verdict,
        summary=summary,
        credentials=views,
        restore=actions,
    )
