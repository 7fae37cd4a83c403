"""The one way tests run the ``tcr`` command.

``run_tcr("shares", "split", ...)`` runs ``python -m tcr_cli.main`` in a child process, as a
user runs it: real exit codes, real stdin/stdout/stderr, real file descriptors. With
``in_process=True`` it runs the same entry point inside the test process (click's
``CliRunner`` isolation), which is much faster for long scenarios of many commands.

Either way the result is a :class:`subprocess.CompletedProcess` (``returncode``, ``stdout``,
``stderr``), as text unless ``text=False``. ``expect=CODE`` asserts the exit code (showing
stderr when it differs) and that no traceback escaped.

Every helper that starts a ``tcr`` child passes :data:`CHILD` (``preexec_fn``
:func:`default_sighup`): a test run under ``nohup`` (the mutation runner) ignores SIGHUP,
an ignored signal stays ignored across ``exec``, and the child would then survive a hangup
that ends it for a user.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Literal, overload

Arg = str | os.PathLike[str]

TCR_COMMAND = [sys.executable, "-m", "tcr_cli.main"]
"""How a child process runs ``tcr`` (the interpreter of the tests, whatever is on PATH)."""


def default_sighup() -> None:
    """Give SIGHUP its default action in a child, between fork and exec (``preexec_fn``).

    Only ``signal.signal`` runs there: no import, no lock (``signal`` is loaded already;
    CPython makes the forking thread the child's main thread before ``preexec_fn``)."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


CHILD = {"preexec_fn": default_sighup}
"""Keyword arguments of ``subprocess.run``/``Popen`` for every ``tcr`` child a test starts."""


@overload
def run_tcr(
    *args: Arg,
    input: str | None = ...,
    env: Mapping[str, str] | None = ...,
    cwd: Arg | None = ...,
    expect: int | None = ...,
    timeout: float = ...,
    text: Literal[True] = ...,
    in_process: bool = ...,
    program: Sequence[Arg] | None = ...,
) -> subprocess.CompletedProcess[str]: ...


@overload
def run_tcr(
    *args: Arg,
    input: bytes | None = ...,
    env: Mapping[str, str] | None = ...,
    cwd: Arg | None = ...,
    expect: int | None = ...,
    timeout: float = ...,
    text: Literal[False],
    in_process: bool = ...,
    program: Sequence[Arg] | None = ...,
) -> subprocess.CompletedProcess[bytes]: ...


def run_tcr(
    *args: Arg,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Arg | None = None,
    expect: int | None = None,
    timeout: float = 120,
    text: bool = True,
    in_process: bool = False,
    program: Sequence[Arg] | None = None,
) -> subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]:
    """Run ``tcr ARGS``; ``env`` adds to (never replaces) the current environment.

    ``program`` is the command that is ``tcr`` (default :data:`TCR_COMMAND`), e.g. the
    ``tcr`` script of another virtual environment.
    """
    argv = [os.fspath(a) for a in args]
    if in_process:
        assert program is None, "in_process runs this interpreter's tcr_cli"
        proc = _in_process(argv, input, env, cwd, text)
    else:
        proc = subprocess.run(
            [*(os.fspath(p) for p in (program or TCR_COMMAND)), *argv],
            input=input,
            capture_output=True,
            text=text,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            timeout=timeout,
            check=False,
            **CHILD,
        )
    if expect is not None:
        err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors="replace")
        assert proc.returncode == expect, f"tcr {' '.join(argv)} -> {proc.returncode}\n{err}"
        assert "Traceback" not in err, err
    return proc


def _in_process(
    argv: list[str],
    input: str | bytes | None,
    env: Mapping[str, str] | None,
    cwd: Arg | None,
    text: bool,
) -> subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]:
    from click.testing import CliRunner

    from tcr_cli.main import main

    code = 0
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        streams = stack.enter_context(CliRunner().isolation(input=input, env=env))
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = streams[0].getvalue(), streams[1].getvalue()
    if text:
        return subprocess.CompletedProcess(argv, code, out.decode(), err.decode())
    return subprocess.CompletedProcess(argv, code, out, err)
