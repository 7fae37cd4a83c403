"""Progress bars: drawn on stderr when it is a terminal, never in a pipe, nor with --json
or -q. The commands run in a child process whose stderr is a real pty (``os.openpty``);
``TCR_PROGRESS_AFTER=0`` shows the bar however fast the machine is (by default a bar
appears only once a step has run for a second)."""

from __future__ import annotations

import os
import select
import subprocess
from pathlib import Path

from tcr_cli.app import PROGRESS_AFTER_ENV
from tests.cli_runner import TCR_COMMAND, run_tcr
from tests.custody.conftest import make_world

BAR = "  [#"  # click draws "label  [####----]  42%" (or "9/9") on a terminal
NOW = {PROGRESS_AFTER_ENV: "0"}


def _stderr_on_a_pty(*args: str | os.PathLike[str], after: str = "0") -> tuple[int, str]:
    """Run ``tcr ARGS`` with stderr on a pty; its exit code and what the terminal got."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [*TCR_COMMAND, *map(os.fspath, args)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=slave,
            env={**os.environ, PROGRESS_AFTER_ENV: after},
        )
        os.close(slave)
        slave = -1
        seen = b""
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            seen += data
        return proc.wait(timeout=120), seen.decode(errors="replace")
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)


def _secret(folder: Path, size: int = 3 << 20) -> Path:
    secret = folder / "secret.bin"
    secret.write_bytes(os.urandom(size))
    secret.chmod(0o600)
    return secret


def test_split_and_combine_draw_a_bar_on_a_terminal(tmp_path: Path) -> None:
    secret = _secret(tmp_path)
    code, terminal = _stderr_on_a_pty(
        "shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", tmp_path / "s"
    )
    assert code == 0, terminal
    assert "splitting" in terminal and BAR in terminal and "100%" in terminal
    shares = sorted((tmp_path / "s").glob("*.tcrs"))[:2]
    code, terminal = _stderr_on_a_pty("shares", "combine", "-o", tmp_path / "back.bin", *shares)
    assert code == 0, terminal
    assert "combining" in terminal and "100%" in terminal
    assert (tmp_path / "back.bin").read_bytes() == secret.read_bytes()


def test_convert_draws_a_bar_for_its_combine_and_its_new_split(tmp_path: Path) -> None:
    secret = _secret(tmp_path)
    run_tcr("shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", tmp_path / "s", expect=0)
    shares = sorted((tmp_path / "s").glob("*.tcrs"))[:2]
    code, terminal = _stderr_on_a_pty(
        "shares", "convert", "--to", "native", "-m", "2", "-n", "4", "-o", tmp_path / "n",
        *shares,
    )  # fmt: skip
    assert code == 0, terminal
    assert "combining" in terminal and "splitting" in terminal and terminal.count("100%") == 2


def test_no_bar_in_a_pipe_nor_with_quiet_or_json(tmp_path: Path) -> None:
    secret = _secret(tmp_path)
    piped = run_tcr(
        "shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", tmp_path / "a",
        env=NOW, expect=0,
    )  # fmt: skip
    assert "splitting" not in piped.stderr and BAR not in piped.stderr
    for flag, folder in (("-q", "b"), ("--json", "c")):
        code, terminal = _stderr_on_a_pty(
            "shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", tmp_path / folder, flag
        )
        assert code == 0 and "splitting" not in terminal and BAR not in terminal, terminal


def test_a_step_that_ends_before_the_delay_draws_no_bar(tmp_path: Path) -> None:
    secret = _secret(tmp_path)
    code, terminal = _stderr_on_a_pty(
        "shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", tmp_path / "s",
        after="3600",
    )  # fmt: skip
    assert code == 0 and "splitting" not in terminal and BAR not in terminal, terminal


def test_audit_verify_and_export_draw_a_bar_on_a_terminal(tmp_path: Path) -> None:
    world = make_world(tmp_path / "ledger.sqlite")
    world.ledger.close()
    code, terminal = _stderr_on_a_pty("audit", "verify", "--ledger", world.path)
    assert code == 0, terminal
    assert "verifying signatures" in terminal and BAR in terminal and "9/9" in terminal
    transcript = tmp_path / "log.json"
    code, terminal = _stderr_on_a_pty(
        "audit", "export", "--ledger", world.path, "--output", transcript
    )
    assert code == 0 and "exporting" in terminal and BAR in terminal, terminal
    code, terminal = _stderr_on_a_pty("audit", "verify", "--transcript", transcript)
    assert code == 0 and "verifying signatures" in terminal, terminal
    piped = run_tcr("audit", "verify", "--transcript", transcript, env=NOW, expect=0)
    assert BAR not in piped.stderr and "verifying" not in piped.stderr
