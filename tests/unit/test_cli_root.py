from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from tcr_cli.main import static_help
from tcr_cli.root import tcr


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
    import tcr_cli.shares
    from tcr_kit.sharing.foreign import FOREIGN_FORMATS

    assert sorted(tcr_cli.shares.FORMATS) == sorted(["native", *FOREIGN_FORMATS])
