"""The command table of ``tcr``: importable without click, so ``tcr --help`` starts fast."""

from __future__ import annotations

VERSION_PROG = "tcr"

ROOT_DOC = """tcr-kit: threshold credentials for key ceremonies.

\b
Exit codes: 0 ok, 1 operational failure, 2 usage error,
3 integrity failure, 4 quorum not met."""

# name -> ("module:attribute", one-line help). Imported only when the command is used.
COMMANDS: dict[str, tuple[str, str]] = {
    "card": ("cli.card:card", "Enrol, check, rotate and wipe TCR smartcards and tokens."),
    "shares": ("cli.shares:shares", "Split secrets into shares, combine, inspect, convert."),
}
