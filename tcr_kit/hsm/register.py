"""Record the share set of an HSM configuration in the custody ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcr_kit.hsm.config import LoadedConfig

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.custody.models import ShareSet


def register_share_set(
    loaded: LoadedConfig,
    ledger: Ledger,
    actor: Actor,
    *,
    purpose: str | None = None,
    dry_run: bool = False,
) -> ShareSet:
    """Add the configuration's share set (id, m, n, epoch) to ``ledger``, signed by
    ``actor``; ``purpose`` defaults to "activation of HSM <name>". ``dry_run`` checks and
    records nothing (``ledger.last_events`` shows what would be recorded)."""
    from tcr_kit.custody.models import ShareSet, build

    cfg = loaded.share_set
    share_set = build(
        ShareSet,
        id=cfg.id,
        m=cfg.threshold,
        n=cfg.count,
        purpose=purpose or f"activation of HSM {loaded.hsm.name}",
        epoch=cfg.epoch,
    )
    ledger.add_share_set(actor, share_set, dry_run=dry_run)
    return share_set
