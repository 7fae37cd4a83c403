"""Shared machinery of every ``tcr`` command: lazy sub-commands, ``--json``, exit codes.

Sub-command groups are imported only when named, so ``tcr --help`` does not pay for numpy,
pkcs11 or pyscard. Every deliberate library error (:class:`tcr_kit.errors.TcrError`) becomes
one line on stderr and its documented exit code; with ``--json`` the same code and message
are also printed as a JSON object on stdout.

The ``--json``/``--quiet`` state of one invocation is a :class:`CliState` in click's context
object (``ctx.obj``), created fresh by :func:`run`; nothing is kept in module globals, so
two invocations in one process (tests, scripts) never see each other's flags.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from tcr_kit.errors import ExitCode, TcrError

from ._collection import resume_collection_when_invoked
from ._output import one_line

F = TypeVar("F", bound=Callable[..., Any])

# click >= 8.2 raises this when a group is called without a sub-command.
_NO_ARGS_IS_HELP: type[click.UsageError] = getattr(
    click.exceptions, "NoArgsIsHelpError", click.exceptions.UsageError
)


@dataclass
class CliState:
    """The output flags of one ``tcr`` invocation, kept in click's ``ctx.obj``."""

    json: bool = False
    quiet: bool = False


def cli_state() -> CliState:
    """The state of the running invocation; the defaults outside any click command."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return CliState()
    return ctx.ensure_object(CliState)


class LazyGroup(click.Group):
    """A click group whose sub-commands are ``module:attribute`` strings, imported on use."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        # name -> (import path "module:attr", one-line help shown by --help)
        self._lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self._lazy:
            module_name, attr = self._lazy[name][0].split(":")
            cmd = getattr(importlib.import_module(module_name), attr)
            if not isinstance(cmd, click.Command):
                raise TypeError(f"{module_name}:{attr} is not a click command")
            add_quiet_everywhere(cmd)
            resume_collection_when_invoked(cmd)
            return cmd
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Show help for lazy commands without importing them.
        rows = [(name, self._lazy[name][1]) for name in sorted(self._lazy)]
        rows += [
            (name, cmd.get_short_help_str())
            for name, cmd in sorted(self.commands.items())
            if name not in self._lazy and not cmd.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.ensure_object(CliState).json = True
    return value


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.ensure_object(CliState).quiet = True
    return value


def json_option(f: F) -> F:
    """``--json``: machine-readable output on stdout (errors too, with their exit code)."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=True,
        callback=_set_json,
        help="Print a JSON object on stdout instead of a human table.",
    )(f)


def json_mode_option(f: F) -> F:
    """``--json`` for commands that read it through :func:`json_mode` instead of a
    parameter (shared output helpers, such as the PDF writer of ``tcr report form``)."""
    return click.option(
        "--json",
        is_flag=True,
        expose_value=False,
        callback=_set_json,
        help="Print a JSON object on stdout instead of a human table.",
    )(f)


def quiet_option(f: F) -> F:
    """``--quiet``: no progress or warnings on stderr."""
    return click.option(
        "--quiet", "-q", is_flag=True, callback=_set_quiet, help="No progress or warnings."
    )(f)


def add_quiet_everywhere(cmd: click.Command) -> None:
    """Give every command of ``cmd`` a ``--quiet/-q`` (no progress or warnings), so the
    flag is accepted everywhere; commands that print more or less with it declare their
    own :func:`quiet_option`."""
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            add_quiet_everywhere(sub)
        return
    opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
    if "--quiet" in opts or "-q" in opts:
        return
    cmd.params.append(
        click.Option(
            ["--quiet", "-q"],
            is_flag=True,
            expose_value=False,
            callback=_set_quiet,
            help="No progress or warnings.",
        )
    )


def ensure_output_dir(path: Path) -> None:
    """Create a missing output folder (and its parents) with mode 0700; an existing folder
    is used as it is."""
    from tcr_kit.errors import OperationalError

    if path.is_dir():
        return
    try:
        path.mkdir(mode=0o700, parents=True)
        path.chmod(0o700)
    except FileExistsError:
        raise OperationalError(f"{path}: exists and is not a folder") from None
    except OSError as exc:
        raise OperationalError(f"{path}: cannot create the folder: {exc.strerror}") from None


def json_mode() -> bool:
    """True when ``--json`` was given to the running command."""
    return cli_state().json


def emit_json(obj: Any) -> None:
    """Print one JSON document on stdout."""
    import json  # only --json output needs it: not every command's start-up

    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def warn(message: str) -> None:
    """A warning on stderr (silenced by --quiet): one line, whatever names it holds
    (:func:`~cli._output.one_line`, as errors)."""
    if not cli_state().quiet:
        click.echo(f"warning: {one_line(message)}", err=True)


def progress(message: str) -> None:
    """A progress line on stderr (silenced by --quiet); never on stdout; one line."""
    if not cli_state().quiet:
        click.echo(one_line(message), err=True)


PROGRESS_AFTER_ENV = "TCR_PROGRESS_AFTER"
"""Seconds of work before a progress bar appears (default 1; tests set 0)."""


class TerminalProgress:
    """A progress bar on stderr for one long step, drawn by click once the step has run
    for a second (:data:`PROGRESS_AFTER_ENV`): quick steps print nothing. Made only by
    :func:`progress_bar`, which decides whether a bar may be shown at all. The bar finishes
    by itself when the count reaches the total, or on :meth:`close`."""

    def __init__(self, label: str, total: int, *, unit: str, after: float) -> None:
        self.label, self.total, self.unit = label, total, unit
        self._after = after
        self._start = time.monotonic()
        self._done = 0
        self._bar: Any = None
        self._closed = False

    def advance(self, amount: int) -> None:
        """``amount`` more done (bytes of a split or combine)."""
        self.update(self._done + amount, self.total)

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` (signatures of a verification)."""
        if self._closed:
            return
        step, self._done, self.total = done - self._done, done, total
        if self._bar is None:
            if time.monotonic() - self._start < self._after or self.total <= 0:
                return
            self._bar = click.progressbar(
                length=self.total,
                label=self.label,
                file=sys.stderr,
                show_pos=self.unit != "bytes",
                show_eta=True,
            )
            self._bar.update(done)
        else:
            self._bar.update(step)
        if done >= self.total:
            self.close()

    def close(self) -> None:
        """End the bar's line (a no-op when no bar was drawn)."""
        if self._bar is not None and not self._closed:
            self._bar.render_finish()
        self._closed = True


def progress_bar(label: str, total: int | None, *, unit: str = "bytes") -> TerminalProgress | None:
    """A bar for a step of ``total`` units, or ``None`` (nothing to pay in the library's
    loops) when there must be none: stderr is not a terminal (a pipe, a log file),
    ``--json`` or ``--quiet`` was given, or the total is unknown (a secret read from a
    pipe)."""
    state = cli_state()
    if state.quiet or state.json or not total or not sys.stderr.isatty():
        return None
    try:
        after = float(os.environ.get(PROGRESS_AFTER_ENV, "1"))
    except ValueError:
        after = 1.0
    bar = TerminalProgress(label, total, unit=unit, after=after)
    # A step that fails half-way still ends the bar's line and shows the cursor again
    # before the error is printed (the command's context closes first).
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(bar.close)
    return bar


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """``1 event``, ``2 events``: a count with its noun in the right number."""
    return f"{number} {noun if number == 1 else (plural or noun + 's')}"


def human(value: Any) -> str:
    """A value as people read it: no Python reprs (``-`` for none, yes/no, lists joined)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(human(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={human(v)}" for k, v in value.items()) or "-"
    return str(value)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain aligned text table; a cell holding a control character (a line break in a
    label read from a card or a file) shows its escape, so each row stays one line."""
    cells = [[one_line(human(r.get(c, ""))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


class AlreadyReported(Exception):
    """The command has already printed its whole answer (e.g. the one JSON document on
    stdout) and only its exit code is left: :func:`run` exits with it and prints nothing."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(exit_code)
        self.exit_code = int(exit_code)


def _report_error(state: CliState, code: int, message: str) -> None:
    """One ``error:`` line on stderr (and the JSON answer with ``--json``): ``message``
    names what a file or log spells (a person, a path), so a forged name must not print a
    second line under it (:func:`~cli._output.one_line`)."""
    message = one_line(message)
    click.echo(f"error: {message}", err=True)
    if state.json:
        emit_json({"ok": False, "exit_code": int(code), "error": message})


def _detach_stdout_if_broken() -> None:
    """If stdout can no longer be written (a full device, a closed pipe), point it at
    /dev/null, so that the interpreter's final flush does not fail again."""
    try:
        sys.stdout.flush()
        return
    except (OSError, ValueError):
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):
        pass


def run(group: click.Command, args: Sequence[str] | None = None) -> None:
    """Run ``group`` as ``tcr`` on ``args`` (default ``sys.argv[1:]``) and turn every
    deliberate error into one line and its exit code."""
    state = CliState()
    try:
        code = group.main(args=args, prog_name="tcr", standalone_mode=False, obj=state)
    except AlreadyReported as exc:
        sys.exit(exc.exit_code)
    except TcrError as exc:
        _report_error(state, exc.exit_code, str(exc))
        sys.exit(int(exc.exit_code))
    except _NO_ARGS_IS_HELP as exc:
        click.echo(str(exc.format_message()), err=True)
        sys.exit(int(ExitCode.USAGE))
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _report_error(state, ExitCode.USAGE, f"{exc.format_message()}{hint}")
        sys.exit(int(ExitCode.USAGE))
    except click.ClickException as exc:
        _report_error(state, exc.exit_code or ExitCode.FAILURE, exc.format_message())
        sys.exit(exc.exit_code or int(ExitCode.FAILURE))
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(int(ExitCode.FAILURE))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:  # an I/O failure no command turned into a TcrError: still one line
        reason = exc.strerror or str(exc)
        if exc.filename:
            _report_error(state, ExitCode.FAILURE, f"{exc.filename}: {reason}")
        else:  # without a file name it was the command's own output that failed
            _detach_stdout_if_broken()
            click.echo(f"error: stdout: cannot write: {reason}", err=True)
        sys.exit(int(ExitCode.FAILURE))
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    if isinstance(code, int) and code:  # a command's ctx.exit(n): click returns n here
        sys.exit(code)
