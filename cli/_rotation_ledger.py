"""``tcr card rotate --replace OLD --new-id NEW --as ID --key FILE [--ledger PATH]``: record
the rotation in the custody ledger: the new card is registered and the old credential
retired in one change (``Ledger.replace_credential``). The ledger change is tried as a dry
run before any card is touched, so a refusal (policy: exit 5; state: exit 2/3) leaves both
cards as they were."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._ledger import actor, open_ledger
from ._ledger import report_change as _report
from .app import json_mode

if TYPE_CHECKING:
    from tcr_kit.cards.record import EnrolmentRecord

F = TypeVar("F", bound=Callable[..., Any])
_KEY = "tcr_kit.rotation_ledger"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    ctx.meta.setdefault(_KEY, {})[param.name] = value


def rotation_ledger_options(f: F) -> F:
    for name, kwargs in (
        ("--ledger", {"type": click.Path(dir_okay=False, path_type=Path), "help": "Ledger file."}),
        ("--key", {"type": click.Path(dir_okay=False, exists=True, path_type=Path),
                   "help": "With --replace: your signing key file."}),
        ("--as", {"help": "With --replace: your roster id (a CA or SA)."}),
        ("--new-id", {"help": "With --replace: the ledger id of the new card's credential."}),
        ("--replace", {"help": "Record the rotation in the ledger: the old card's credential id "
                       "(retired; the new card registered in its place, one change)."}),
    ):  # fmt: skip
        dest = {"--as": "actor_id", "--key": "key_file", "--ledger": "ledger_path"}.get(name)
        decls = [name, dest] if dest else [name]
        f = click.option(*decls, expose_value=False, callback=_store, **kwargs)(f)
    return f


def _options() -> dict[str, Any]:
    ctx = click.get_current_context()
    opts: dict[str, Any] = ctx.meta.get(_KEY, {})
    if opts.get("replace") is None:
        return {}
    missing = [o for o, k in (("--new-id", "new_id"), ("--as", "actor_id"), ("--key", "key_file"))
               if not opts.get(k)]  # fmt: skip
    if missing:
        raise click.UsageError(f"--replace needs {', '.join(missing)}")
    return opts


def _new_credential(opts: dict[str, Any], serial: str, record_text: str | None) -> Any:
    from tcr_kit.custody.ledger import enrolment_sha256
    from tcr_kit.custody.models import Credential, CredentialKind, build

    return build(
        Credential,
        id=opts["new_id"],
        kind=CredentialKind.SMARTCARD,
        serial=serial,
        enrolment_record=record_text,
        enrolment_sha256=enrolment_sha256(record_text) if record_text else None,
    )


def precheck() -> None:
    """With --replace: try the ledger change as a dry run before any card is touched."""
    opts = _options()
    if not opts:
        return
    with open_ledger(opts.get("ledger_path")) as led:
        who = actor(opts["actor_id"], opts["key_file"])
        led.replace_credential(
            who, opts["replace"], _new_credential(opts, "pending", None), dry_run=True
        )


def record(result: EnrolmentRecord, record_path: Path) -> None:
    """With --replace: record the new card (its enrolment record) and retire the old one."""
    opts = _options()
    if not opts:
        return
    text = record_path.read_text(encoding="utf-8")
    with open_ledger(opts.get("ledger_path")) as led:
        who = actor(opts["actor_id"], opts["key_file"])
        new = _new_credential(opts, result.card.serial, text)
        led.replace_credential(who, opts["replace"], new)
        if not json_mode():  # the rotate command prints its own JSON object
            _report(led, f"credential {opts['replace']} retired, replaced by {new.id}", False, {})
