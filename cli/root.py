"""The click root group of ``tcr``."""

from __future__ import annotations

import click

from tcr_kit import __version__

from .app import LazyGroup
from .commands import COMMANDS, ROOT_DOC


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    help=ROOT_DOC,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="tcr")
def tcr() -> None:
    pass
