"""The co-signing options of custody commands (``--witness-key``, ``--override-card``,
``--second-signature``, ``--signing-request``, ...): how the people a change names as
vouching for it sign its audit event, kept apart from the ledger options of ``_ledger``."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from tcr_kit.cards.signing import CardSigner
    from tcr_kit.custody.ledger import Ledger

F = TypeVar("F", bound=Callable[..., Any])

_COSIGN = "tcr_kit.cosign"
"""Key in ``ctx.meta`` of the co-signing options given: ``{(role, kind): value}``."""
COSIGN_ROLES = {"witness": "witness", "override": "override_by", "second": "second"}
"""Co-signing role (option prefix) -> the command parameter naming that person."""


def _set_cosign(role: str, kind: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None:
            ctx.meta.setdefault(_COSIGN, {})[(role, kind)] = value

    return store


def cosign_options(*roles: str) -> Callable[[F], F]:
    """How the people a change names as vouching for it (``--witness``, ``--override-by``,
    ``--second``) co-sign its audit event in this command: ``--ROLE-key FILE`` (their key
    file), ``--ROLE-card SPEC`` (their card's signing key) or ``--ROLE-signature FILE``
    (made elsewhere by ``tcr witness sign`` from ``--signing-request``)."""

    def deco(f: F) -> F:
        f = click.option(
            "--signing-request",
            type=click.Path(dir_okay=False, path_type=Path),
            expose_value=False,
            callback=_set_cosign("*", "request"),
            help="With --dry-run: write the exact event for each co-signer who has not "
            "signed to FILE ('tcr witness sign FILE' on their machine); several co-signers: "
            "FILE-PERSON.json.",
        )(f)
        for role in reversed(roles):
            who = COSIGN_ROLES[role].replace("_", "-")
            f = click.option(
                f"--{role}-signature",
                type=click.Path(dir_okay=False, exists=True, path_type=Path),
                expose_value=False,
                callback=_set_cosign(role, "signature"),
                help=f"The --{who} person's co-signature made by 'tcr witness sign'.",
            )(f)
            f = click.option(
                f"--{role}-card",
                metavar="SPEC",
                expose_value=False,
                callback=_set_cosign(role, "card"),
                help=f"The --{who} person's card co-signs: "
                "module=PATH,token-label=L[,pin-file=F] (PIN prompted if no pin-file).",
            )(f)
            f = click.option(
                f"--{role}-key",
                type=click.Path(dir_okay=False, exists=True, path_type=Path),
                expose_value=False,
                callback=_set_cosign(role, "key"),
                help=f"The --{who} person's key file (0600): they co-sign here.",
            )(f)
        return f

    return deco


def parse_card_spec(spec: str) -> dict[str, str]:
    """``module=PATH,token-label=L[,token-serial=S][,pin-file=F]`` as a dict."""
    out: dict[str, str] = {}
    for item in spec.split(","):
        name, sep, value = item.partition("=")
        if not sep or name not in ("module", "token-label", "token-serial", "pin-file"):
            raise click.UsageError(
                f"card {spec!r}: expected module=PATH,token-label=L[,pin-file=F]"
            )
        out[name] = value
    if "module" not in out:
        raise click.UsageError(f"card {spec!r}: module=PATH is needed")
    return out


def open_card_signer(spec: str, whose: str) -> CardSigner:
    """The signing key of the card ``spec`` names, its PIN read from ``pin-file`` or
    prompted (never argv); the caller closes it (the PIN is wiped)."""
    from tcr_kit import cards
    from tcr_kit.cards.signing import CardSigner

    from ._cards import read_secret, usage

    fields = parse_card_spec(spec)
    sel = usage(
        cards.select_card,
        fields["module"],
        fields.get("token-label"),
        fields.get("token-serial"),
        None,
    )
    card = cards.open_card(sel, card_name=f"the card of {whose}")
    pin_file = fields.get("pin-file")
    with read_secret(f"PIN of {whose}'s card", Path(pin_file) if pin_file else None) as pin:
        return CardSigner(card, pin)


def use_cosigners(led: Ledger, stack: ExitStack) -> None:
    """Give the ledger the co-signatures the command's options name."""
    from tcr_kit.audit.cosign import WitnessSignature, WitnessSigner

    from ._ledger import load_signer

    ctx = click.get_current_context(silent=True)
    given = ctx.meta.get(_COSIGN) if ctx is not None else None
    if not given:
        return
    found: list[WitnessSigner | WitnessSignature] = []
    for (role, kind), value in sorted(given.items()):
        if role == "*":
            continue
        person = ctx.params.get(COSIGN_ROLES[role]) if ctx is not None else None
        if not isinstance(person, str):
            who = COSIGN_ROLES[role].replace("_", "-")
            raise click.UsageError(f"--{role}-{kind} needs --{who} (whose it is)")
        if kind == "key":
            found.append(WitnessSigner(person, load_signer(value)))
        elif kind == "card":
            found.append(
                WitnessSigner(person, stack.enter_context(open_card_signer(value, person)))
            )
        else:
            signature = WitnessSignature.load(value)
            if signature.person != person:
                raise click.UsageError(f"{value} is {signature.person}'s signature, not {person}'s")
            found.append(signature)
    led.use_cosigners(found)
    if ("*", "request") in given:
        if ctx is None or not ctx.params.get("dry_run"):
            raise click.UsageError("--signing-request prepares the event only: add --dry-run")
        led.prepare_signing_requests()


def _signing_request_path() -> Path | None:
    ctx = click.get_current_context(silent=True)
    given = ctx.meta.get(_COSIGN) if ctx is not None else None
    value = given.get(("*", "request")) if given else None
    return value if isinstance(value, Path) else None


def write_signing_requests(ledger: Ledger, dry_run: bool) -> list[dict[str, Any]]:
    """Write the signing requests of a dry run to ``--signing-request`` (one file per
    co-signer); what was written, for the report."""
    import json

    from tcr_kit.audit.pgpwords import digest_words
    from tcr_kit.fileio import write_new_file

    path = _signing_request_path()
    if path is None or not dry_run:
        return []
    requests = ledger.signing_requests()
    out = []
    for r in requests:
        target = path if len(requests) == 1 else path.with_name(f"{path.stem}-{r.person}.json")
        data = (json.dumps(r.to_json(), indent=1, sort_keys=True) + "\n").encode("ascii")
        write_new_file(target, data, mode=0o644)
        hex_, words = digest_words(r.hash)
        out.append({"person": r.person, "file": str(target), "sha256": hex_, "words": words})
    return out
