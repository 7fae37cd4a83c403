"""``tcr shares`` outputs under hostile conditions: real processes, files, devices, mounts.

Outputs only ever replace regular files and are all or none, also with ``--force``; a
secret never goes to a terminal unless forced; every I/O failure is one line with exit 1
(2 for bad labels, 3 for ambiguous share sets); a run killed with SIGKILL leaves hidden
temporaries that the next run on the folder removes.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli_runner import CHILD, TCR_COMMAND, run_tcr
from tests.fs_faults import remount_read_only, tmpfs


def tcr(*args: str | Path, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return run_tcr(*args, text=False, **kw)  # type: ignore[arg-type]


def one_error_line(proc: subprocess.CompletedProcess[bytes], code: int) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def make_secret(folder: Path, size: int = 100, name: str = "secret.bin") -> Path:
    secret = folder / name
    secret.write_bytes(os.urandom(size))
    secret.chmod(0o600)
    return secret


def split(secret: Path, out: Path, *extra: str | Path) -> list[Path]:
    out.mkdir(exist_ok=True)
    proc = tcr("shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", out, "--json", *extra)
    assert proc.returncode == 0, proc.stderr.decode()
    return [Path(s["file"]) for s in json.loads(proc.stdout)["shares"]]


@pytest.fixture
def shares(tmp_path: Path) -> tuple[Path, list[Path]]:
    secret = make_secret(tmp_path)
    return secret, split(secret, tmp_path / "shares")


# --- --force replaces regular files only ------------------------------------------------------


def test_combine_force_never_replaces_a_device_a_symlink_or_a_directory(
    tmp_path: Path, shares: tuple[Path, list[Path]]
) -> None:
    _, paths = shares
    directory = tmp_path / "dir"
    directory.mkdir()
    to_stdout = tmp_path / "stdout-link"
    to_stdout.symlink_to("/proc/self/fd/1")
    targets = [directory, to_stdout]
    if os.geteuid() == 0:
        device = tmp_path / "full"  # our own node of /dev/full: never touch the system's
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        targets.append(device)
    for target in targets:
        before = os.lstat(target)
        proc = tcr("shares", "combine", "-o", target, "--force", *paths[:2])
        line = one_error_line(proc, 1)
        assert str(target) in line and "not a regular file" in line
        assert proc.stdout == b""
        after = os.lstat(target)
        assert (after.st_ino, after.st_mode, after.st_rdev) == (
            before.st_ino,
            before.st_mode,
            before.st_rdev,
        )


def test_a_failed_split_force_keeps_every_old_share(tmp_path: Path) -> None:
    secret = make_secret(tmp_path)
    out = tmp_path / "shares"
    old = split(secret, out)
    old_bytes = {p: p.read_bytes() for p in old if p.exists()}
    # One target of the new split is a directory: nothing may be replaced.
    old[1].unlink()
    old[1].mkdir()
    del old_bytes[old[1]]
    manifest = out / "secret.bin.manifest.json"
    old_manifest = manifest.read_bytes()
    line = one_error_line(
        tcr("shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", out, "--force"), 1
    )
    assert str(old[1]) in line
    assert {p: p.read_bytes() for p in old_bytes} == old_bytes
    assert manifest.read_bytes() == old_manifest
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_split_force_replaces_every_old_share_when_it_succeeds(tmp_path: Path) -> None:
    secret = make_secret(tmp_path)
    out = tmp_path / "shares"
    old = split(secret, out)
    old_bytes = [p.read_bytes() for p in old]
    new = split(secret, out, "--force")
    assert new == old
    assert all(p.read_bytes() != b for p, b in zip(new, old_bytes, strict=True))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_gfshare_split_force_onto_a_directory_keeps_the_old_shares(tmp_path: Path) -> None:
    secret = make_secret(tmp_path)
    out = tmp_path / "gf"
    out.mkdir()
    args = ("shares", "split", "--format", "gfshare", "-m", "2", "-n", "3", "-i", secret)
    assert tcr(*args, "-o", out, "-q").returncode == 0
    old = sorted(out.iterdir())
    old_bytes = {p: p.read_bytes() for p in old[:2]}
    old[2].unlink()
    old[2].mkdir()
    one_error_line(tcr(*args, "-o", out, "--force"), 1)
    assert {p: p.read_bytes() for p in old[:2]} == old_bytes


# --- terminals and standard output ---------------------------------------------------------


def _run_on_a_terminal(*args: str | Path) -> tuple[int, bytes, bytes]:
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*TCR_COMMAND, *(os.fspath(a) for a in args)],
            stdout=terminal,
            stderr=subprocess.PIPE,
            **CHILD,
        )
        os.close(terminal)
        _, err = proc.communicate(timeout=120)
        shown = b""
        while select.select([controller], [], [], 0.2)[0]:
            try:
                block = os.read(controller, 65536)
            except OSError:
                break
            if not block:
                break
            shown += block
        return proc.returncode, shown, err
    finally:
        os.close(controller)


def test_combine_refuses_to_write_a_secret_to_a_terminal(
    shares: tuple[Path, list[Path]],
) -> None:
    _, paths = shares
    code, shown, err = _run_on_a_terminal("shares", "combine", "-o", "-", *paths[:2])
    assert code == 2, err.decode()
    assert b"terminal" in err and b"Traceback" not in err
    assert shown == b""
    code, shown, err = _run_on_a_terminal("shares", "combine", "-o", "-", "--force", *paths[:2])
    assert code == 0, err.decode()
    assert shown  # the terminal got the (raw) secret, as asked


def test_stdout_on_a_full_device_is_one_line_exit_1(shares: tuple[Path, list[Path]]) -> None:
    _, paths = shares
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [*TCR_COMMAND, "shares", "combine", "-o", "-", *map(str, paths[:2])],
            stdout=full,
            stderr=subprocess.PIPE,
            check=False,
            **CHILD,
        )
    line = one_error_line(subprocess.CompletedProcess([], proc.returncode, b"", proc.stderr), 1)
    assert "stdout" in line and "No space left" in line


def test_reports_to_a_full_device_are_one_line_exit_1(
    tmp_path: Path, shares: tuple[Path, list[Path]]
) -> None:
    secret, paths = shares
    (tmp_path / "again").mkdir()
    commands = [
        ["shares", "inspect", str(paths[0])],
        ["shares", "split", "-m", "2", "-n", "3", "-i", str(secret), "-o", str(tmp_path / "again")],
    ]
    for command in commands:
        with open("/dev/full", "wb") as full:
            proc = subprocess.run(
                [*TCR_COMMAND, *command], stdout=full, stderr=subprocess.PIPE, check=False, **CHILD
            )
        done = subprocess.CompletedProcess([], proc.returncode, b"", proc.stderr)
        assert "No space left" in one_error_line(done, 1)


def test_stdout_to_a_closed_pipe_is_one_line_exit_1(shares: tuple[Path, list[Path]]) -> None:
    _, paths = shares
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read
    try:
        proc = subprocess.run(
            [*TCR_COMMAND, "shares", "combine", "-o", "-", *map(str, paths[:2])],
            stdout=write_end,
            stderr=subprocess.PIPE,
            check=False,
        )
    finally:
        os.close(write_end)
    line = one_error_line(subprocess.CompletedProcess([], proc.returncode, b"", proc.stderr), 1)
    assert "stdout" in line and "Broken pipe" in line


def test_a_reader_that_stops_early_never_gets_exit_0(tmp_path: Path) -> None:
    secret = make_secret(tmp_path, 3 << 20)
    paths = split(secret, tmp_path / "shares", "--encoding", "compact")
    proc = subprocess.Popen(
        [*TCR_COMMAND, "shares", "combine", "-o", "-", *map(str, paths[:2])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert os.read(proc.stdout.fileno(), 10)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1, err.decode()
    assert b"Broken pipe" in err and b"Traceback" not in err


# --- full and read-only file systems -----------------------------------------------------


def test_combine_onto_a_full_file_system_is_one_line_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    secret = make_secret(tmp_path, 200_000)
    paths = split(secret, tmp_path / "shares", "--encoding", "compact")
    with tmpfs(tmp_path / "fs", size_kib=64) as fs:
        line = one_error_line(tcr("shares", "combine", "-o", fs / "out", *paths[:2]), 1)
        assert "No space left" in line and str(fs / "out") in line
        assert list(fs.iterdir()) == []


def test_split_onto_a_full_file_system_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    secret = make_secret(tmp_path, 100_000)
    with tmpfs(tmp_path / "fs", size_kib=128) as fs:
        args = ("shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", fs)
        line = one_error_line(tcr(*args, "--encoding", "compact"), 1)
        assert "No space left" in line
        assert list(fs.iterdir()) == []


def test_outputs_on_a_read_only_file_system_are_one_line(tmp_path: Path) -> None:
    secret = make_secret(tmp_path)
    paths = split(secret, tmp_path / "shares")
    with tmpfs(tmp_path / "fs") as fs:
        remount_read_only(fs)
        line = one_error_line(tcr("shares", "combine", "-o", fs / "out", *paths[:2]), 1)
        assert "Read-only file system" in line
        split_args = ("shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", fs)
        assert "Read-only file system" in one_error_line(tcr(*split_args), 1)


# --- labels --------------------------------------------------------------------------


BAD_LABELS = {"newline": "two\nlines", "tab": "tab\there", "256": "x" * 256, "utf8": "é" * 128}


@pytest.mark.parametrize("label", list(BAD_LABELS.values()), ids=list(BAD_LABELS))
def test_a_bad_label_is_a_usage_error(tmp_path: Path, label: str) -> None:
    secret = make_secret(tmp_path)
    (tmp_path / "out").mkdir()
    proc = tcr("shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", tmp_path / "out",
               "--label", label)  # fmt: skip
    assert "--label" in one_error_line(proc, 2)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_label_of_255_bytes_is_accepted(tmp_path: Path) -> None:
    secret = make_secret(tmp_path)
    split(secret, tmp_path / "out", "--label", "é" * 127 + "x")


# --- two complete share sets ----------------------------------------------------------


def test_two_complete_sets_are_refused_naming_both_unless_one_is_chosen(tmp_path: Path) -> None:
    first = make_secret(tmp_path, name="first.bin")
    second = make_secret(tmp_path, name="second.bin")
    ours, theirs = split(first, tmp_path / "a"), split(second, tmp_path / "b")
    ids = []
    for paths in (ours, theirs):
        report = json.loads(tcr("shares", "inspect", "--json", paths[0]).stdout)
        ids.append(report["shares"][0]["set_id"])
    out = tmp_path / "out"
    proc = tcr("shares", "combine", "-o", out, theirs[0], ours[0], ours[1], theirs[2])
    line = one_error_line(proc, 3)
    assert ids[0] in line and ids[1] in line and "--set-id" in line
    assert not out.exists()
    proc = tcr("shares", "combine", "-o", "-", "--set-id", ids[0],
               theirs[0], ours[0], ours[1], theirs[2])  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == first.read_bytes()
    assert str(theirs[0]) in proc.stderr.decode()  # named as not of the chosen set


def test_convert_of_two_complete_sets_needs_a_set_id(tmp_path: Path) -> None:
    first = make_secret(tmp_path, name="first.bin")
    second = make_secret(tmp_path, name="second.bin")
    ours, theirs = split(first, tmp_path / "a"), split(second, tmp_path / "b")
    report = json.loads(tcr("shares", "inspect", "--json", ours[0]).stdout)
    set_id = report["shares"][0]["set_id"]
    out = tmp_path / "converted"
    out.mkdir()
    args = ("shares", "convert", "--to", "vault", "-o", out, *ours[:2], *theirs[:2])
    one_error_line(tcr(*args), 3)
    assert list(out.iterdir()) == []
    assert tcr(*args, "--set-id", set_id, "-q").returncode == 0
    proc = tcr("shares", "combine", "-o", "-", *sorted(out.iterdir())[:2])
    assert proc.stdout == first.read_bytes()


def test_a_set_id_that_no_share_has_or_that_is_not_hex_is_refused(
    shares: tuple[Path, list[Path]],
) -> None:
    _, paths = shares
    one_error_line(tcr("shares", "combine", "-o", "-", "--set-id", "00" * 8, *paths), 3)
    one_error_line(tcr("shares", "combine", "-o", "-", "--set-id", "xyz", *paths), 2)


# --- a run killed with SIGKILL ---------------------------------------------------------


def test_partial_files_of_a_killed_split_are_removed_by_the_next_run(tmp_path: Path) -> None:
    fifo = tmp_path / "secret-pipe"
    os.mkfifo(fifo)
    out = tmp_path / "shares"
    out.mkdir()
    proc = subprocess.Popen(
        [*TCR_COMMAND, "shares", "split", "-m", "2", "-n", "3", "-i", str(fifo), "-o", str(out),
         "--encoding", "compact"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    writer = os.open(fifo, os.O_WRONLY)  # the split now waits for the rest of its secret
    try:
        os.write(writer, b"half of a secret")
        deadline = time.monotonic() + 60
        while len(list(out.glob(".*.partial"))) < 4:
            assert time.monotonic() < deadline, "the split never created its temporaries"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        os.close(writer)
    stale = sorted(out.glob(".*.partial"))
    assert len(stale) == 4  # three shares and the manifest
    secret = make_secret(tmp_path, name="other.bin")
    split(secret, out)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
