"""``tcr hsm``: create a demo HSM, activate an HSM with m of n shares, quorum readiness.

A thin layer over :mod:`tcr_kit.hsm`: it parses the options, calls the library and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._hsm_options import (
    FILE,
    FOLDER,
    Audit,
    CustodyOptions,
    ask,
    audit_options,
    config_option,
    custody_options,
    ledger_option,
    output_options,
    parse_cards,
    prompts,
    source_options,
    split_options,
)
from ._output import say, say_lines
from .app import (
    AlreadyReported,
    LazyGroup,
    emit_json,
    ensure_output_dir,
    json_mode,
    json_option,
    progress,
    table,
    warn,
)
from .commands import HSM_COMMANDS

if TYPE_CHECKING:
    from tcr_kit.hsm.activation import Activation
    from tcr_kit.hsm.config import LoadedConfig


@click.group(cls=LazyGroup, lazy=HSM_COMMANDS)  # config-extend, config-rekey: cli/hsm_config.py
def hsm() -> None:
    """Activate an HSM with m of n TCR shares; quorum readiness.

    \b
    Exit codes: 0 ok; 1 HSM, module, card or file failure; 2 bad config, option or
    duplicate credential; 3 a share of another set or retired epoch, or shares the HSM
    rejects; 4 fewer shares than the threshold (says how many more)."""


def _load(config_path: Path) -> LoadedConfig:
    from tcr_kit.hsm.config import load_config

    loaded = load_config(config_path)
    for notice in loaded.deprecations:
        warn(notice)
    return loaded


@hsm.command("init")
@config_option
@split_options
@click.option("--output-dir", required=True, type=FOLDER,
              help="Where the share files (0600) and the demo SO PIN file go.")  # fmt: skip
@click.option("--sign-key-label", default="ksk-demo", show_default=True,
              help="Demo signing key label.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
@output_options
def init_cmd(config_path: Path, threshold: int, count: int, output_dir: Path,
             sign_key_label: str, dry_run: bool) -> None:  # fmt: skip
    """Create a SoftHSM2 test/demo HSM whose user PIN derives from a fresh m-of-n secret.

    The share files are written and checked before the token's PIN is set; the transport
    PINs given to softhsm2-util (which only takes PINs in its argv) are random and replaced
    over PKCS#11 at once."""
    from tcr_kit.hsm.provision import init_softhsm

    loaded = _load(config_path)
    if not dry_run:
        ensure_output_dir(output_dir)
        progress(f"creating {loaded.hsm.describe()} and splitting its secret"
                 f" {threshold}-of-{count}")  # fmt: skip
    plan = init_softhsm(loaded, threshold=threshold, count=count, output_dir=output_dir,
                        sign_key_label=sign_key_label, dry_run=dry_run)  # fmt: skip
    if json_mode():
        emit_json({"ok": True, "dry_run": dry_run, **plan.facts()})
    else:
        say_lines(plan.describe(loaded, dry_run=dry_run))


@hsm.command("activate", context_settings={"allow_interspersed_args": False})
@config_option
@source_options
@click.option("--prompt-cards", is_flag=True, help="Then ask for cards one at a time (by"
              " enrolment record) until m shares are in.")  # fmt: skip
@click.option("--sign-key", metavar="LABEL", help="Sign --input with this key on the HSM.")
@click.option("--input", "input_path", type=FILE)
@click.option("--output", "output_path", type=FILE)
@click.option("--force", is_flag=True, help="Overwrite an existing --output.")
@click.option("--no-ledger", is_flag=True, help="Activate without --as/--key: the events go"
              " only to the local activation log ($TCR_ACTIVATION_LOG).")  # fmt: skip
@custody_options
@audit_options
@output_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def activate_cmd(config_path: Path, shares: tuple[Path, ...], card_specs: tuple[str, ...],
                 pkcs11_module: str | None, prompt_cards: bool, sign_key: str | None,
                 input_path: Path | None, output_path: Path | None, force: bool,
                 no_ledger: bool, audit: Audit, custody: CustodyOptions,
                 command: tuple[str, ...]) -> None:  # fmt: skip
    """Activate the HSM with m of n shares, then sign a file or run a command.

    \b
    Sign:    tcr hsm activate --config hsm.toml --share s1 --card record=r2.json ...
               --sign-key ksk --input data --output data.sig
    Command: tcr hsm activate --config hsm.toml --share ... -- CMD ARGS
      CMD inherits a pipe whose read end's number is in $TCR_PIN_FD; it reads the HSM
      user PIN from it (one line). The PIN is never in argv or the environment.

    \b
    With the ledger each credential must come from a bag inspected intact and opened in
    this ceremony, or be presented by its holder in the room (--in-person HOLDER), else it
    is refused before its PIN is tried (exit 3); an emergency override needs two staff
    signatures and a reason. A config with [approvals] required = M needs
    --approval-request REQ and M valid --approvals (exit 4 otherwise)."""
    custody.check()
    sign = (sign_key, input_path, output_path)
    if any(x is not None for x in sign) and command:
        raise click.UsageError("give either --sign-key/--input/--output or -- CMD, not both")
    if all(x is None for x in sign) and not command:
        raise click.UsageError("nothing to do: give --sign-key/--input/--output or -- CMD")
    if not command and (sign_key is None or input_path is None or output_path is None):
        raise click.UsageError("signing needs --sign-key, --input and --output")
    from tcr_kit.errors import OperationalError
    from tcr_kit.hsm.activation import Activation
    from tcr_kit.hsm.collect import collect
    from tcr_kit.hsm.handoff import run_with_pin
    from tcr_kit.hsm.signing import SignRequest

    loaded = _load(config_path)
    cards = parse_cards(card_specs, pkcs11_module)
    request = None
    if sign_key is not None and input_path is not None and output_path is not None:
        request = SignRequest.prepare(sign_key, input_path, output_path, force=force)
    if no_ledger and audit.actor_id is not None:
        raise click.UsageError("give either --as/--key (record in the ledger) or --no-ledger")
    if not no_ledger and audit.actor_id is None:
        raise click.UsageError("every activation is recorded: give --as ID --key FILE (the"
                               " ledger), or --no-ledger (a local log only)")  # fmt: skip
    local = None
    ledger, actor = audit.open()
    if ledger is None:
        from tcr_kit.hsm.locallog import LocalActivationLog

        local = LocalActivationLog()
        warn(f"--no-ledger: this activation is recorded only in {local.path}")
    try:
        activation = Activation(loaded, ledger=ledger, actor=actor, on_event=local,
                                **custody.kwargs(loaded, ledger))  # fmt: skip
        custody.sign(activation)
        quorum = collect(activation, shares, cards, prompts(), interactive=prompt_cards,
                         pkcs11_module=pkcs11_module, refusal_purpose="collect")  # fmt: skip
        if request is not None:
            signed = request.sign(activation, quorum)
            return _report(activation, signed.facts(), signed.describe())
        rc = run_with_pin(activation, quorum, command)
        ran = f"ran {' '.join(command)}: exit {rc}"
        _report(activation, {"command": list(command), "exit": rc}, [ran])
        if rc != 0:
            raise OperationalError(f"{command[0]} exited with status {rc}")
    finally:
        if ledger is not None:
            ledger.close()
        if local is not None:
            local.close()


def _report(activation: Activation, data: dict[str, Any], lines: list[str]) -> None:
    kinds = [e.kind for e in activation.events]
    first = activation.events[0]
    if json_mode():
        extra = {
            k: v
            for k, v in (
                ("override", first.override),
                ("approvals", first.approvals),
                ("site_sha256", first.site_sha256),
                ("marker_count", first.marker_count),
            )
            if v is not None
        }
        return emit_json({"ok": True, "hsm": first.hsm.facts(), "events": kinds, **data,
                          "config_sha256": first.config_sha256, **extra,
                          "presented": [p.facts() for p in first.presented]})  # fmt: skip
    if first.marker_count is not None:
        old, new = first.marker_count["old"], first.marker_count["new"]
        lines.append(f"the HSM's activation marker now counts {new} shares (was {old})")
    lines.append(f"logged out; audit events: {', '.join(kinds)}")
    say_lines([*first.describe(), *lines])


@hsm.command("rekey")
@config_option
@source_options
@split_options
@click.option("--output-dir", required=True, type=FOLDER, help="New share files (0600) and"
              " rekey-state.json; the same folder resumes a rekey.")  # fmt: skip
@click.option("--new-set-id", required=True, help="Ledger id of the new share set.")
@click.option("--yes", is_flag=True, help="Do not ask for a typed confirmation.")
@click.option("--no-ledger", is_flag=True, help="Rekey without --as/--key: the events go"
              " only to the local activation log ($TCR_ACTIVATION_LOG).")  # fmt: skip
@custody_options
@audit_options
@output_options
def rekey_cmd(config_path: Path, shares: tuple[Path, ...], card_specs: tuple[str, ...],
              pkcs11_module: str | None, threshold: int, count: int, output_dir: Path,
              new_set_id: str, yes: bool, no_ledger: bool, audit: Audit,
              custody: CustodyOptions) -> None:  # fmt: skip
    """Give the HSM a new activation secret split m-of-n; retire the current epoch.

    The new shares are written and verified before the HSM PIN changes; re-running with
    the same --output-dir resumes an interrupted rekey (with the -m, -n and --new-set-id it
    began with, else exit 2). With the ledger the old quorum is checked by custody as for
    'hsm activate' (--in-person, --override), and a set already recorded under
    --new-set-id must be the one this rekey makes (epoch, m, n, active), else exit 3
    before anything is done."""
    custody.check()
    # Like activate: a rekey is always recorded, in the ledger or (asked for) a local log.
    if no_ledger and audit.actor_id is not None:
        raise click.UsageError("give either --as/--key (record in the ledger) or --no-ledger")
    if not no_ledger and audit.actor_id is None:
        raise click.UsageError("every rekey is recorded: give --as ID --key FILE (the"
                               " ledger), or --no-ledger (a local log only)")  # fmt: skip
    from tcr_kit.hsm.activation import Activation
    from tcr_kit.hsm.collect import collect
    from tcr_kit.hsm.rekey import RekeyResult, rekey

    loaded = _load(config_path)
    cards = parse_cards(card_specs, pkcs11_module)
    ensure_output_dir(output_dir)
    local = None
    ledger, actor = audit.open()
    if ledger is None:
        from tcr_kit.hsm.locallog import LocalActivationLog

        local = LocalActivationLog()
        warn(f"--no-ledger: this rekey is recorded only in {local.path}")

    def confirm(result: RekeyResult) -> bool:
        say_lines(result.describe_change(activation.token().describe(), output_dir), err=True)
        return yes or ask("type yes to go on") == "yes"

    try:
        activation = Activation(loaded, ledger=ledger, actor=actor, on_event=local,
                                **custody.kwargs(loaded, ledger))  # fmt: skip
        custody.sign(activation)
        # The old quorum is asked for when needed: a resumed rekey may not need it.
        result = rekey(activation, lambda: collect(activation, shares, cards, prompts()),
                       threshold=threshold, count=count, output_dir=output_dir,
                       new_share_set_id=new_set_id, confirm=confirm)  # fmt: skip
    finally:
        if ledger is not None:
            ledger.close()
        if local is not None:
            local.close()
    hashes = {"config_sha256": loaded.sha256, "site_sha256": loaded.site_sha256}
    if json_mode():
        return emit_json({"ok": True, **result.facts(), **hashes})
    rekeyed = [e for e in activation.events if e.kind == "hsm.rekey"]
    lines = result.describe(loaded.hsm.name, config_path, recorded=local is None)
    say_lines(lines + (rekeyed[-1].describe_hashes() if rekeyed else []))


@hsm.command("register-set")
@config_option
@audit_options
@click.option("--purpose", default=None, help="Purpose (default: 'activation of HSM <name>').")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False, exists=True,
              path_type=Path), help="The set's signed manifest (tcr hsm init writes it, tcr"
              " shares sign signs it): recorded with the set, in one event.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; change nothing.")
@json_option
def register_set_cmd(config_path: Path, audit: Audit, purpose: str | None,
                     manifest_path: Path | None, dry_run: bool, as_json: bool) -> None:  # fmt: skip
    """Record the config's share set (id, m, n, epoch) in the custody ledger; with
    --manifest, and its signed manifest (the checks of 'tcr shares register'), together."""
    from tcr_kit.hsm.register import register_share_set

    from ._ledger import report_change

    loaded = _load(config_path)
    if audit.actor_id is None:
        raise click.UsageError("register-set needs --as and --key")
    manifest = None
    if manifest_path is not None:
        from tcr_kit.sharing.manifest import load_manifest

        manifest = load_manifest(manifest_path)
    ledger, actor = audit.open()
    assert ledger is not None and actor is not None  # noqa: S101 - --as given
    cfg = loaded.share_set
    try:
        register_share_set(loaded, ledger, actor, purpose=purpose, manifest=manifest,
                           dry_run=dry_run)  # fmt: skip
        summary = f"share set {cfg.id} ({cfg.threshold}-of-{cfg.count}, epoch {cfg.epoch})"
        facts: dict[str, Any] = {"share_set": cfg.id, "config_sha256": loaded.sha256}
        if manifest is not None:
            from tcr_kit.custody.share_manifests import manifest_facts

            summary += (
                f" with manifest revision {manifest.revision} of native set {manifest.set_id}"
            )
            facts.update(manifest_facts(manifest))
        report_change(ledger, summary, dry_run, facts)
        if manifest is not None and not json_mode():
            say(f"  manifest SHA-256 {facts['manifest_sha256']}")
            say(f"    PGP words: {facts['manifest_pgp_words']}")
    finally:
        ledger.close()


@hsm.command("readiness")
@config_option
@ledger_option
@json_option
def readiness_cmd(config_path: Path, ledger_path: Path | None, as_json: bool) -> None:
    """Could the HSM be activated today? Each credential of the share set, where it is, when
    it was last verified, and a verdict (exit 0 ready or at risk, 4 not ready)."""
    from tcr_kit.custody.ledger import Ledger
    from tcr_kit.errors import ExitCode, QuorumError
    from tcr_kit.hsm.readiness import ROW_COLUMNS, readiness

    loaded = _load(config_path)
    with Ledger.open(ledger_path, create=False) as ledger:
        view = readiness(loaded, ledger)
    if json_mode():
        emit_json({"ok": view.verdict != "not-ready", **view.facts()})
        if view.verdict == "not-ready":
            # The view is the one JSON document on stdout: exit 4 without a second one.
            raise AlreadyReported(ExitCode.QUORUM)
        return
    rows = view.rows()
    lines = [view.headline(), *([table(rows, ROW_COLUMNS)] if rows else [])]
    lines += [f"verdict: {view.summary}", *(f"  to restore: {a}" for a in view.restore)]
    say_lines(lines)
    if view.verdict == "not-ready":
        raise QuorumError(view.summary)


__all__ = ["hsm"]
