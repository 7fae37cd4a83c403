"""Options, prompts and printing shared by the commands that use cards.

``tcr card`` and ``tcr hsm`` name cards with the same options and read PINs the same way:
from a ``--*-pin-file`` (mode 0600), from stdin when it is not a terminal (one per line),
or from a hidden prompt; never from argv or the environment. Reading is
:mod:`tcr_kit.secretio`'s job; this module only supplies click's no-echo prompt and the
terminal-or-pipe decision. Selection refusals from :mod:`tcr_kit.cards` become click usage
errors here, so they keep the "see --help" hint of every other usage error.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tcr_kit import cards, secretio
from tcr_kit.secrets import SecretBuffer

from ._output import one_line, say
from .app import progress

if TYPE_CHECKING:
    from tcr_kit.cards import Card, CardRequest, CardSelector, EnrolmentRecord, ListedCard

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _hidden_prompt(text: str, confirm: bool) -> str:
    # click returns a str, which cannot be wiped; secretio copies it into a buffer at once.
    asked = one_line(text)  # it may name a card by what the card or its record says
    return str(click.prompt(asked, hide_input=True, confirmation_prompt=confirm, err=True))


def read_secret(what: str, path: Path | None = None, *, confirm: bool = False) -> SecretBuffer:
    """One PIN: from ``path`` (0600), stdin (not a TTY: one per line) or a hidden prompt."""
    stream = None if sys.stdin.isatty() else sys.stdin.buffer
    return secretio.read_secret(
        what, path=path, stream=stream, prompt=_hidden_prompt, confirm=confirm, kind="PIN"
    )


# -- options -------------------------------------------------------------------------------


def file_option(*decls: str, **kw: Any) -> Callable[[F], F]:
    return click.option(*decls, type=click.Path(path_type=Path), **kw)


def card_options(prefix: str = "", help_name: str = "the card") -> Callable[[F], F]:
    """``--reader`` or ``--token-label | --token-serial`` (the module is ``--pkcs11-module``)."""
    dash, under = (f"{prefix}-", f"{prefix}_") if prefix else ("", "")

    def deco(f: F) -> F:
        for name, metavar, text in (
            ("reader", "NAME", f"PC/SC reader holding {help_name}."),
            ("token-serial", "S", f"Serial of the PKCS#11 token that is {help_name}."),
            ("token-label", "L", f"Label of the PKCS#11 token that is {help_name}."),
        ):
            dest = under + name.replace("-", "_")
            f = click.option(f"--{dash}{name}", dest, metavar=metavar, help=text)(f)
        return f

    return deco


def module_option(f: F) -> F:
    return click.option(
        "--pkcs11-module",
        metavar="PATH",
        help="PKCS#11 module (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so;"
        " OpenSC: /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so; YubiKey: libykcs11.so).",
    )(f)


@dataclass(frozen=True)
class OneCard:
    """The options naming one card (turned into a selector when the command gets to it)."""

    module: str | None
    label: str | None
    serial: str | None
    reader: str | None
    wait: float

    def select(self) -> CardSelector:
        return usage(cards.select_card, self.module, self.label, self.serial, self.reader)

    def open(
        self, sel: CardSelector, *, force: bool = False, rec: EnrolmentRecord | None = None
    ) -> Card:
        """Open the card, asking for it by its record and waiting up to ``--wait`` seconds."""
        who = rec.describe_card() if rec is not None else "the card"
        return cards.open_card(sel, allow_last_try=force, wait=self.wait, ask=ask, card_name=who)


def one_card(f: Callable[..., None]) -> Callable[..., None]:
    """``--pkcs11-module``, the card options and ``--wait``, given to ``f`` as one
    :class:`OneCard` (its first argument)."""

    @functools.wraps(f)
    def run(
        *, pkcs11_module: str | None, token_label: str | None, token_serial: str | None,
        reader: str | None, wait: float, **kw: Any,
    ) -> None:  # fmt: skip
        f(OneCard(pkcs11_module, token_label, token_serial, reader, wait), **kw)

    run = click.option(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="PC/SC: wait this long for the card to be inserted.",
    )(run)
    return module_option(card_options()(run))


force_option = click.option("--force", is_flag=True, help="Allow spending the last PIN try.")


# -- calling the library -------------------------------------------------------------------


def usage(call: Callable[..., T], *args: Any) -> T:
    """A selection refusal is a usage error: click's, so it carries the '--help' hint."""
    try:
        return call(*args)
    except cards.CardSelectionError as exc:
        raise click.UsageError(str(exc)) from None


def ask(request: CardRequest) -> None:
    progress(f"{request.describe()} ...")


def load_optional(path: Path | None) -> EnrolmentRecord | None:
    return None if path is None else cards.load_record(path)


def confirm(action: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError(f"{action} needs a typed 'yes' at a terminal; use --yes in scripts")
    answer = click.prompt(
        one_line(f"{action}: type 'yes' to go on"), default="", show_default=False, err=True
    )
    if answer != "yes":
        raise click.exceptions.Abort()


# -- printing ------------------------------------------------------------------------------


def with_words(facts: dict[str, Any]) -> dict[str, Any]:
    """Add PGP words next to every digest and fingerprint, the way people compare them."""
    from tcr_kit.audit.pgpwords import digest_words

    out: dict[str, Any] = {}
    for key, value in facts.items():
        out[key] = value
        if key in ("share_digest", "share_key_fingerprint", "signing_key_fingerprint") and value:
            out[f"{key}_words"] = digest_words(bytes.fromhex(value))[1]
    return out


def print_facts(facts: dict[str, Any]) -> None:
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        if value is not None:
            say(f"{key.ljust(width)}  {value}")


def listed_row(listed: ListedCard) -> dict[str, Any]:
    if listed.facts is None:
        return {"backend": listed.backend, "location": listed.location, "state": listed.state}
    row = with_words(listed.facts.to_dict())
    if listed.record is not None:
        tcr = listed.record.tcr
        row.update(tcr=f"{tcr.id} ({tcr.name})", record_matches=listed.record_matches)
    return row
