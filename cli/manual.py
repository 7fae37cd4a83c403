"""``tcr help [COMMAND [SUB]]`` and ``tcr help --man``, both from the click definitions.

``tcr help shares split`` prints exactly what ``tcr shares split --help`` prints: it builds
the same chain of click contexts and asks the last one for its help (``tcr help`` alone
prints the static root help of ``tcr --help``). ``tcr help --man``
writes one man page (troff, section 1) describing every command and sub-command, their
usage, help text and options, as ``--help`` shows them; ``scripts/manpage.sh`` installs it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import click
from click.shell_completion import CompletionItem

from tcr_kit import __version__

from .app import emit_json, json_option, quiet_option
from .commands import ROOT_DOC
from .main import static_help


def command_context(root: click.Context, names: Sequence[str]) -> click.Context:
    """The context ``tcr NAMES... --help`` would render its help from."""
    ctx = root
    for name in names:
        group = ctx.command
        sub = group.get_command(ctx, name) if isinstance(group, click.Group) else None
        if sub is None:
            raise click.UsageError(f"No such command {name!r}.", ctx=ctx)
        ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
    return ctx


def _complete_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    typed = ctx.params.get("names") or ()
    try:
        target = command_context(ctx.find_root(), typed)
    except click.UsageError:
        return []
    group = target.command
    if not isinstance(group, click.Group):
        return []
    return [
        CompletionItem(name) for name in group.list_commands(target) if name.startswith(incomplete)
    ]


@click.command("help")
@click.argument("names", nargs=-1, metavar="[COMMAND [SUB]]", shell_complete=_complete_names)
@click.option("--man", is_flag=True, help="Print a man page (troff) of every command instead.")
@json_option
@quiet_option
@click.pass_context
def help_command(
    ctx: click.Context, names: tuple[str, ...], man: bool, as_json: bool, quiet: bool
) -> None:
    """Show a command's help, or the man page (--man).

    The help of a command is what COMMAND --help prints."""
    root = ctx.find_root()
    if man:
        if names:
            raise click.UsageError("--man describes every command: give no COMMAND")
        text, kind = man_page(root), "man"
    elif not names:  # what `tcr --help` prints, and that is answered without click
        text, kind = static_help(), "help"
    else:
        text, kind = command_context(root, names).get_help() + "\n", "help"
    if as_json:
        emit_json({"ok": True, "command": " ".join(["tcr", *names]), kind: text})
        return
    click.echo(text, nl=False, color=ctx.color)


# -- the man page ---------------------------------------------------------------------------


def _roff(text: str) -> str:
    """Escape text for troff: backslashes, minus signs, and control characters at line start."""
    out = []
    for line in text.replace("\\", "\\e").replace("-", "\\-").splitlines():
        out.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(out)


def _paragraphs(text: str) -> Iterator[str]:
    """click help text as troff paragraphs; ``\\b`` paragraphs keep their line breaks."""
    for paragraph in text.split("\f")[0].strip().split("\n\n"):
        if paragraph.startswith("\b\n"):
            yield ".PP\n.nf\n" + _roff(paragraph[2:]) + "\n.fi"
        elif paragraph.strip():
            yield ".PP\n" + _roff(" ".join(paragraph.split()))


def _options(ctx: click.Context, with_help: bool = False) -> Iterator[str]:
    help_option = None if with_help else ctx.command.get_help_option(ctx)
    for param in ctx.command.get_params(ctx):
        record = None if param is help_option else param.get_help_record(ctx)
        if record is not None:
            names, text = record
            yield f".TP\n\\fB{_roff(names)}\\fR\n{_roff(text)}"


def _walk(ctx: click.Context) -> Iterator[click.Context]:
    """Every command below ``ctx`` (depth first, by name), each in its own context."""
    group = ctx.command
    if not isinstance(group, click.Group):
        return
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        sub_ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
        yield sub_ctx
        yield from _walk(sub_ctx)


def man_page(root: click.Context) -> str:
    """The ``tcr(1)`` man page, rendered from the click command tree under ``root``."""
    summary = ROOT_DOC.split("\n", 1)[0].split(":", 1)[-1].strip().rstrip(".")
    lines = [
        f'.TH TCR 1 "" "tcr-kit {__version__}" "User Commands"',
        ".ad l",
        ".SH NAME",
        f"tcr \\- {_roff(summary)}",
        ".SH SYNOPSIS",
        f".B tcr\n{_roff(' '.join(root.command.collect_usage_pieces(root)))}",
        ".SH DESCRIPTION",
        *_paragraphs(root.command.help or ""),
        ".PP",
        "Every command prints its own help with \\fB\\-\\-help\\fR or "
        "\\fBtcr help\\fR \\fICOMMAND\\fR [\\fISUB\\fR].",
        ".SH OPTIONS",
        *_options(root, with_help=True),
        ".SH COMMANDS",
    ]
    for ctx in _walk(root):
        usage = " ".join(ctx.command.collect_usage_pieces(ctx))
        lines += [
            f'.SS "{_roff(ctx.command_path)}"',
            f".B {_roff(ctx.command_path)}\n{_roff(usage)}",
            *_paragraphs(ctx.command.help or ctx.command.short_help or ""),
            *_options(ctx),
        ]
    lines += [
        ".SH ENVIRONMENT",
        ".TP",
        "\\fB_TCR_COMPLETE\\fR",
        'Shell completion: \\fBeval "$(_TCR_COMPLETE=bash_source tcr)"\\fR '
        "(or zsh_source, fish_source).",
        "",
    ]
    return "\n".join(lines)
