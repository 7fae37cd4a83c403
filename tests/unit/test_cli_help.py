"""``tcr help``, the man page and shell completion: all generated from the click definitions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from tcr_cli.root import tcr
from tests.cli_runner import run_tcr

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent  # where the `tcr` console script of this Python lives


def _command_paths() -> list[tuple[str, ...]]:
    """Every command and sub-command of ``tcr``, as the words that name it."""
    paths: list[tuple[str, ...]] = []

    def walk(cmd: click.Command, ctx: click.Context, path: tuple[str, ...]) -> None:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                paths.append((*path, name))
                walk(sub, click.Context(sub, parent=ctx, info_name=name), (*path, name))

    walk(tcr, click.Context(tcr, info_name="tcr"), ())
    return paths


def _long_options(path: tuple[str, ...]) -> list[str]:
    ctx = click.Context(tcr, info_name="tcr")
    cmd: click.Command = tcr
    for name in path:
        assert isinstance(cmd, click.Group)
        sub = cmd.get_command(ctx, name)
        assert sub is not None
        cmd, ctx = sub, click.Context(sub, parent=ctx, info_name=name)
    return [
        opt
        for param in cmd.params
        if isinstance(param, click.Option) and not param.hidden  # hidden: old aliases
        for opt in (*param.opts, *param.secondary_opts)
        if opt.startswith("--")
    ]


def test_help_prints_what_dash_dash_help_prints_for_every_command() -> None:
    paths = _command_paths()
    assert ("shares", "split") in paths and ("help",) in paths
    differ = []
    for path in [(), *paths]:
        via_help = run_tcr("help", *path, in_process=True, expect=0)
        direct = run_tcr(*path, "--help", in_process=True, expect=0)
        if via_help.stdout != direct.stdout or not direct.stdout.startswith("Usage: tcr"):
            differ.append(" ".join(path))
    assert differ == []


def test_help_in_a_real_process_matches_the_command_help() -> None:
    via_help = run_tcr("help", "hsm", "activate", expect=0)
    direct = run_tcr("hsm", "activate", "--help", expect=0)
    assert via_help.stdout == direct.stdout
    assert via_help.stdout.startswith("Usage: tcr hsm activate [OPTIONS]")


@pytest.mark.parametrize(
    ("words", "error"),
    [
        (["nope"], "error: No such command 'nope'. (see 'tcr --help')"),
        (["shares", "nope"], "error: No such command 'nope'. (see 'tcr shares --help')"),
        (["status", "x"], "error: No such command 'x'. (see 'tcr status --help')"),
        (["--man", "shares"], "error: --man describes every command: give no COMMAND"),
    ],
)
def test_help_for_something_that_is_not_a_command_is_a_usage_error(
    words: list[str], error: str
) -> None:
    proc = run_tcr("help", *words, expect=2)
    assert proc.stderr.splitlines()[0].startswith(error)
    assert proc.stdout == ""


# -- the man page -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def man_page() -> str:
    return run_tcr("help", "--man", expect=0).stdout


def _roff(text: str) -> str:
    return text.replace("-", "\\-")


def test_man_page_describes_every_command_and_every_long_option(man_page: str) -> None:
    assert man_page.startswith(".TH TCR 1 ")
    missing = []
    for path in _command_paths():
        section = f'.SS "{_roff(" ".join(("tcr", *path)))}"\n'
        if section not in man_page:
            missing.append(section.strip())
            continue
        body = man_page.split(section, 1)[1].split(".SS ", 1)[0]
        missing += [f"{' '.join(path)} {o}" for o in _long_options(path) if _roff(o) not in body]
    assert missing == []


def test_man_page_renders_without_troff_warnings(
    man_page: str, require_tool: Callable[[str], str]
) -> None:
    groff = require_tool("groff")
    proc = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", "-rLL=100n"],
        input=man_page,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stderr == ""
    text = re.sub(".\b", "", proc.stdout)  # no bold or underline by overstriking
    assert "tcr shares split [OPTIONS]" in text
    assert "--threshold" in text.replace("\u2010", "-").replace("\u2212", "-")


def test_manpage_script_writes_the_page_where_man_looks(tmp_path: Path, man_page: str) -> None:
    proc = subprocess.run(
        [ROOT / "scripts" / "manpage.sh", tmp_path / "man", VENV_BIN / "tcr"],
        capture_output=True,
        text=True,
        check=True,
    )
    page = tmp_path / "man" / "man1" / "tcr.1"
    assert proc.stdout.strip() == str(page)
    assert page.read_text() == man_page
    assert page.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in page.parent.iterdir()] == ["tcr.1"]


# -- shell completion -------------------------------------------------------------------------


def _complete_in_bash(line: str) -> list[str]:
    """What bash offers for ``line`` (ending at the cursor) with tcr's completion loaded."""
    script = run_tcr(env={"_TCR_COMPLETE": "bash_source"}, expect=0).stdout
    assert "complete " in script and "_tcr_completion" in script
    words = line.split(" ")
    program = (
        f"{script}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        '_tcr_completion tcr; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return [w for w in proc.stdout.splitlines() if w]


def test_bash_completion_completes_commands_sub_commands_and_options() -> None:
    assert _complete_in_bash("tcr sha") == ["shares"]
    assert _complete_in_bash("tcr shares com") == ["combine"]
    assert _complete_in_bash("tcr shares split --thr") == ["--threshold"]


def test_bash_completion_completes_the_command_names_of_tcr_help() -> None:
    assert _complete_in_bash("tcr help hs") == ["hsm"]
    assert _complete_in_bash("tcr help hsm rea") == ["readiness"]


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "#compdef tcr"), ("fish", "complete")])
def test_completion_scripts_for_zsh_and_fish(shell: str, marker: str) -> None:
    script = run_tcr(env={"_TCR_COMPLETE": f"{shell}_source"}, expect=0).stdout
    assert marker in script and "_TCR_COMPLETE" in script


def test_every_lazy_command_is_listed_with_the_first_line_of_its_own_help() -> None:
    """A group lists lazy sub-commands with the one-liners of cli/commands.py (without
    importing them); each must be what the command's own help says first, as one line."""
    import inspect

    from tcr_cli.app import LazyGroup
    from tcr_cli.commands import COMMANDS, SHARES_COMMANDS

    tables: dict[tuple[str, ...], dict[str, tuple[str, str]]] = {}

    def walk(cmd: click.Command, ctx: click.Context, path: tuple[str, ...]) -> None:
        if isinstance(cmd, LazyGroup):
            tables[path] = cmd._lazy
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                walk(sub, click.Context(sub, parent=ctx, info_name=name), (*path, name))

    walk(tcr, click.Context(tcr, info_name="tcr"), ())
    assert tables[()] == COMMANDS and tables[("shares",)] == SHARES_COMMANDS
    differ = []
    for path, table in tables.items():
        group = click.Context(tcr, info_name="tcr")
        for name, (_, listed) in table.items():
            loaded = tcr
            for word in (*path, name):
                assert isinstance(loaded, click.Group)
                sub = loaded.get_command(group, word)
                assert sub is not None
                loaded = sub
            first, _, _ = inspect.cleandoc(loaded.help or "").partition("\n\n")
            if listed != first or "\n" in first:
                differ.append(f"tcr {' '.join((*path, name))}: {listed!r} != {first!r}")
    assert not differ, "\n".join(differ)
