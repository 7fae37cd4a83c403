"""Entry point of the ``tcr`` command."""

from __future__ import annotations

import click

from cli.app import LazyGroup, run
from tcr_kit import __version__

# name -> ("module:attribute", one-line help). Imported only when the command is used.
COMMANDS: dict[str, tuple[str, str]] = {
    "card": ("cli.card:card", "Enrol, check, rotate and wipe TCR smartcards and tokens."),
    "shares": ("cli.shares:shares", "Split secrets into shares, combine, inspect, convert."),
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tcr")
def tcr() -> None:
    """tcr-kit: threshold credentials for key ceremonies.

    \b
    Exit codes: 0 ok, 1 operational failure, 2 usage error,
    3 integrity failure, 4 quorum not met.
    """


def main() -> None:
    run(tcr)


if __name__ == "__main__":
    main()
