"""A new version of an HSM configuration after a rekey moved the HSM to a new share set.

``tcr hsm rekey`` gives the HSM a new activation secret (epoch e+1, a new share set in the
ledger, the old one retired) and records ``hsm.rekey`` once the marker names the new set.
The configuration still names the old set and epoch, and an activation under it is refused
(the marker says e+1). This module writes its next version, as
:mod:`tcr_kit.hsm.config_extend` does for an extension:

* the new values come from the ledger, never typed by hand: the signed ``hsm.rekey`` event
  that moved this HSM away from the configuration's set and epoch, recorded **with this
  configuration's exact SHA-256** (the version reviewed and used for the rekey is the one
  the new version is made from), and the new share set the rekey added (id, epoch, m, n;
  active, its epoch, threshold and share count those of the event); where the ledger holds
  the new set's registered signed manifest, the set is also checked against it (the rekey's
  native set and share digests, the ledger's m, the latest revision's count the ledger's
  n), which is what checks the threshold of a rekey recorded before the event kept it; with
  neither, the threshold is not cross-checked, and the new version says so;
* a count above the rekey's is taken only when recorded extensions of the new set
  (``share-set.extend``, e.g. ``tcr shares extend`` run before this command) account for
  every share above it; the new version then counts them and its event names them;
* only the ``id``, ``epoch`` (and, if they changed, ``threshold`` and ``count``) lines of
  ``[share_set]`` change, comments and layout kept; the new file is parsed again and must
  equal the old configuration with those fields changed;
* it is written through :mod:`tcr_kit.fileio` inside the ledger transaction of its signed
  ``hsm.config-rekey`` event (old and new SHA-256, the site file's, the rekey event it
  follows), re-checked just before writing, and read back.

Why a command of its own and not a step of the rekey: the rekey is a resumable HSM
operation whose typed ``yes`` is about the PIN change; the configuration is a reviewed file
whose new version gets its own dry run, typed ``yes`` and event, and an interrupted rekey
never leaves a half-updated configuration behind (see docs/guide-activation-scripts.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcr_kit.errors import InputError, IntegrityError
from tcr_kit.hsm.config import LoadedConfig
from tcr_kit.hsm.config_extend import (
    check_new_version,
    publish_new_version,
    read_for_new_version,
    set_share_set_lines,
    version_facts,
    version_lines,
)
from tcr_kit.hsm.errors import WrongShareSet
from tcr_kit.hsm.events import REKEY, ActivationEvent
from tcr_kit.hsm.manifest_ties import ManifestRevision, checked_manifest_chain

if TYPE_CHECKING:
    from tcr_kit.audit.chain import StoredEvent
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.custody.models import ShareSet

__all__ = ["CONFIG_REKEY", "ConfigRekey", "plan_config_rekey", "rekey_config"]

CONFIG_REKEY = "hsm.config-rekey"
"""The audit event kind that records a configuration's new version after a rekey."""

_FIELDS = ("id", "epoch", "threshold", "count")


@dataclass(frozen=True)
class ConfigRekey:
    """The next version of a configuration after a rekey: what it changes, the bytes."""

    loaded: LoadedConfig
    """The current version (the one the rekey was made with)."""
    output: Path
    new: dict[str, Any]
    """``id``, ``epoch``, ``threshold``, ``count`` of the new share set."""
    data: bytes
    """The new version's exact bytes."""
    rekey_seq: int
    rekey_hash: str
    """The ``hsm.rekey`` audit event the new version follows (number and hash)."""
    old_set: str
    new_set: str
    """Native set ids (hex) of the retired and the new shares, from the rekey event."""
    replaces: bool
    extensions: tuple[dict[str, Any], ...] = ()
    """The ``share-set.extend`` events that raised the new set's count after the rekey
    (``seq``, ``hash``, ``old_count``, ``new_count``): the new version counts them."""
    threshold_checked: bool = True
    """``False`` when neither the ``hsm.rekey`` event (one recorded before rekeys kept the
    new set's threshold) nor a registered signed manifest of the new set says its
    threshold: the ledger's m is then written without a cross-check."""
    manifest_event: dict[str, Any] | None = None
    """The new set's registered signed manifest (the split's revision) the threshold, the
    count and the share digests were cross-checked against: ``seq`` and ``hash`` of its
    ``share-set.manifest`` event and its ``manifest_sha256``; ``None`` when the ledger holds
    none."""
    event_threshold: bool = True
    """The ``hsm.rekey`` event records the new set's threshold (``new_threshold``)."""

    @property
    def old(self) -> dict[str, Any]:
        cfg = self.loaded.share_set
        return {"id": cfg.id, "epoch": cfg.epoch, "threshold": cfg.threshold, "count": cfg.count}

    @property
    def new_sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def changed(self) -> list[str]:
        """The ``[share_set]`` keys whose value changes."""
        return [k for k in _FIELDS if self.old[k] != self.new[k]]

    def payload(self) -> dict[str, Any]:
        """The ``hsm.config-rekey`` event's payload."""
        return {
            "hsm": self.loaded.hsm.name,
            "old_share_set": dict(self.old),
            "new_share_set": dict(self.new),
            "old_set_id": self.old_set,
            "new_set_id": self.new_set,
            "old_config_sha256": self.loaded.sha256,
            "new_config_sha256": self.new_sha256,
            "site_sha256": self.loaded.site_sha256,
            "config": str(self.output),
            "rekey_event": {"seq": self.rekey_seq, "hash": self.rekey_hash},
            "extensions": [dict(e) for e in self.extensions],
            "threshold_checked": self.threshold_checked,
            "manifest_event": dict(self.manifest_event) if self.manifest_event else None,
        }

    def notes(self) -> list[str]:
        """One line per thing the reader must know besides the changed lines: where a count
        above the rekey's comes from, and what the threshold was cross-checked against when
        the rekey event does not record it (the new set's signed manifest, or nothing)."""
        lines = [
            f"  count {e['old_count']} -> {e['new_count']}: the extension of audit event"
            f" {e['seq']} (share-set.extend) after the rekey"
            for e in self.extensions
        ]
        if not self.event_threshold and self.manifest_event is not None:
            lines.append(
                f"  threshold {self.new['threshold']} cross-checked against the new set's signed"
                f" manifest (audit event {self.manifest_event['seq']}): the hsm.rekey event"
                f" {self.rekey_seq} was recorded before rekeys kept it"
            )
        if not self.threshold_checked:
            lines.append(
                f"  threshold not cross-checked: the hsm.rekey event {self.rekey_seq} was"
                f" recorded before rekeys kept it; {self.new['threshold']} is the ledger's m"
            )
        return lines

    def facts(self) -> dict[str, Any]:
        """JSON-ready: the payload and both hashes' PGP words."""
        return version_facts(self.payload(), self.loaded, self.new_sha256)

    def describe(self) -> list[str]:
        """What changes, with both hashes as hex and PGP words (read aloud before yes)."""
        old, new = self.old, self.new
        return [
            f"HSM {self.loaded.hsm.name}: share set {old['id']} (epoch {old['epoch']},"
            f" {old['threshold']}-of-{old['count']}) -> {new['id']} (epoch {new['epoch']},"
            f" {new['threshold']}-of-{new['count']}), after the rekey of audit event"
            f" {self.rekey_seq}",
            *(
                f"  [share_set] {k} = {_toml(k, old[k])}  becomes  {k} = {_toml(k, new[k])}"
                for k in self.changed()
            ),
            *self.notes(),
            "  nothing else changes",
            *version_lines(self.loaded, self.new_sha256, self.output, self.replaces),
        ]


def _toml(key: str, value: Any) -> str:
    return f'"{value}"' if key == "id" else str(value)


def _rekeys(ledger: Ledger, name: str) -> list[tuple[int, ActivationEvent]]:
    """Every recorded ``hsm.rekey`` of the HSM ``name``: (event number, event), oldest first."""
    out = []
    for body in ledger.audit.events_about(f"hsm:{name}"):
        if body.get("kind") != REKEY:
            continue
        try:
            event = ActivationEvent.from_payload(REKEY, body["payload"])
        except (KeyError, TypeError, ValueError):
            seq = body.get("seq")
            raise IntegrityError(f"audit event {seq}: not an hsm.rekey payload") from None
        if event.hsm.name == name and event.new is not None and event.new_share_set is not None:
            out.append((int(body["seq"]), event))
    return out


def plan_config_rekey(
    loaded: LoadedConfig, ledger: Ledger, output: Path, *, force: bool = False
) -> ConfigRekey:
    """The next version of ``loaded`` naming the share set a recorded rekey moved its HSM
    to. Refusals: no rekey of this HSM from the configuration's set and epoch in the ledger,
    or the configuration already names the rekey's new set (exit 2: nothing to change); the
    rekey recorded with another configuration version (exit 3); the new set not in the
    ledger, not active, not the rekey's epoch, threshold (when the event records it) and
    share count, or with more shares than the rekey made and its recorded extensions
    account for, or holding a signed manifest that is not of the rekey's shares, m and n
    (exit 3); ``output`` existing without ``force`` (exit 1); an ``output`` in
    another folder than a relative site file allows (exit 2); a configuration changed
    since it was read (exit 3)."""
    from tcr_kit.custody.errors import NotFound

    cfg, name = loaded.share_set, loaded.hsm.name
    rekeys = _rekeys(ledger, name)
    mine = [
        (seq, e) for seq, e in rekeys if (e.share_set.id, e.share_set.epoch) == (cfg.id, cfg.epoch)
    ]
    if not mine:
        done = [
            seq for seq, e in rekeys
            if e.new_share_set == cfg.id and e.new is not None and e.new.epoch == cfg.epoch
        ]  # fmt: skip
        if done:
            raise InputError(
                f"{loaded.path} already names share set {cfg.id} (epoch {cfg.epoch}), the one"
                f" the rekey of audit event {done[-1]} moved HSM {name} to: nothing to change"
            )
        raise InputError(
            f"the ledger records no rekey of HSM {name} from share set {cfg.id} (epoch"
            f" {cfg.epoch}): nothing to change (rekey first: 'tcr hsm rekey ... --as ID --key"
            " FILE')"
        )
    seq, rekey = mine[-1]
    assert rekey.new is not None and rekey.new_share_set is not None  # noqa: S101 - _rekeys
    if rekey.config_sha256 != loaded.sha256:
        raise IntegrityError(
            f"the rekey of audit event {seq} was made with configuration SHA-256"
            f" {rekey.config_sha256}; {loaded.path} is {loaded.sha256}: the new version is made"
            " only from the version the rekey used"
        )
    try:
        share_set = ledger.share_set(rekey.new_share_set)
    except NotFound:
        raise WrongShareSet(
            f"share set {rekey.new_share_set} of the rekey of audit event {seq} is not in the"
            " ledger"
        ) from None
    if share_set.status != "active":
        raise WrongShareSet(f"share set {share_set.id} is {share_set.status} in the ledger")
    count = _check_rekey_shape(seq, rekey, share_set)
    chain, manifest = _check_manifests(ledger, seq, rekey, share_set, count)
    extensions = _extensions_since(ledger, seq, rekey, share_set, count, chain)
    output, replaces, data = read_for_new_version(loaded, output, force=force)
    new = {"id": share_set.id, "epoch": share_set.epoch, "threshold": share_set.m,
           "count": share_set.n}  # fmt: skip
    changes = {k: _toml(k, new[k]) for k in _FIELDS if getattr(cfg, k) != new[k]}
    what = "change them by hand and have the new version reviewed"
    text = set_share_set_lines(data, changes, str(loaded.path), what=what)
    expected = loaded.config.model_copy(update={"share_set": cfg.model_copy(update=new)})
    check_new_version(loaded, text, output, expected, what="the share set's id, epoch, m and n")
    (stored,) = ledger.audit.events(seq, seq)
    return ConfigRekey(
        loaded, output, new, text, seq, stored.hash, rekey.old.set_id if rekey.old else "",
        rekey.new.set_id, replaces, tuple(extensions),
        rekey.new_threshold is not None or manifest is not None, manifest,
        rekey.new_threshold is not None,
    )  # fmt: skip


def _check_rekey_shape(seq: int, rekey: ActivationEvent, share_set: ShareSet) -> int:
    """The share count the rekey of audit event ``seq`` made, after checking the ledger's
    set against the event: its epoch, its m (when the event records it: for rekeys recorded
    before they kept ``new_threshold`` the set's manifest, :func:`_check_manifests`, is
    what checks it) and an n not below the
    rekey's (above it only by recorded extensions, :func:`_extensions_since`). A mismatch
    is :class:`WrongShareSet` (exit 3): the new version would name a set the HSM's shares
    are not."""
    assert rekey.new is not None  # noqa: S101 - _rekeys
    count = len(rekey.new_share_digests or ())
    if rekey.new_count is not None and rekey.new_count != count:
        raise WrongShareSet(
            f"the rekey of audit event {seq} records {rekey.new_count} shares but"
            f" {count} share digests: not an hsm.rekey event tcr-kit wrote"
        )
    made = f", {rekey.new_threshold}-of-{count}" if rekey.new_threshold else f" with {count} shares"
    if (
        share_set.epoch != rekey.new.epoch
        or share_set.n < count
        or (rekey.new_threshold is not None and share_set.m != rekey.new_threshold)
    ):
        raise WrongShareSet(
            f"share set {share_set.id} is epoch {share_set.epoch}, {share_set.m}-of-"
            f"{share_set.n} in the ledger; the rekey of audit event {seq} made epoch"
            f" {rekey.new.epoch}{made}"
        )
    return count


def _check_manifests(
    ledger: Ledger, seq: int, rekey: ActivationEvent, share_set: ShareSet, count: int
) -> tuple[list[ManifestRevision], dict[str, Any] | None]:
    """Cross-check the new set's registered signed manifests, when the ledger holds any,
    against the rekey of audit event ``seq`` and the ledger's set: one chain of the rekey's
    native set with the ledger's m, its latest revision of the ledger's n
    (:func:`~tcr_kit.hsm.manifest_ties.checked_manifest_chain`, which reads the signed text,
    not only what the ledger records beside it), and the split's revision of the ``count``
    shares the rekey made, with the share digests the event records. This is what checks
    the threshold of a rekey recorded before ``hsm.rekey`` kept it. Returns the checked
    chain (read once: :func:`_extensions_since` walks it too) and the split revision's
    event (``seq``, ``hash``, ``manifest_sha256``), ``None`` when there is no manifest; a
    mismatch is :class:`WrongShareSet` (exit 3)."""
    assert rekey.new is not None  # noqa: S101 - _rekeys
    made = f"the rekey of audit event {seq} made"
    chain = checked_manifest_chain(
        ledger, share_set, ledger.manifest_history(share_set.id), rekey.new.set_id, made
    )
    if not chain:
        return chain, None
    first = chain[0]
    digests = [e.sha256 for e in first.manifest.shares]
    if first.manifest.count != count or digests != list(rekey.new_share_digests or ()):
        raise WrongShareSet(
            f"share set {share_set.id}'s signed manifest of audit event {first.seq}"
            f" lists shares other than the {count} {made} (their SHA-256 differ)"
        )
    (stored,) = ledger.audit.events(first.seq, first.seq)
    digest = first.payload.get("manifest_sha256")
    return chain, {"seq": stored.seq, "hash": stored.hash, "manifest_sha256": digest}


def _extensions_since(
    ledger: Ledger,
    seq: int,
    rekey: ActivationEvent,
    share_set: ShareSet,
    count: int,
    chain: list[ManifestRevision],
) -> list[dict[str, Any]]:
    """The recorded extensions (``share-set.extend``) that took the rekey's new set from
    the ``count`` shares the rekey made to the ledger's ``n`` now, oldest first, each as
    ``{"seq", "hash", "old_count", "new_count"}``: none when ``n`` is the rekey's count.
    ``chain`` is the set's checked manifest chain (:func:`_check_manifests`: one chain of
    the rekey's native set); it must start at the rekey's count and end at ``n``;
    otherwise :class:`WrongShareSet` (exit 3), since nothing recorded would then justify
    the count."""
    if share_set.n == count:
        return []
    assert rekey.new is not None  # noqa: S101 - _rekeys
    out: list[dict[str, Any]] = []
    previous = count
    for revision in chain:
        if revision.kind != "share-set.extend":
            previous = revision.manifest.count
            continue
        if revision.manifest.count == previous:
            continue  # a revision replacing lost shares at indices already counted
        (stored,) = ledger.audit.events(revision.seq, revision.seq)
        out.append({"seq": stored.seq, "hash": stored.hash, "old_count": previous,
                    "new_count": revision.manifest.count})  # fmt: skip
        previous = revision.manifest.count
    if not out or out[0]["old_count"] != count or previous != share_set.n:
        raise WrongShareSet(
            f"share set {share_set.id} has {share_set.n} shares in the ledger; the rekey of"
            f" audit event {seq} made {count} and no recorded extension of its set"
            f" {rekey.new.set_id} accounts for the other {share_set.n - count}"
        )
    return out


def rekey_config(
    plan: ConfigRekey,
    ledger: Ledger,
    actor: Actor,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> tuple[StoredEvent, LoadedConfig | None]:
    """Write ``plan``'s new version and record its signed ``hsm.config-rekey`` event in one
    step: the file is published only if the event was recorded, then read back (exit 3 if
    it is not the version recorded). Returns the event and the new version loaded (``None``
    in a dry run, which writes and records nothing). The actor needs the policy's
    ``share-set.change`` (exit 5)."""
    ledger.permit("share-set.change", actor)
    name = plan.loaded.hsm.name
    subjects = [f"hsm:{name}", f"share-set:{plan.old['id']}", f"share-set:{plan.new['id']}"]
    if plan.old["id"] == plan.new["id"]:
        subjects = subjects[:2]
    return publish_new_version(
        plan.loaded, plan.output, plan.data, ledger, actor, CONFIG_REKEY, subjects,
        plan.payload(), force=force, dry_run=dry_run,
    )  # fmt: skip
