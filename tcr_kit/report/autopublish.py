"""Auto-publish: a ledger setting that makes every committed change publish itself to the
public report (:func:`tcr_kit.report.feed.publish`, incremental), so the community's feed
follows the ledger without anyone remembering to run ``tcr report publish``.

The setting is itself a signed audit event (``report.auto-publish``, subject
``report:auto-publish``; the newest one is in force), made by a person the policy lets set
the policy (rule ``policy.set``, an SA by default). It names the site's folder, the publisher
(a roster id) and the publisher's key file, which must be an unencrypted Ed25519 key (0600):
heads are signed unattended, after each change, by whoever's command made it.

A publication runs *after* the change is committed, as a separate step: a publication that
fails (the site's folder unwritable, the key file gone, a feed that no longer matches the
ledger) never undoes, blocks or fails the change already recorded. :func:`auto_publish`
returns what happened, and the caller tells the user (``tcr`` prints one warning line and
keeps the command's exit code); ``tcr report publish`` catches the site up later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tcr_kit.errors import InputError, TcrError

if TYPE_CHECKING:
    from tcr_kit.audit.signing import SoftwareEd25519Signer
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.report.feed import PublishResult

__all__ = [
    "AUTO_PUBLISH_EVENT",
    "AUTO_PUBLISH_SUBJECT",
    "AutoPublish",
    "AutoPublished",
    "auto_publish",
    "auto_publish_setting",
    "set_auto_publish",
]

AUTO_PUBLISH_EVENT = "report.auto-publish"
AUTO_PUBLISH_SUBJECT = "report:auto-publish"


@dataclass(frozen=True)
class AutoPublish:
    """The auto-publish setting in force (the newest ``report.auto-publish`` event)."""

    enabled: bool
    output_dir: str | None
    publisher: str | None
    key_file: str | None
    origin: str | None
    site_name: str | None
    seq: int
    """The audit event that made this setting."""


@dataclass(frozen=True)
class AutoPublished:
    """What one auto-publication did: ``result`` when it ran, ``error`` (one line) when it
    failed; both ``None`` when auto-publish is off."""

    setting: AutoPublish | None
    result: PublishResult | None = None
    error: str | None = None


def auto_publish_setting(ledger: Ledger) -> AutoPublish | None:
    """The setting in force, or ``None`` if auto-publish was never set."""
    last = None
    for body in ledger.audit.events_about(AUTO_PUBLISH_SUBJECT):
        if body.get("kind") == AUTO_PUBLISH_EVENT and isinstance(body.get("payload"), dict):
            last = body
    if last is None:
        return None
    p = last["payload"]

    def text(key: str) -> str | None:
        value = p.get(key)
        return value if isinstance(value, str) else None

    return AutoPublish(
        enabled=p.get("enabled") is True,
        output_dir=text("output_dir"),
        publisher=text("publisher"),
        key_file=text("key_file"),
        origin=text("origin"),
        site_name=text("site"),
        seq=int(last.get("seq", 0)),
    )


def _load_key(key_file: str | os.PathLike[str]) -> SoftwareEd25519Signer:
    from tcr_kit.audit.signing import SoftwareEd25519Signer

    if SoftwareEd25519Signer.is_encrypted(Path(key_file)):
        raise InputError(
            f"{key_file}: auto-publish signs heads unattended and cannot ask for a "
            "passphrase: give an unencrypted publishing key (0600)"
        )
    return SoftwareEd25519Signer.load(key_file)


def _check_site_key(site: Path, public_key: bytes) -> None:
    """A site already published signs every head with one key: refuse another publisher's
    now rather than fail after every change."""
    import json

    from tcr_kit.audit.note import NoteVerifier

    try:
        state = json.loads((site / "feed" / "state.json").read_text("utf-8"))
        site_key = NoteVerifier.parse(str(state["verifier_key"])).public_key
    except (OSError, ValueError, KeyError, TypeError, InputError):
        return  # nothing published yet (or unreadable: the publication will say so)
    if site_key != public_key:
        raise InputError(
            f"{site} publishes heads signed with another key: name its publisher and key "
            "(--publisher, --publisher-key)"
        )


def set_auto_publish(
    ledger: Ledger,
    actor: Actor,
    output_dir: str | os.PathLike[str] | None,
    *,
    publisher: str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    origin: str | None = None,
    site_name: str | None = None,
    dry_run: bool = False,
) -> AutoPublish:
    """Turn auto-publish on (``output_dir`` given: publish there after every change, heads
    signed by ``publisher`` with ``key_file``) or off (``output_dir`` ``None``), as a signed
    event by ``actor``. The key must load without a passphrase and be the one registered for
    the publisher: checked now, so a setting that cannot work is refused (exit 2)."""
    ledger.permit("policy.set", actor)
    payload: dict[str, object] = {"enabled": output_dir is not None}
    if output_dir is not None:
        if publisher is None or key_file is None:
            raise InputError("auto-publish needs the publisher and their key file")
        signer = _load_key(key_file)
        registered = ledger.registered_key(publisher)
        if registered is None or registered != signer.public_key_bytes():
            raise InputError(f"{key_file} is not the key registered for {publisher}")
        _check_site_key(Path(output_dir), signer.public_key_bytes())
        payload.update(
            output_dir=str(Path(output_dir).resolve()),
            publisher=publisher,
            key_file=str(Path(key_file).resolve()),
        )
        if origin is not None:
            payload["origin"] = origin
        if site_name is not None:
            payload["site"] = site_name
    event = ledger.record_event(
        actor, AUTO_PUBLISH_EVENT, [AUTO_PUBLISH_SUBJECT], payload, dry_run=dry_run
    )
    return AutoPublish(
        enabled=output_dir is not None,
        output_dir=payload.get("output_dir"),  # type: ignore[arg-type]
        publisher=publisher if output_dir is not None else None,
        key_file=payload.get("key_file"),  # type: ignore[arg-type]
        origin=origin,
        site_name=site_name,
        seq=event.seq,
    )


def auto_publish(ledger: Ledger) -> AutoPublished:
    """Publish the ledger's new events if auto-publish is on. Never raises for a failed
    publication (the change it follows is committed and stays so): the failure comes back
    as one line in :attr:`AutoPublished.error`."""
    setting = auto_publish_setting(ledger)
    if setting is None or not setting.enabled:
        return AutoPublished(setting)
    try:
        from tcr_kit.report.feed import publish

        if not (setting.output_dir and setting.publisher and setting.key_file):
            raise InputError("the auto-publish setting is incomplete; set it again")
        signer = _load_key(setting.key_file)
        result = publish(
            ledger,
            setting.output_dir,
            person=setting.publisher,
            signer=signer,
            origin=setting.origin,
            site_name=setting.site_name,
        )
    except Exception as exc:  # whatever failed, the committed change stands
        why = str(exc) if isinstance(exc, TcrError | OSError) else f"{type(exc).__name__}: {exc}"
        return AutoPublished(setting, error=(why.splitlines() or ["failed"])[0])
    return AutoPublished(setting, result=result)
