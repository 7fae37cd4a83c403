"""Record the share set of an HSM configuration in the custody ledger, with (preferably)
the signed manifest of its shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcr_kit.hsm.config import LoadedConfig

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.custody.models import ShareSet
    from tcr_kit.sharing.manifest import ShareManifest


def register_share_set(
    loaded: LoadedConfig,
    ledger: Ledger,
    actor: Actor,
    *,
    purpose: str | None = None,
    manifest: ShareManifest | None = None,
    dry_run: bool = False,
) -> ShareSet:
    """Add the configuration's share set (id, m, n, epoch) to ``ledger``, signed by
    ``actor``; ``purpose`` defaults to "activation of HSM <name>". ``dry_run`` checks and
    records nothing (``ledger.last_events`` shows what would be recorded).

    With ``manifest`` (the split's manifest, signed: ``tcr hsm init`` writes it unsigned
    beside the shares) the set and the manifest are recorded in one transaction and one
    ``share-set.manifest`` event, with the checks of ``tcr shares register``: the signature,
    the signer on the roster with that key and not retired, the native set not registered
    for another share set; and the manifest must be the configuration's m of n (exit 3).
    Each TCR can then check their share alone, and ``tcr shares extend`` can extend the set.
    """
    from tcr_kit.custody.models import ShareSet, build
    from tcr_kit.errors import IntegrityError

    cfg = loaded.share_set
    share_set = build(
        ShareSet,
        id=cfg.id,
        m=cfg.threshold,
        n=cfg.count,
        purpose=purpose or f"activation of HSM {loaded.hsm.name}",
        epoch=cfg.epoch,
    )
    if manifest is None:
        ledger.add_share_set(actor, share_set, dry_run=dry_run)
        return share_set
    if (manifest.threshold, manifest.count) != (cfg.threshold, cfg.count):
        raise IntegrityError(
            f"the manifest is {manifest.threshold}-of-{manifest.count} (set {manifest.set_id});"
            f" {loaded.path} says share set {cfg.id} is {cfg.threshold}-of-{cfg.count}"
        )
    ledger.register_manifest(actor, cfg.id, manifest, share_set=share_set, dry_run=dry_run)
    return share_set
