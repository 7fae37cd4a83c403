"""``tcr policy``: show the custody policy in force, or record a new one (an SA only)."""

from __future__ import annotations

from pathlib import Path

import click

from ._ledger import actor, actor_options, dry_run_option, ledger_option, open_ledger
from ._ledger import report_change as _report
from ._output import say, say_lines
from .app import emit_json, json_option

__all__ = ["policy"]


@click.group()
def policy() -> None:
    """The custody policy: who may do what (docs/policy.md)."""


@policy.command("show")
@ledger_option
@click.option("--default", "default", is_flag=True, help="Show the built-in default policy.")
@json_option
def policy_show(ledger_path: Path | None, default: bool, as_json: bool) -> None:
    """Print the policy in force (its TOML), or the default policy."""
    from tcr_kit.custody.policy import default_policy

    if default:
        current, recorded = default_policy(), False
    else:
        with open_ledger(ledger_path) as led:
            current = led.policy()
            recorded = bool(led.history("policy"))
    if as_json:
        emit_json(
            {
                "ok": True,
                "name": current.name,
                "sha256": current.sha256,
                "recorded": recorded,
                "policy": current.text,
                "defaulted": sorted(current.defaulted),
            }
        )
        return
    origin = "recorded in the ledger" if recorded else "default (no policy recorded)"
    say(f"# policy {current.name!r}, {origin}, sha256 {current.sha256}")
    say_lines(line.removesuffix("\r") for line in current.text.rstrip("\n").split("\n"))
    if current.defaulted:
        say(
            "# not listed above (added to tcr-kit after this policy was written), so the "
            f"defaults apply: {', '.join(sorted(current.defaulted))}"
        )


@policy.command("set")
@ledger_option
@actor_options
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@dry_run_option
@json_option
def policy_set(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    file: Path,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Record FILE (TOML) as the policy in force: a signed event only an SA may make."""
    from tcr_kit.errors import InputError

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{file}: cannot read policy: {exc}") from None
    with open_ledger(ledger_path) as led:
        new = led.set_policy(actor(actor_id, key_file), text, dry_run=dry_run)
        _report(
            led,
            f"policy {new.name!r} sha256 {new.sha256}",
            dry_run,
            {"name": new.name, "sha256": new.sha256},
        )
