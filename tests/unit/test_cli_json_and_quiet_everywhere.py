"""``--json`` and ``-q`` on every command: walk the command table and look at each leaf."""

from __future__ import annotations

import importlib
import json

import click

from tcr_cli.app import add_quiet_everywhere
from tcr_cli.commands import COMMANDS
from tests.cli_runner import run_tcr


def _leaves(cmd: click.Command, path: list[str]) -> list[tuple[str, click.Command]]:
    if isinstance(cmd, click.Group):
        return [
            leaf
            for name, sub in sorted(cmd.commands.items())
            for leaf in _leaves(sub, [*path, name])
        ]
    return [(" ".join(path), cmd)]


def _every_leaf() -> list[tuple[str, click.Command]]:
    leaves = []
    for name, (target, _) in COMMANDS.items():
        module, attr = target.split(":")
        group = getattr(importlib.import_module(module), attr)
        add_quiet_everywhere(group)
        leaves += _leaves(group, [name])
    return leaves


def test_the_walk_sees_the_commands_that_lacked_the_options() -> None:
    paths = {path for path, _ in _every_leaf()}
    assert {"card change-pin", "card unblock", "card wipe", "help"} <= paths
    assert "report form receipt" in paths and len(paths) > 60


def test_every_command_declares_json_and_quiet() -> None:
    missing = []
    for path, cmd in _every_leaf():
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        for wanted in ("--json", "--quiet", "-q"):
            if wanted not in opts:
                missing.append(f"{path}: {wanted}")
    assert missing == []


def test_help_as_json_carries_the_same_text_as_help() -> None:
    plain = run_tcr("help", "audit", "verify", expect=0).stdout
    doc = json.loads(run_tcr("help", "audit", "verify", "--json", expect=0).stdout)
    assert doc["ok"] is True and doc["command"] == "tcr audit verify"
    assert doc["help"] == plain and "--expect-head" in plain


def test_quiet_help_still_prints_the_help() -> None:
    out = run_tcr("help", "report", "-q", expect=0)
    assert "Usage: tcr report" in out.stdout and out.stderr == ""
