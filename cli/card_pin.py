"""``tcr card change-pin`` and ``tcr card unblock``: the commands that set a card's PIN.

They belong to the ``tcr card`` group (:mod:`.card` adds them); kept apart so each module
holds one kind of command (the card's share and records there, its PIN here).
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import click

from ._cards import OneCard, file_option, force_option, one_card, read_secret
from ._output import say
from .app import emit_json, json_option, quiet_option

__all__ = ["change_pin", "unblock"]


@click.command("change-pin")
@one_card
@file_option("--pin-file", help="Current PIN, 0600 file.")
@file_option("--new-pin-file", help="New PIN, 0600 file.")
@force_option
@json_option
@quiet_option
def change_pin(
    where: OneCard,
    pin_file: Path | None,
    new_pin_file: Path | None,
    force: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Change the card's PIN (stdin order: current PIN, new PIN, new PIN again)."""
    sel = where.select()
    with (
        closing(where.open(sel, force=force)) as c,
        read_secret("Current PIN", pin_file) as old,
        read_secret("New PIN", new_pin_file, confirm=True) as new,
    ):
        c.change_pin(old, new)
        identity = c.identity()
    if as_json:
        emit_json({"ok": True, "card": identity.describe(), "serial": identity.serial})
        return
    say("PIN changed")


@click.command()
@one_card
@file_option("--puk-file", help="PUK (PC/SC) or SO PIN (PKCS#11), 0600 file.")
@file_option("--new-pin-file", help="New PIN, 0600 file.")
@json_option
@quiet_option
def unblock(
    where: OneCard,
    puk_file: Path | None,
    new_pin_file: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Set a new PIN with the PUK / SO PIN (stdin order: PUK, new PIN, new PIN again)."""
    sel = where.select()
    with (
        closing(where.open(sel, force=False)) as c,
        read_secret(sel.unblock_secret, puk_file) as puk,
        read_secret("New PIN", new_pin_file, confirm=True) as new,
    ):
        c.unblock(puk, new)
        identity = c.identity()
    if as_json:
        emit_json({"ok": True, "card": identity.describe(), "serial": identity.serial})
        return
    say("PIN reset; the retry counter is full again")
