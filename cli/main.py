"""Entry point of the ``tcr`` command.

``tcr --help`` and ``tcr --version`` are answered without importing click (about 50 ms of
the start-up): the text is rendered from the same command table and root docstring that the
click group uses, and a test checks that both render identically.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .commands import COMMANDS, ROOT_DOC


def static_help(width: int = 80) -> str:
    """The root help text, exactly as click renders it for this group."""
    lines = ["Usage: tcr [OPTIONS] COMMAND [ARGS]...", ""]
    paragraphs = ROOT_DOC.split("\n\n")
    for paragraph in paragraphs:
        if paragraph.startswith("\b\n"):
            lines += ["  " + line for line in paragraph[2:].splitlines()]
        else:
            lines.append("  " + " ".join(paragraph.split()))
        lines.append("")
    options = [
        ("--version", "Show the version and exit."),
        ("-h, --help", "Show this message and exit."),
    ]
    lines.append("Options:")
    pad = max(len(name) for name, _ in options)
    lines += [f"  {name.ljust(pad)}  {text}" for name, text in options]
    lines += ["", "Commands:"]
    pad = max(len(name) for name in COMMANDS)
    lines += [f"  {name.ljust(pad)}  {COMMANDS[name][1]}" for name in sorted(COMMANDS)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``tcr`` on ``argv`` (default ``sys.argv[1:]``); exits with the command's code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--help"], ["-h"]):
        sys.stdout.write(static_help())
        return
    if args == ["--version"]:
        from tcr_kit import __version__

        sys.stdout.write(f"tcr, version {__version__}\n")
        return
    from ._collection import defer_collection
    from .app import run
    from .root import tcr

    if argv is None:  # this process runs one command and exits (not a caller's process)
        defer_collection()
    run(tcr, args)


if __name__ == "__main__":
    main()
