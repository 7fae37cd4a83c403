"""Options and operator I/O shared by the ``tcr hsm`` commands."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from ._output import one_line, say
from .app import json_option, progress, quiet_option, warn

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.hsm.activation import Activation
    from tcr_kit.hsm.collect import CardSpec, Prompts
    from tcr_kit.hsm.config import LoadedConfig

F = TypeVar("F", bound=Callable[..., Any])
FILE = click.Path(dir_okay=False, path_type=Path)
FOLDER = click.Path(file_okay=False, path_type=Path)

# fmt: off
config_option = click.option("--config", "config_path", required=True, type=FILE,
                             help="HSM configuration (TOML); its SHA-256 goes into the audit log.")
ledger_option = click.option("--ledger", "ledger_path", type=FILE, default=None,
                             help="Ledger file (default: $TCR_LEDGER, else the per-user ledger).")


def source_options(f: F) -> F:
    """``--share``, ``--card`` and ``--pkcs11-module``."""
    f = click.option("--pkcs11-module", metavar="PATH", help="PKCS#11 module of the TCR cards.")(f)
    f = click.option("--card", "card_specs", multiple=True,
                     metavar="record=FILE[,pin-file=F][,label=L|serial=S|reader=R]",
                     help="A TCR card, by its enrolment record (repeat). PIN: pin-file, else"
                     " prompt/stdin.")(f)
    return click.option("--share", "shares", multiple=True, type=FILE,
                        help="A share file (repeat).")(f)


def split_options(f: F) -> F:
    f = click.option("--count", "-n", type=click.IntRange(1, 255), required=True)(f)
    return click.option("--threshold", "-m", type=click.IntRange(1, 255), required=True)(f)


def audit_options(f: F) -> F:
    """``--ledger --as --key --ceremony``, given to the command as one ``audit: Audit``."""

    @functools.wraps(f)
    def command(*args: Any, ledger_path: Any, actor_id: Any, key_file: Any, ceremony: Any,
                **kw: Any) -> Any:
        return f(*args, audit=Audit(ledger_path, actor_id, key_file, ceremony), **kw)

    g = click.option("--ceremony", type=click.IntRange(min=1), envvar="TCR_CEREMONY",
                     help="Tag the ledger events with this ceremony number. Env: TCR_CEREMONY.")(
                         command)
    g = click.option("--key", "key_file", envvar="TCR_KEY", type=FILE,
                     help="Your Ed25519 key file (with --as). Env: TCR_KEY.")(g)
    g = click.option("--as", "actor_id", envvar="TCR_AS",
                     help="Record the activation in the ledger as this roster id. Env: TCR_AS.")(g)
    return cast(F, ledger_option(g))
# fmt: on


def output_options(f: F) -> F:
    """``--json`` and ``--quiet`` (read through :func:`json_mode`, not as arguments)."""

    @functools.wraps(f)
    def command(*args: Any, as_json: bool, quiet: bool, **kw: Any) -> Any:
        return f(*args, **kw)

    return cast(F, json_option(quiet_option(command)))


@dataclass(frozen=True)
class Audit:
    """Where and as whom a command records its events."""

    ledger_path: Path | None
    actor_id: str | None
    key_file: Path | None
    ceremony: int | None

    def open(self) -> tuple[Ledger | None, Actor | None]:
        """The ledger and the actor, or ``(None, None)`` without ``--as``."""
        if self.actor_id is None:
            return None, None
        if self.key_file is None:
            raise click.UsageError("--as needs --key (your signing key file)")
        from tcr_kit.custody.ledger import Ledger

        from ._ledger import actor

        who = actor(self.actor_id, self.key_file)
        ledger = Ledger.open(self.ledger_path, create=False)
        try:
            ledger.use_ceremony(self.ceremony)  # else the ceremony open now, if any
        except BaseException:
            ledger.close()
            raise
        return ledger, who


def parse_cards(specs: tuple[str, ...], module: str | None) -> list[CardSpec]:
    from tcr_kit.hsm.collect import CardSpecError, parse_card_spec

    try:
        return [parse_card_spec(spec, module) for spec in specs]
    except CardSpecError as exc:
        raise click.UsageError(str(exc)) from None


def ask(question: str) -> str:
    """One answer: a prompt on a terminal, else one line of stdin (read from the same
    binary buffer as the PINs, so answers and PINs interleave correctly)."""
    if sys.stdin.isatty():
        asked = one_line(question)
        return str(click.prompt(asked, default="", show_default=False, err=True)).strip()
    say(f"{question}: ", err=True, nl=False)
    line = sys.stdin.buffer.readline().decode("utf-8", "replace").strip()
    say("", err=True)
    return line


def prompts() -> Prompts:
    from tcr_kit.hsm.collect import Prompts

    from .card import read_secret

    def show(line: str) -> None:
        say(line, err=True)

    return Prompts(read_pin=read_secret, progress=progress, warn=warn, ask=ask, say=show)


# fmt: off
def custody_options(f: F) -> F:
    """``--in-person``, the emergency override and the remote approvals of ``hsm activate``,
    given to the command as one ``custody: CustodyOptions``."""

    @functools.wraps(f)
    def command(*args: Any, in_person: Any, override: Any, override_reason: Any,
                override_signers: Any, override_signer_cards: Any, approval_request: Any,
                approvals: Any, **kw: Any) -> Any:
        opts = CustodyOptions(tuple(in_person), tuple(override), override_reason,
                              tuple(override_signers), approval_request, tuple(approvals),
                              tuple(override_signer_cards))
        return f(*args, custody=opts, **kw)

    g = click.option("--approvals", "approvals", multiple=True, type=FILE, metavar="SIG",
                     help="A signed remote approval of --approval-request (repeat).")(command)
    g = click.option("--approval-request", type=FILE, metavar="REQ",
                     help="The approval request the --approvals sign"
                     " (docs/remote-approval.md).")(g)
    g = click.option("--override-signer", "override_signers", multiple=True, metavar="ID=KEY",
                     help="A staff member signing the override, with their key file (twice:"
                     " two staff, neither holding an overridden credential).")(g)
    g = click.option("--override-signer-card", "override_signer_cards", multiple=True,
                     metavar="ID=module=PATH,token-label=L[,pin-file=F]",
                     help="A staff member signing the override with their card's signing key"
                     " (PIN from pin-file, else prompted or read from stdin before any TCR"
                     " card's PIN); counts as one of the two --override-signer.")(g)
    g = click.option("--override-reason", metavar="TEXT",
                     help="Why the override is needed (recorded).")(g)
    g = click.option("--override", "override", multiple=True, metavar="CREDENTIAL",
                     help="Emergency override: let this credential in although custody does"
                     " not account for it (repeat; needs --override-reason and two"
                     " --override-signer).")(g)
    g = click.option("--in-person", "in_person", multiple=True, metavar="HOLDER",
                     help="A TCR in the room presenting their own credential (repeat; checked"
                     " against the ceremony's attendance, recorded).")(g)
    return cast(F, g)
# fmt: on


@dataclass(frozen=True)
class CustodyOptions:
    """What ``hsm activate`` passes to custody: in-person holders, override, approvals."""

    in_person: tuple[str, ...]
    override: tuple[str, ...]
    override_reason: str | None
    override_signers: tuple[str, ...]
    approval_request: Path | None
    approvals: tuple[Path, ...]
    override_signer_cards: tuple[str, ...] = ()
    """``ID=SPEC``: staff members signing the override with their card (``_cosign`` SPEC)."""

    def check(self) -> None:
        """Usage errors (exit 2) before anything is opened."""
        signers = self.override_signers + self.override_signer_cards
        given = (self.override, self.override_reason, signers)
        if any(given) and not all(given):
            raise click.UsageError(
                "an override needs --override CREDENTIAL, --override-reason and --override-signer"
                " (or --override-signer-card)"
            )
        if bool(self.approvals) != (self.approval_request is not None):
            raise click.UsageError("--approvals go with --approval-request (and vice versa)")
        for spec in self.override_signers:
            if "=" not in spec:
                raise click.UsageError(f"--override-signer {spec!r}: expected ID=KEYFILE")
        for spec in self.override_signer_cards:
            _card_signer_spec(spec)

    def kwargs(self, loaded: LoadedConfig, ledger: Ledger | None) -> dict[str, Any]:
        """``Activation`` keyword arguments; the override is signed by :meth:`sign`."""
        out: dict[str, Any] = {"in_person": self.in_person}
        if (self.in_person or self.override) and ledger is None:
            raise click.UsageError("--in-person and --override need the ledger (--as/--key)")
        if self.approval_request is not None:
            from tcr_kit.hsm.approval import ApprovalBundle, load_approval, load_request

            out["approvals"] = ApprovalBundle(
                load_request(self.approval_request),
                tuple(load_approval(p) for p in self.approvals),
            )
        return out

    def sign(self, activation: Activation) -> None:
        """The override signers sign (keys are loaded here, passphrases and PINs asked);
        the activation records a card that refuses (``Activation.sign_override``)."""
        if not self.override or activation.ledger is None:
            return
        from tcr_kit.custody.ledger import Actor

        from ._cosign import open_card_signer
        from ._ledger import actor

        signers = [
            actor(pid, Path(key))
            for pid, _, key in (s.partition("=") for s in self.override_signers)
        ]
        with ExitStack() as cards:  # each card's PIN is wiped once it has signed
            for pid, spec in map(_card_signer_spec, self.override_signer_cards):
                signers.append(Actor(pid, cards.enter_context(open_card_signer(spec, pid))))
            activation.sign_override(self.override, str(self.override_reason), signers)


def _card_signer_spec(value: str) -> tuple[str, str]:
    """``ID=SPEC`` of ``--override-signer-card``: the person and their card's spec (checked)."""
    from ._cosign import parse_card_spec

    pid, _, spec = value.partition("=")
    if not pid or not spec:
        raise click.UsageError(
            f"--override-signer-card {value!r}: expected ID=module=PATH,token-label=L"
        )
    parse_card_spec(spec)
    return pid, spec
