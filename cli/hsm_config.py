"""``tcr hsm config-extend`` and ``tcr hsm config-rekey``: the HSM configuration's next
version after ``tcr shares extend`` raised its share set's count, or after ``tcr hsm rekey``
moved the HSM to a new share set. Parsing and printing only: the checks, the changed lines
and the signed events are :mod:`tcr_kit.hsm.config_extend` and
:mod:`tcr_kit.hsm.config_rekey`. Registered lazily (``HSM_COMMANDS``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ._hsm_options import FILE, Audit, ask, audit_options, config_option, output_options
from ._output import say, say_lines
from .app import emit_json, json_mode, progress, warn

__all__ = ["config_extend_cmd", "config_rekey_cmd"]


def _new_version_options(f: Callable[..., None]) -> Callable[..., None]:
    """The options of a command that writes a configuration's next version."""
    for option in reversed((
        config_option,
        click.option("--output", "output_path", type=FILE, required=True, help="The new"
                     " version (0644); the current file's own path only with --force."),
        click.option("--force", is_flag=True,
                     help="Replace --output if it exists (the config itself)."),
        click.option("--yes", is_flag=True, help="Do not ask for a typed confirmation."),
        click.option("--dry-run", is_flag=True,
                     help="Show the change and its hashes; change nothing."),
        audit_options,
        output_options,
    )):  # fmt: skip
        f = option(f)
    return f


@click.command("config-extend")
@_new_version_options
def config_extend_cmd(config_path: Path, output_path: Path, force: bool, yes: bool,
                      dry_run: bool, audit: Audit) -> None:  # fmt: skip
    """Raise the config's share count after 'tcr shares extend' (a new, recorded version).

    The count becomes the one the ledger records, in a new version of the file recorded
    with its old and new SHA-256.

    \b
    Only the [share_set] count line changes; the new count is the ledger's n for the set
    (raised by the extension's registered manifest), never typed by hand. Shows the
    change and both hashes (hex and PGP words), asks for a typed 'yes' (or --yes), writes
    the file only if its signed hsm.config-extend event is recorded, and reads it back.
    Exit 1: --output exists without --force, or not confirmed; 2: nothing to extend;
    3: the ledger's set is not the config's (epoch, threshold, retired) or the file read
    back differs; 5: not permitted by policy (share-set.change)."""
    from tcr_kit.hsm.config_extend import extend_config, plan_config_extension

    def done(plan: Any) -> list[str]:
        return [f"wrote {output_path}: count {plan.old_count} -> {plan.new_count}"]

    _new_version("config-extend", config_path, output_path, force, yes, dry_run, audit,
                 plan_config_extension, extend_config, done)  # fmt: skip


@click.command("config-rekey")
@_new_version_options
def config_rekey_cmd(config_path: Path, output_path: Path, force: bool, yes: bool,
                     dry_run: bool, audit: Audit) -> None:  # fmt: skip
    """Name the new share set in the config after 'tcr hsm rekey' (a new, recorded version).

    The share set's id, epoch, threshold and count become those of the rekey recorded in
    the ledger, in a new version of the file recorded with its old and new SHA-256.

    \b
    The values come from the signed hsm.rekey event made with this very config (same
    SHA-256) and the new share set it added to the ledger, never typed by hand; a count
    above the rekey's only as far as recorded extensions of the new set (tcr shares
    extend) account for it. Only the [share_set] lines id, epoch (and threshold, count if
    they changed) change. Shows the change and both hashes (hex and PGP words), asks for a
    typed 'yes' (or --yes), writes the file only if its signed hsm.config-rekey event is
    recorded, and reads it back.
    Exit 1: --output exists without --force, or not confirmed; 2: no rekey of this config's
    set recorded (nothing to change); 3: the rekey was made with another version of the
    config, the ledger's new set is not the rekey's (epoch, threshold, count), or the file
    read back differs;
    5: not permitted by policy (share-set.change)."""
    from tcr_kit.hsm.config_rekey import plan_config_rekey, rekey_config

    def done(plan: Any) -> list[str]:
        old, new = plan.old, plan.new
        return [
            f"wrote {output_path}: share set {old['id']} epoch {old['epoch']} -> {new['id']}"
            f" epoch {new['epoch']} ({new['threshold']}-of-{new['count']})",
            *plan.notes(),
        ]

    _new_version("config-rekey", config_path, output_path, force, yes, dry_run, audit,
                 plan_config_rekey, rekey_config, done)  # fmt: skip


def _new_version(
    name: str,
    config_path: Path,
    output_path: Path,
    force: bool,
    yes: bool,
    dry_run: bool,
    audit: Audit,
    planner: Callable[..., Any],
    writer: Callable[..., Any],
    done: Callable[[Any], list[str]],
) -> None:
    """A configuration's next version, planned from the ledger, shown, confirmed, written
    with its signed event and reported (config-extend and config-rekey)."""
    from tcr_kit.hsm.config import load_config

    if audit.actor_id is None:
        raise click.UsageError(f"{name} is recorded in the ledger: give --as and --key")
    loaded = load_config(config_path)
    for notice in loaded.deprecations:
        warn(notice)
    ledger, actor = audit.open()
    assert ledger is not None and actor is not None  # noqa: S101 - --as given
    try:
        plan = planner(loaded, ledger, output_path, force=force)
        if dry_run and not json_mode():
            say_lines(plan.describe())
        elif not dry_run and (not yes or not json_mode()):  # what the yes is for, on stderr
            say_lines(plan.describe(), err=True)
        if not dry_run and not yes and ask("type yes to write and record it") != "yes":
            raise click.ClickException("not confirmed: nothing was written or recorded")
        if not dry_run:
            progress(f"writing {output_path} and recording it")
        writer(plan, ledger, actor, force=force, dry_run=dry_run)
        (event,) = ledger.last_change()
    finally:
        ledger.close()
    if json_mode():
        emit_json({"ok": True, "dry_run": dry_run, "event": event.to_json(), **plan.facts()})
        return
    if dry_run:
        say(f"dry run: would record audit event {event.kind}; nothing was written")
        return
    say_lines(done(plan))
    say(f"  SHA-256 {plan.new_sha256} (read back)")
    say(f"  audit event {event.seq} {event.kind} sha256 {event.hash}")
