from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from tcr_cli import app
from tcr_cli.app import CliState, json_mode, json_option, progress, quiet_option, warn
from tcr_cli.main import static_help
from tcr_cli.root import tcr
from tests.cli_runner import run_tcr


def test_fast_help_is_exactly_what_click_renders() -> None:
    result = CliRunner().invoke(tcr, ["--help"], terminal_width=80)
    assert result.exit_code == 0
    assert static_help() == result.output


def test_fast_version_matches_click() -> None:
    clicked = CliRunner().invoke(tcr, ["--version"]).output
    fast = subprocess.run(
        [sys.executable, "-m", "tcr_cli.main", "--version"], capture_output=True, check=True
    ).stdout.decode()
    assert fast == clicked


def test_help_does_not_import_click_or_numpy() -> None:
    code = (
        "import sys, runpy; sys.argv=['tcr','--help'];"
        "runpy.run_module('tcr_cli.main', run_name='__main__');"
        "heavy = ('click', 'numpy', 'pydantic');"
        "sys.stderr.write(repr(sorted(m for m in heavy if m in sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert proc.stderr.decode() == "[]"


def test_every_registered_command_group_imports() -> None:
    from tcr_cli.commands import COMMANDS

    for name in COMMANDS:
        assert tcr.get_command(None, name) is not None  # type: ignore[arg-type]


def test_shares_format_list_names_every_peer_format() -> None:
    import tcr_cli._shares_options
    from tcr_kit.sharing.foreign import FOREIGN_FORMATS

    assert sorted(tcr_cli._shares_options.FORMATS) == sorted(["native", *FOREIGN_FORMATS])


# -- the state of one invocation lives in click's ctx.obj ----------------------------------


def test_json_flag_of_one_invocation_does_not_leak_into_the_next() -> None:
    split = ["shares", "split", "-m", "2", "-n", "3", "-i", "/nonexistent/secret", "-o", "/tmp"]
    first = run_tcr(*split, "--json", in_process=True)
    assert first.returncode == 2 and json.loads(first.stdout)["exit_code"] == 2
    second = run_tcr(*split, in_process=True)
    assert second.returncode == 2
    assert second.stdout == ""
    assert second.stderr.startswith("error: ")


@click.command()
@json_option
@quiet_option
def _probe(as_json: bool, quiet: bool) -> None:
    click.echo(f"json_mode={json_mode()}")
    warn("careful")
    progress("working")


@pytest.mark.parametrize(
    ("args", "stdout", "stderr"),
    [
        ([], "json_mode=False\n", "warning: careful\nworking\n"),
        (["--json"], "json_mode=True\n", "warning: careful\nworking\n"),
        (["--quiet"], "json_mode=False\n", ""),
        (["--json", "-q"], "json_mode=True\n", ""),
    ],
)
def test_output_helpers_follow_the_flags_of_the_running_command(
    args: list[str], stdout: str, stderr: str
) -> None:
    result = CliRunner().invoke(_probe, args, obj=CliState())
    assert result.exit_code == 0, result.output
    assert (result.stdout, result.stderr) == (stdout, stderr)


def test_flags_are_kept_in_the_context_object_given_to_the_command() -> None:
    state = CliState()
    result = CliRunner().invoke(_probe, ["--json", "--quiet"], obj=state)
    assert result.exit_code == 0
    assert state == CliState(json=True, quiet=True)


def test_output_helpers_outside_any_command_use_the_defaults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert json_mode() is False
    warn("outside")
    assert capsys.readouterr().err == "warning: outside\n"


def test_the_cli_keeps_no_flag_state_in_module_globals() -> None:
    mutable = {
        name: type(value).__name__
        for name, value in vars(app).items()
        if not name.startswith("__") and isinstance(value, dict | list | set | CliState)
    }
    assert mutable == {}


def _exit_code_of(command: click.Command, args: list[str]) -> int:
    from tcr_cli.app import run

    try:
        run(command, args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_a_command_that_already_printed_its_answer_exits_with_its_code_and_nothing_more(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tcr_cli.app import AlreadyReported, emit_json

    @click.command()
    def answer() -> None:
        emit_json({"ok": False, "verdict": "not-ready"})
        raise AlreadyReported(4)

    assert _exit_code_of(answer, []) == 4
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ok": False, "verdict": "not-ready"}  # one document, no error
    assert err == ""


def test_a_commands_ctx_exit_code_is_the_process_exit_code() -> None:
    @click.command()
    @click.pass_context
    def leave(ctx: click.Context) -> None:
        ctx.exit(3)

    assert _exit_code_of(leave, []) == 3
