"""Friendly by default: output folders made when missing, no Python values in tables,
``-q`` accepted everywhere, one name for the enrolment record, passphrases typed twice."""

from __future__ import annotations

import importlib
import os
import stat
from pathlib import Path

import click
import pytest

from tcr_cli.app import human, table
from tcr_cli.commands import COMMANDS
from tcr_kit.cards.base import PinStatus
from tests.cli_runner import run_tcr


def _leaves(cmd: click.Command, path: list[str]) -> list[tuple[str, click.Command]]:
    if isinstance(cmd, click.Group):
        return [
            leaf
            for name, sub in sorted(cmd.commands.items())
            for leaf in _leaves(sub, [*path, name])
        ]
    return [(" ".join(path), cmd)]


def test_every_command_accepts_quiet() -> None:
    from tcr_cli.app import add_quiet_everywhere

    missing = []
    for name, (target, _) in COMMANDS.items():
        module, attr = target.split(":")
        group = getattr(importlib.import_module(module), attr)
        add_quiet_everywhere(group)
        for path, cmd in _leaves(group, [name]):
            opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
            if not {"-q", "--quiet"} <= opts:
                missing.append(path)
    assert missing == []


def test_tables_show_no_python_values() -> None:
    text = table([{"a": None, "b": True, "c": ["card-3", "card-4"], "d": False}], list("abcd"))
    assert "None" not in text and "True" not in text and "[" not in text
    assert human(["card-3"]) == "card-3" and human(None) == "-" and human(True) == "yes"


def test_one_try_left_is_singular() -> None:
    assert PinStatus(tries_left=1).describe() == "1 try left"
    assert PinStatus(tries_left=3).describe() == "3 tries left"


def test_split_creates_a_missing_output_folder_private(tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(os.urandom(32))
    out = tmp_path / "new" / "shares"
    run_tcr("shares", "split", "-m", "3", "-n", "7", "-o", out, "-i", secret, "-q", expect=0)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert len([p for p in out.iterdir() if ".share-" in p.name]) == 7


def test_key_generate_refuses_an_empty_or_unconfirmed_passphrase(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    err = run_tcr("key", "generate", "--output", key, "--passphrase", input="\n\n", expect=2)
    assert "empty" in err.stderr and not key.exists()
    err = run_tcr("key", "generate", "--output", key, "--passphrase", input="abc\n", expect=2)
    assert "not confirmed" in err.stderr and not key.exists()
    err = run_tcr("key", "generate", "--output", key, "--passphrase", input="abc\nabd\n", expect=2)
    assert "differs" in err.stderr and not key.exists()
    run_tcr("key", "generate", "--output", key, "--passphrase", input="abc\nabc\n", expect=0)
    assert key.exists()


def test_key_generate_does_not_suggest_a_force_it_lacks(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    run_tcr("key", "generate", "--output", key, expect=0)
    err = run_tcr("key", "generate", "--output", key, expect=1).stderr
    assert "--force" not in err and "already exists" in err


@pytest.mark.parametrize("flag", ["--record", "--enrolment"])
def test_credential_add_takes_the_record_as_record_and_the_old_name(flag: str) -> None:
    from tcr_cli.custody import credential_add

    opts = {o for p in credential_add.params for o in getattr(p, "opts", [])}
    assert flag in opts
    hidden = {o for p in credential_add.params if getattr(p, "hidden", False) for o in p.opts}
    assert hidden == {"--enrolment"}


def test_a_softhsm_module_that_fails_to_load_names_its_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tcr_kit.cards.pkcs11_backend import module_config_note

    missing = tmp_path / "nowhere" / "softhsm2.conf"
    monkeypatch.setenv("SOFTHSM2_CONF", str(missing))
    note = module_config_note("/usr/lib/softhsm/libsofthsm2.so")
    assert f"SoftHSM2 configuration {missing} (SOFTHSM2_CONF): no such file" in note
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    assert "token folder" in module_config_note("/usr/lib/softhsm/libsofthsm2.so")
    assert module_config_note("/usr/lib/opensc-pkcs11.so") == ""
