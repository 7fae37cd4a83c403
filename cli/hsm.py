"""``tcr hsm``: create a demo HSM, activate an HSM with m of n shares, quorum readiness."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tcr_kit.errors import OperationalError

from .app import emit_json, json_mode, json_option, progress, quiet_option, table, warn

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.hsm.activation import Source

F = TypeVar("F", bound=Callable[..., Any])

PIN_FD_ENV = "TCR_PIN_FD"
"""Env var naming the inherited pipe fd that carries the HSM user PIN to a child command."""
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="HSM configuration (TOML); its SHA-256 goes into the audit log.",
    )(f)


def audit_options(f: F) -> F:
    f = click.option(
        "--ceremony",
        type=click.IntRange(min=1),
        envvar="TCR_CEREMONY",
        help="Tag the ledger events with this ceremony number. Env: TCR_CEREMONY.",
    )(f)
    f = click.option(
        "--key",
        "key_file",
        envvar="TCR_KEY",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Your Ed25519 key file (with --as). Env: TCR_KEY.",
    )(f)
    f = click.option(
        "--as",
        "actor_id",
        envvar="TCR_AS",
        help="Record the activation in the ledger as this roster id. Env: TCR_AS.",
    )(f)
    return click.option(
        "--ledger",
        "ledger_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Ledger file (default: $TCR_LEDGER, else the per-user ledger).",
    )(f)


@click.group()
def hsm() -> None:
    """Activate an HSM with m of n TCR shares; quorum readiness.

    \b
    Exit codes: 0 ok; 1 HSM, module, card or file failure; 2 bad config, option or
    duplicate credential; 3 a share of another set or retired epoch, or shares the HSM
    rejects; 4 fewer shares than the threshold (says how many more)."""


def _load(config_path: Path) -> Any:
    from tcr_kit.hsm.config import load_config

    return load_config(config_path)


def _words(hex_digest: str) -> str:
    from tcr_kit.audit.pgpwords import digest_words

    return digest_words(bytes.fromhex(hex_digest))[1]


# -- init --------------------------------------------------------------------------------------


@hsm.command("init")
@config_option
@click.option("--threshold", "-m", type=click.IntRange(1, 255), required=True)
@click.option("--count", "-n", type=click.IntRange(1, 255), required=True)
@click.option(
    "--output-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the share files (0600) and the demo SO PIN file go.",
)
@click.option(
    "--sign-key-label", default="ksk-demo", show_default=True, help="Demo signing key label."
)
@click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
@json_option
@quiet_option
def init_cmd(
    config_path: Path,
    threshold: int,
    count: int,
    output_dir: Path,
    sign_key_label: str,
    dry_run: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Create a SoftHSM2 test/demo HSM whose user PIN derives from a fresh m-of-n secret.

    The share files are written and checked before the token's PIN is set; the transport
    PINs given to softhsm2-util (which only takes PINs in its argv) are random and replaced
    over PKCS#11 at once."""
    from tcr_kit.hsm.provision import init_softhsm

    loaded = _load(config_path)
    if not dry_run:
        progress(
            f"creating {loaded.hsm.describe()} and splitting its secret {threshold}-of-{count}"
        )
    plan = init_softhsm(
        loaded,
        threshold=threshold,
        count=count,
        output_dir=output_dir,
        sign_key_label=sign_key_label,
        dry_run=dry_run,
    )
    facts = plan.facts()
    facts["config_sha256"] = loaded.sha256
    if json_mode():
        emit_json({"ok": True, "dry_run": dry_run, **facts})
        return
    if dry_run:
        click.echo(f"dry run: would create {loaded.hsm.describe()}, secret {threshold}-of-{count}")
        for path in plan.share_files:
            click.echo(f"  would write {path} (0600)")
        click.echo(f"  would write {plan.so_pin_file} (0600, demo SO PIN)")
        click.echo(f"  would generate EC P-256 signing key '{sign_key_label}' on the HSM")
        click.echo("dry run: nothing was changed")
        return
    click.echo(f"created {loaded.hsm.describe()} serial {plan.token_serial}")
    click.echo(f"  share set {loaded.share_set.id} epoch {plan.epoch}: native set {plan.set_id},"
               f" {threshold}-of-{count}")  # fmt: skip
    for path, digest in zip(plan.share_files, plan.share_digests, strict=True):
        click.echo(f"  {path}  sha256 {digest}")
    click.echo(f"  signing key '{sign_key_label}' public key sha256 {plan.public_key_sha256}")
    click.echo(f"    {_words(plan.public_key_sha256)}")
    click.echo(f"  config sha256 {loaded.sha256}")
    click.echo(f"  demo SO PIN in {plan.so_pin_file} (0600)")


# -- activate ----------------------------------------------------------------------------------


def _parse_card(spec: str, module: str | None) -> tuple[Any, Any, Path | None]:
    """``record=FILE[,pin-file=F][,label=L|serial=S|reader=R]`` -> (selector, record, pin)."""
    from tcr_kit.cards.enrol import CardSelector
    from tcr_kit.cards.record import load_record

    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep or key not in ("record", "pin-file", "label", "serial", "reader"):
            raise click.UsageError(
                f"--card {spec!r}: expected record=FILE[,pin-file=F][,label=L|serial=S|reader=R]"
            )
        fields[key] = value
    record = load_record(Path(fields["record"])) if "record" in fields else None
    reader = fields.get("reader")
    label, serial = fields.get("label"), fields.get("serial")
    if reader is None and label is None and serial is None:
        if record is None:
            raise click.UsageError(f"--card {spec!r}: name the card (record=, label=, serial=)")
        if record.card.backend == "pcsc":
            raise click.UsageError(f"--card {spec!r}: a PC/SC card needs reader=NAME")
        serial = record.card.serial
    if reader is None and module is None:
        raise click.UsageError("--card with a PKCS#11 token needs --pkcs11-module PATH")
    selector = CardSelector(
        pkcs11_module=None if reader else module,
        token_label=label,
        token_serial=serial if label is None else None,
        reader=reader,
    )
    pin_file = Path(fields["pin-file"]) if "pin-file" in fields else None
    return selector, record, pin_file


def _audit(
    ledger_path: Path | None, actor_id: str | None, key_file: Path | None, ceremony: int | None
) -> tuple[Ledger | None, Actor | None]:
    if actor_id is None:
        return None, None
    if key_file is None:
        raise click.UsageError("--as needs --key (your signing key file)")
    from tcr_kit.custody.ledger import Ledger

    from ._ledger import actor

    who = actor(actor_id, key_file)
    ledger = Ledger.open(ledger_path, create=False)
    ledger.ceremony_number = ceremony
    return ledger, who


def _collect(
    activation: Any,
    shares: tuple[Path, ...],
    cards: list[Any],
    *,
    interactive: bool = False,
    module: str | None = None,
    into: Any = None,
) -> Any:
    """Add every share file, then every card (prompting for each card's PIN by name);
    ``interactive``: then ask for cards one by one until the quorum is complete."""
    from tcr_kit.hsm.activation import CardShare, ShareFile

    from .card import read_secret

    quorum = into if into is not None else activation.quorum()
    for path in shares:
        got = quorum.add(ShareFile(path))
        progress(f"share {got.index} from {path}: ok ({quorum.still_needed()} more needed)")
    for selector, record, pin_file in cards:
        if quorum.complete():
            warn(f"quorum already complete; {selector.describe()} was not read")
            continue
        who = (
            f"the card of TCR {record.tcr.id} ({record.tcr.name}), serial {record.card.serial}"
            if record
            else selector.describe()
        )
        pin = read_secret(f"PIN for {who}", pin_file)
        source: Source = CardShare(selector, pin, record)
        try:
            got = quorum.add(source)
        finally:
            pin.wipe()
        progress(
            f"share {got.index} from {got.describe()}: ok ({quorum.still_needed()} more needed)"
        )
    if interactive:
        _prompt_cards(quorum, module)
    return quorum


def _ask(question: str) -> str:
    """One answer: a prompt on a terminal, else one line of stdin (read from the same
    binary buffer as the PINs, so answers and PINs interleave correctly)."""
    if sys.stdin.isatty():
        return str(click.prompt(question, default="", show_default=False, err=True)).strip()
    click.echo(f"{question}: ", err=True, nl=False)
    line = sys.stdin.buffer.readline().decode("utf-8", "replace").strip()
    click.echo("", err=True)
    return line


def _prompt_cards(quorum: Any, module: str | None) -> None:
    """Ask for the next card by its enrolment record until the quorum is complete. A card
    that is refused (wrong PIN, duplicate, another set, not inserted) is named on one line
    and the collection goes on; an empty answer stops it."""
    from tcr_kit.errors import TcrError
    from tcr_kit.hsm.activation import CardShare

    from .card import read_secret

    while not quorum.complete():
        missing = quorum.missing_holders()
        names = ", ".join(f"{c.id} ({c.holder or '-'})" for c in missing)
        click.echo(
            f"{quorum.still_needed()} more card(s) needed"
            + (f"; not yet presented: {names}" if names else ""),
            err=True,
        )
        line = _ask("enrolment record of the next card (empty to stop)")
        if not line:
            return
        try:
            selector, record, pin_file = _parse_card(f"record={line}", module)
            assert record is not None  # noqa: S101 - record= was given
            who = f"TCR {record.tcr.id} ({record.tcr.name}), card serial {record.card.serial}"
            click.echo(f"insert the card of {who}", err=True)
            pin = read_secret(f"PIN for the card of {who}", pin_file)
            try:
                got = quorum.add(CardShare(selector, pin, record))
            finally:
                pin.wipe()
        except (TcrError, click.UsageError) as exc:
            text = exc.format_message() if isinstance(exc, click.UsageError) else str(exc)
            click.echo(f"refused: {text}", err=True)
            continue
        click.echo(f"share {got.index} from {got.describe()}: ok", err=True)


@hsm.command(
    "activate", context_settings={"ignore_unknown_options": False, "allow_interspersed_args": False}
)
@config_option
@click.option(
    "--share",
    "shares",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A share file (repeat).",
)
@click.option(
    "--card",
    "card_specs",
    multiple=True,
    metavar="record=FILE[,pin-file=F][,label=L|serial=S|reader=R]",
    help="A TCR card, by its enrolment record (repeat). PIN: pin-file, else prompt/stdin.",
)
@click.option("--pkcs11-module", metavar="PATH", help="PKCS#11 module of the TCR cards.")
@click.option(
    "--prompt-cards",
    is_flag=True,
    help="Then ask for cards one at a time (by enrolment record) until m shares are in.",
)
@click.option("--sign-key", metavar="LABEL", help="Sign --input with this key on the HSM.")
@click.option("--input", "input_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output", "output_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing --output.")
@audit_options
@json_option
@quiet_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def activate_cmd(
    config_path: Path,
    shares: tuple[Path, ...],
    card_specs: tuple[str, ...],
    pkcs11_module: str | None,
    prompt_cards: bool,
    sign_key: str | None,
    input_path: Path | None,
    output_path: Path | None,
    force: bool,
    ledger_path: Path | None,
    actor_id: str | None,
    key_file: Path | None,
    ceremony: int | None,
    as_json: bool,
    quiet: bool,
    command: tuple[str, ...],
) -> None:
    """Activate the HSM with m of n shares, then sign a file or run a command.

    \b
    Sign:    tcr hsm activate --config hsm.toml --share s1 --card record=r2.json ...
               --sign-key ksk --input data --output data.sig
    Command: tcr hsm activate --config hsm.toml --share ... -- CMD ARGS
      CMD inherits a pipe whose read end's number is in $TCR_PIN_FD; it reads the HSM
      user PIN from it (one line). The PIN is never in argv or the environment."""
    signing = sign_key is not None or input_path is not None or output_path is not None
    if signing and command:
        raise click.UsageError("give either --sign-key/--input/--output or -- CMD, not both")
    if not signing and not command:
        raise click.UsageError("nothing to do: give --sign-key/--input/--output or -- CMD")
    if signing and None in (sign_key, input_path, output_path):
        raise click.UsageError("signing needs --sign-key, --input and --output")
    from tcr_kit.hsm.activation import Activation

    loaded = _load(config_path)
    cards = [_parse_card(spec, pkcs11_module) for spec in card_specs]
    data = b""
    if input_path is not None:
        try:
            data = input_path.read_bytes()
        except OSError as exc:
            raise OperationalError(f"{input_path}: cannot read: {exc.strerror}") from None
    if output_path is not None and output_path.exists() and not force:
        from tcr_kit.errors import FileExistsRefused

        raise FileExistsRefused(str(output_path))
    ledger, actor = _audit(ledger_path, actor_id, key_file, ceremony)
    if ledger is None:
        warn("no --as/--key: this activation is not recorded in a ledger")
    try:
        activation = Activation(loaded, ledger=ledger, actor=actor)
        from tcr_kit.errors import TcrError

        quorum = None
        try:
            quorum = activation.quorum()
            _collect(
                activation, shares, cards, interactive=prompt_cards, module=pkcs11_module,
                into=quorum,
            )  # fmt: skip
        except TcrError as exc:
            activation.record_refusal(quorum, exc, "collect")
            raise
        if command:
            rc = _run_child(activation, quorum, command, loaded)
            _report(activation, {"command": list(command), "exit": rc})
            if rc != 0:
                raise OperationalError(f"{command[0]} exited with status {rc}")
            return
        assert sign_key is not None and output_path is not None  # noqa: S101 - checked above
        with activation.session(quorum, purpose="sign") as session:
            signature = session.sign(sign_key, data)
            public = session.public_key_der(sign_key)
        from tcr_kit.fileio import atomic_output

        with atomic_output(output_path, force=force, mode=0o644) as fh:
            fh.write(signature)
        _report(
            activation,
            {
                "signed": str(input_path),
                "input_sha256": hashlib.sha256(data).hexdigest(),
                "signature": str(output_path),
                "signature_sha256": hashlib.sha256(signature).hexdigest(),
                "public_key_sha256": hashlib.sha256(public).hexdigest(),
                "key": sign_key,
            },
        )
    finally:
        if ledger is not None:
            ledger.close()


def _run_child(activation: Any, quorum: Any, command: tuple[str, ...], loaded: Any) -> int:
    pin = activation.user_pin(quorum)
    read_fd, write_fd = os.pipe()
    try:
        with pin:
            os.write(write_fd, bytes(pin.view()) + b"\n")
        os.close(write_fd)
        write_fd = -1
        env = dict(os.environ)
        env.update(loaded.hsm.env)
        env[PIN_FD_ENV] = str(read_fd)
        env["TCR_HSM_MODULE"] = loaded.hsm.module
        if loaded.hsm.token_label:
            env["TCR_HSM_TOKEN_LABEL"] = loaded.hsm.token_label
        if loaded.hsm.token_serial:
            env["TCR_HSM_TOKEN_SERIAL"] = loaded.hsm.token_serial
        try:
            proc = subprocess.run(list(command), pass_fds=(read_fd,), env=env, check=False)
        except OSError as exc:
            raise OperationalError(f"{command[0]}: cannot run: {exc.strerror}") from None
        return proc.returncode
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        os.close(read_fd)


def _report(activation: Any, data: dict[str, Any]) -> None:
    kinds = [e.kind for e in activation.events]
    last = activation.events[0].payload() if activation.events else {}
    presented = last.get("presented", [])
    if json_mode():
        emit_json(
            {"ok": True, "hsm": last.get("hsm"), "config_sha256": last.get("config_sha256"),
             "presented": presented, "events": kinds, **data}
        )  # fmt: skip
        return
    hsm_facts = last.get("hsm", {})
    click.echo(
        f"activated HSM {hsm_facts.get('name')} (token '{hsm_facts.get('token_label')}'"
        f" serial {hsm_facts.get('token_serial')}) with {len(presented)} shares:"
    )
    for p in presented:
        who = f"TCR {p['tcr_id']}" if "tcr_id" in p else p.get("holder", "-")
        click.echo(f"  share {p['index']}  {p['source']}  ({who})  sha256 {p['share_digest']}")
    if "signature" in data:
        click.echo(f"signed {data['signed']} with key '{data['key']}' -> {data['signature']}")
        click.echo(f"  input sha256     {data['input_sha256']}")
        click.echo(f"  signature sha256 {data['signature_sha256']}")
        click.echo(f"  public key sha256 {data['public_key_sha256']}")
        click.echo(f"    {_words(data['public_key_sha256'])}")
    if "command" in data:
        click.echo(f"ran {' '.join(data['command'])}: exit {data['exit']}")
    click.echo(f"logged out; audit events: {', '.join(kinds)}")


# -- rekey -------------------------------------------------------------------------------------


@hsm.command("rekey")
@config_option
@click.option("--share", "shares", multiple=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--card", "card_specs", multiple=True, metavar="record=FILE[,pin-file=F][,...]")
@click.option("--pkcs11-module", metavar="PATH", help="PKCS#11 module of the TCR cards.")
@click.option("--threshold", "-m", type=click.IntRange(1, 255), required=True)
@click.option("--count", "-n", type=click.IntRange(1, 255), required=True)
@click.option(
    "--output-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="New share files (0600) and rekey-state.json; the same folder resumes a rekey.",
)
@click.option("--new-set-id", required=True, help="Ledger id of the new share set.")
@click.option("--yes", is_flag=True, help="Do not ask for a typed confirmation.")
@audit_options
@json_option
@quiet_option
def rekey_cmd(
    config_path: Path,
    shares: tuple[Path, ...],
    card_specs: tuple[str, ...],
    pkcs11_module: str | None,
    threshold: int,
    count: int,
    output_dir: Path,
    new_set_id: str,
    yes: bool,
    ledger_path: Path | None,
    actor_id: str | None,
    key_file: Path | None,
    ceremony: int | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Give the HSM a new activation secret split m-of-n; retire the current epoch.

    The new shares are written and verified before the HSM PIN changes; re-running with
    the same --output-dir resumes an interrupted rekey."""
    from tcr_kit.hsm.activation import Activation, Quorum
    from tcr_kit.hsm.rekey import STATE_NAME, RekeyResult, rekey

    loaded = _load(config_path)
    cards = [_parse_card(spec, pkcs11_module) for spec in card_specs]
    ledger, actor = _audit(ledger_path, actor_id, key_file, ceremony)
    if ledger is None:
        warn("no --as/--key: the rekey is not recorded in a ledger")
    try:
        activation = Activation(loaded, ledger=ledger, actor=actor)
        resuming = (output_dir / STATE_NAME).exists()
        quorum: Quorum | list[Any] = [] if resuming else _collect(activation, shares, cards)

        def confirm(result: RekeyResult) -> bool:
            click.echo(
                f"about to change the user PIN of {activation.token().describe()}:\n"
                f"  retire epoch {result.old.epoch} (set {result.old.set_id})\n"
                f"  activate epoch {result.new.epoch} (set {result.new.set_id},"
                f" {result.threshold}-of-{result.count}), shares in {output_dir}:",
                err=True,
            )
            for path, digest in zip(result.share_files, result.share_digests, strict=True):
                click.echo(f"    {path.name}  sha256 {digest}", err=True)
            if yes:
                return True
            return _ask("type yes to go on") == "yes"

        result = rekey(
            activation,
            quorum if quorum else (lambda: _collect(activation, shares, cards)),
            threshold=threshold,
            count=count,
            output_dir=output_dir,
            new_share_set_id=new_set_id,
            confirm=confirm,
        )
    finally:
        if ledger is not None:
            ledger.close()
    if json_mode():
        emit_json({"ok": True, **result.facts()})
        return
    for step in result.steps:
        click.echo(f"  {step}")
    click.echo(
        f"rekeyed {loaded.hsm.name}: epoch {result.new.epoch}, set {result.new.set_id}."
        f' Update {config_path}: [share_set] id = "{new_set_id}", epoch ='
        f" {result.new.epoch}, threshold = {threshold}, count = {count}"
    )


# -- register-set ------------------------------------------------------------------------------


@hsm.command("register-set")
@config_option
@audit_options
@click.option("--purpose", default=None, help="Purpose (default: 'activation of HSM <name>').")
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; change nothing.")
@json_option
def register_set_cmd(
    config_path: Path,
    ledger_path: Path | None,
    actor_id: str | None,
    key_file: Path | None,
    ceremony: int | None,
    purpose: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Record the config's share set (id, m, n, epoch) in the custody ledger."""
    from tcr_kit.custody.models import ShareSet, build

    from ._ledger import report_change

    loaded = _load(config_path)
    if actor_id is None:
        raise click.UsageError("register-set needs --as and --key")
    ledger, actor = _audit(ledger_path, actor_id, key_file, ceremony)
    assert ledger is not None and actor is not None  # noqa: S101 - --as given
    cfg = loaded.share_set
    share_set = build(
        ShareSet,
        id=cfg.id,
        m=cfg.threshold,
        n=cfg.count,
        purpose=purpose or f"activation of HSM {loaded.hsm.name}",
        epoch=cfg.epoch,
    )
    try:
        ledger.add_share_set(actor, share_set, dry_run=dry_run)
        report_change(
            ledger,
            f"share set {cfg.id} ({cfg.threshold}-of-{cfg.count}, epoch {cfg.epoch})",
            dry_run,
            {"share_set": cfg.id, "config_sha256": loaded.sha256},
        )
    finally:
        ledger.close()


# -- readiness ---------------------------------------------------------------------------------


@hsm.command("readiness")
@config_option
@click.option(
    "--ledger",
    "ledger_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Ledger file (default: $TCR_LEDGER, else the per-user ledger).",
)
@json_option
def readiness_cmd(config_path: Path, ledger_path: Path | None, as_json: bool) -> None:
    """Could the HSM be activated today? Each credential of the share set, where it is, when
    it was last verified, and a verdict (exit 0 ready or at risk, 4 not ready)."""
    from tcr_kit.custody.ledger import Ledger
    from tcr_kit.errors import QuorumError
    from tcr_kit.hsm.readiness import readiness

    loaded = _load(config_path)
    with Ledger.open(ledger_path, create=False) as ledger:
        view = readiness(loaded, ledger)
    if json_mode():
        emit_json({"ok": view.verdict != "not-ready", **view.facts()})
    else:
        click.echo(
            f"{view.hsm}: share set {view.share_set} epoch {view.epoch},"
            f" {view.threshold}-of-{view.count}, margin {view.margin}"
        )
        rows = [
            {
                "credential": c.credential,
                "share": c.share_index or "-",
                "holder": c.holder or "-",
                "status": c.availability,
                "where": c.location,
                "last verified": (c.last_verified or "never")[:19].replace("T", " ")
                + (" UTC" if c.last_verified else ""),
            }
            for c in view.credentials
        ]
        if rows:
            click.echo(
                table(rows, ["credential", "share", "holder", "status", "where", "last verified"])
            )
        click.echo(f"verdict: {view.summary}")
        for action in view.restore:
            click.echo(f"  to restore: {action}")
    if view.verdict == "not-ready":
        if json_mode():
            sys.exit(4)
        raise QuorumError(view.summary)


__all__ = ["hsm"]
