from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tcr_kit.errors import FileExistsRefused, OperationalError
from tcr_kit.fileio import (
    NotRegularFileRefused,
    StreamOutput,
    atomic_output,
    atomic_outputs,
    check_private_file,
    remove_stale_partials,
    write_new_file,
)
from tests.fs_faults import remount_read_only, tmpfs


def test_outputs_are_created_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with atomic_output(tmp_path / "secret") as fh:
            fh.write(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


def test_existing_file_is_never_overwritten_without_force(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsRefused), atomic_output(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"keep me"
    with atomic_output(target, force=True) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new"


def test_failure_midway_leaves_no_file_at_all(tmp_path: Path) -> None:
    paths = [tmp_path / f"share{i}" for i in range(3)]
    with pytest.raises(RuntimeError), atomic_outputs(paths) as handles:
        handles[0].write(b"partial")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_one_existing_name_refuses_the_whole_set_up_front(tmp_path: Path) -> None:
    paths = [tmp_path / f"share{i}" for i in range(3)]
    paths[2].write_bytes(b"old")
    with pytest.raises(FileExistsRefused), atomic_outputs(paths):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["share2"]


def test_world_readable_secret_file_is_refused(tmp_path: Path) -> None:
    pin = tmp_path / "pin"
    pin.write_bytes(b"1234")
    pin.chmod(0o644)
    with pytest.raises(OperationalError, match="chmod 600"):
        check_private_file(pin)
    pin.chmod(0o600)
    check_private_file(pin)


# --- while writing, the final names are untouched --------------------------------------------


def test_new_output_does_not_exist_until_the_write_is_complete(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_output(target) as fh:
        fh.write(b"new content")
        fh.flush()
        assert not target.exists() and not target.is_symlink()
    assert target.read_bytes() == b"new content"


def test_forced_output_keeps_the_old_content_until_the_write_is_complete(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_bytes(b"old content")
    old_inode = target.stat().st_ino
    with atomic_output(target, force=True) as fh:
        fh.write(b"new content")
        fh.flush()
        assert target.read_bytes() == b"old content"
        assert target.stat().st_ino == old_inode
    assert target.read_bytes() == b"new content"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failed_forced_write_keeps_the_old_content(tmp_path: Path) -> None:
    paths = [tmp_path / "a", tmp_path / "b"]
    for p in paths:
        p.write_bytes(b"old " + p.name.encode())
    with pytest.raises(RuntimeError), atomic_outputs(paths, force=True) as handles:
        for h in handles:
            h.write(b"new")
        raise RuntimeError("interrupted")
    assert [p.read_bytes() for p in paths] == [b"old a", b"old b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_a_forced_set_whose_last_replacement_fails_puts_every_old_file_back(
    tmp_path: Path,
) -> None:
    paths = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for p in paths:
        p.write_bytes(b"old " + p.name.encode())
    # While the new set is written, "c" turns into a directory: "a" and "b" are replaced
    # first, then "c" fails; the old "a" and "b" must come back.
    with pytest.raises(NotRegularFileRefused), atomic_outputs(paths, force=True) as handles:
        for h in handles:
            h.write(b"new")
        paths[2].unlink()
        paths[2].mkdir()
    assert [p.read_bytes() for p in paths[:2]] == [b"old a", b"old b"]
    assert paths[2].is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]


def test_a_new_set_whose_last_name_appears_meanwhile_creates_no_file(tmp_path: Path) -> None:
    paths = [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(FileExistsRefused) as refused, atomic_outputs(paths) as handles:
        for h in handles:
            h.write(b"new")
        paths[1].write_bytes(b"someone else's")
    assert refused.value.path == str(paths[1])
    assert not paths[0].exists()
    assert paths[1].read_bytes() == b"someone else's"


def test_a_forced_set_that_fails_after_creating_a_new_name_removes_that_file(
    tmp_path: Path,
) -> None:
    new, old = tmp_path / "a", tmp_path / "b"
    old.write_bytes(b"old b")
    with pytest.raises(NotRegularFileRefused), atomic_outputs([new, old], force=True) as handles:
        for h in handles:
            h.write(b"new")
        old.unlink()
        old.mkdir()
    assert not new.exists() and old.is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


# --- only regular files are ever replaced -----------------------------------------------------


def _non_regular_targets(tmp_path: Path) -> dict[str, Path]:
    directory = tmp_path / "dir"
    directory.mkdir()
    (directory / "inside").write_bytes(b"keep")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    victim = tmp_path / "victim"
    victim.write_bytes(b"victim")
    link = tmp_path / "link"
    link.symlink_to(victim)
    stdout_link = tmp_path / "stdout-link"
    stdout_link.symlink_to("/proc/self/fd/1")
    targets = {"a directory": directory, "a FIFO": fifo, "a symbolic link": link}
    targets["a symbolic link "] = stdout_link
    if os.geteuid() == 0:
        device = tmp_path / "full"  # our own node of /dev/full, never the system's
        os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 7))
        targets["a device"] = device
    return targets


def test_force_never_replaces_a_directory_device_fifo_or_symlink(tmp_path: Path) -> None:
    for what, target in _non_regular_targets(tmp_path).items():
        before = os.lstat(target)
        with pytest.raises(NotRegularFileRefused, match=what.strip()) as info:
            with atomic_output(target, force=True) as fh:
                fh.write(b"secret")
        assert info.value.exit_code == 1
        after = os.lstat(target)
        assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert (tmp_path / "victim").read_bytes() == b"victim"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_set_with_one_directory_among_its_targets_keeps_every_old_file(tmp_path: Path) -> None:
    paths = [tmp_path / f"share{i}" for i in range(3)]
    paths[0].write_bytes(b"old 0")
    paths[1].mkdir()
    paths[2].write_bytes(b"old 2")
    with pytest.raises(NotRegularFileRefused), atomic_outputs(paths, force=True) as handles:
        for h in handles:
            h.write(b"new")
    assert paths[0].read_bytes() == b"old 0" and paths[2].read_bytes() == b"old 2"
    assert paths[1].is_dir()


# --- what killed runs leave behind ---------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(child.stdout)


def _age(*paths: Path) -> None:
    """Date ``paths`` an hour back: before this test process started, as a killed run's."""
    then = time.time() - 3600
    for p in paths:
        os.utime(p, (then, then), follow_symlinks=False)


def test_partial_files_of_a_killed_writer_are_removed_by_the_next_run(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale = tmp_path / f".secret.share-001.tcrs.tcr-{dead}-0123456789ab.partial"
    stale.write_bytes(b"half a share")
    alive = tmp_path / f".secret.share-002.tcrs.tcr-{os.getppid()}-0123456789ab.partial"
    alive.write_bytes(b"another run, still writing")
    not_ours = [tmp_path / ".notes.partial", tmp_path / f".x.tcr-{dead}-nothex.partial"]
    for p in not_ours:
        p.write_bytes(b"not ours")
    fresh = tmp_path / f".secret.share-003.tcrs.tcr-{dead}-0123456789ab.partial"
    _age(stale, alive, *not_ours)
    fresh.write_bytes(b"written after this run began: never removed")
    with atomic_output(tmp_path / "other-output") as fh:
        fh.write(b"x")
    assert not stale.exists()
    assert alive.exists() and fresh.exists()
    assert all(p.exists() for p in not_ours)


def test_a_stale_backup_link_is_removed_only_while_it_duplicates_its_file(
    tmp_path: Path,
) -> None:
    dead = _dead_pid()
    share = tmp_path / "s.share-001.tcrs"
    share.write_bytes(b"current")
    redundant = tmp_path / f".s.share-001.tcrs.tcr-{dead}-0123456789ab.old"
    os.link(share, redundant)
    last_copy = tmp_path / f".s.share-002.tcrs.tcr-{dead}-0123456789ab.old"
    last_copy.write_bytes(b"the only copy of an old share")
    (tmp_path / "s.share-002.tcrs").write_bytes(b"a new share")
    _age(redundant, last_copy)
    assert remove_stale_partials(tmp_path) == [redundant]
    assert share.read_bytes() == b"current"
    assert last_copy.exists()


# --- I/O failures are one line, exit 1 --------------------------------------------------------


def test_a_full_file_system_is_an_operational_error_and_leaves_nothing(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", size_kib=64) as fs:
        (fs / "old").write_bytes(b"old")
        with pytest.raises(OperationalError, match="No space left") as info:
            with atomic_outputs([fs / "old", fs / "new"], force=True) as handles:
                for h in handles:
                    h.write(bytes(100 << 10))
        assert "\n" not in str(info.value) and info.value.exit_code == 1
        assert sorted(p.name for p in fs.iterdir()) == ["old"]
        assert (fs / "old").read_bytes() == b"old"


def test_a_read_only_file_system_is_an_operational_error(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs") as fs:
        (fs / "old").write_bytes(b"old")
        remount_read_only(fs)
        for force in (False, True):
            with pytest.raises(OperationalError, match="Read-only file system"):
                with atomic_output(fs / "new", force=force) as fh:
                    fh.write(b"x")
        assert sorted(p.name for p in fs.iterdir()) == ["old"]


def test_a_directory_in_the_way_is_named_as_such_even_without_force(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(NotRegularFileRefused, match="is a directory"):
        with atomic_output(tmp_path / "out") as fh:
            fh.write(b"x")


# --- what each refusal and failure says, and what the scan of stale files leaves ----------------


def test_io_failures_name_the_final_file_the_step_and_the_system_reason_exactly(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "full", size_kib=64) as fs:
        with pytest.raises(OperationalError) as full:
            with atomic_output(fs / "out") as fh:
                fh.write(bytes(100 << 10))
        assert str(full.value) == f"{fs / 'out'}: cannot write: No space left on device"
    with tmpfs(tmp_path / "ro", read_only=True) as fs:
        for force in (False, True):
            with pytest.raises(OperationalError) as ro, atomic_output(fs / "new", force=force):
                pass
            assert str(ro.value) == f"{fs / 'new'}: cannot create: Read-only file system"


def test_a_temporary_is_hidden_and_named_for_its_file_this_process_and_48_random_bits(
    tmp_path: Path,
) -> None:
    with atomic_output(tmp_path / "out.txt") as fh:
        fh.write(b"x")
        (temp,) = list(tmp_path.iterdir())
        assert re.fullmatch(rf"\.out\.txt\.tcr-{os.getpid()}-[0-9a-f]{{12}}\.partial", temp.name)
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_writing_an_output_leaves_no_descriptor_open(tmp_path: Path) -> None:
    before = sorted(os.listdir("/proc/self/fd"))
    with atomic_outputs([tmp_path / "a", tmp_path / "b"]) as handles:
        for h in handles:
            h.write(b"x")
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_a_symlink_to_a_regular_file_is_refused_up_front_with_or_without_force(
    tmp_path: Path,
) -> None:
    target = tmp_path / "real"
    target.write_bytes(b"keep")
    link = tmp_path / "link"
    link.symlink_to(target)
    for force in (False, True):
        entered = False
        with pytest.raises(NotRegularFileRefused, match="is a symbolic link"):
            with atomic_output(link, force=force) as fh:
                entered = True
                fh.write(b"new")
        assert not entered and link.is_symlink() and target.read_bytes() == b"keep"


def test_files_named_like_stale_temporaries_but_not_ours_to_remove_are_left(
    tmp_path: Path,
) -> None:
    dead = _dead_pid()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    precious = elsewhere / "precious"
    precious.write_bytes(b"not a temporary")
    link = tmp_path / f".a.tcr-{dead}-0123456789ab.partial"
    link.symlink_to(precious)
    theirs = tmp_path / f".b.tcr-{dead}-0123456789ab.partial"
    theirs.write_bytes(b"another user's")
    os.chown(theirs, 65534, 65534)
    _age(link, theirs, precious)
    assert remove_stale_partials(tmp_path) == []
    assert link.is_symlink() and theirs.exists() and precious.exists()


def test_a_stale_backup_is_kept_when_its_final_name_is_a_symlink_to_it(tmp_path: Path) -> None:
    dead = _dead_pid()
    backup = tmp_path / f".s.share-001.tcrs.tcr-{dead}-0123456789ab.old"
    backup.write_bytes(b"the only copy of an old share")
    (tmp_path / "s.share-001.tcrs").symlink_to(backup.name)
    _age(backup)
    assert remove_stale_partials(tmp_path) == []
    assert backup.read_bytes() == b"the only copy of an old share"


def test_a_live_writers_temporary_does_not_end_the_scan_for_stale_ones(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale = [tmp_path / f".s{i:02d}.tcr-{dead}-0123456789ab.partial" for i in range(40)]
    live = tmp_path / f".live.tcr-{os.getppid()}-0123456789ab.partial"
    for p in [*stale[:20], live, *stale[20:]]:  # listed in creation order or its reverse
        p.write_bytes(b"x")
    _age(live, *stale)
    assert sorted(remove_stale_partials(tmp_path)) == sorted(stale)
    assert [p.name for p in tmp_path.iterdir()] == [live.name]


def test_a_stale_temporary_that_cannot_be_removed_is_left_without_an_error(
    tmp_path: Path,
) -> None:
    dead = _dead_pid()
    with tmpfs(tmp_path / "fs") as fs:
        stale = fs / f".out.tcr-{dead}-0123456789ab.partial"
        stale.write_bytes(b"x")
        _age(stale)
        remount_read_only(fs)
        assert remove_stale_partials(fs) == []
        assert stale.exists()


def test_write_new_file_writes_0600_and_replaces_only_with_force(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    write_new_file(target, b"first")
    assert target.read_bytes() == b"first" and stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(FileExistsRefused):
        write_new_file(target, b"second")
    write_new_file(target, b"second", 0o644, force=True)
    assert target.read_bytes() == b"second" and stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_stream_that_cannot_be_written_is_named_in_one_line(tmp_path: Path) -> None:
    with open("/dev/full", "wb") as device:
        with pytest.raises(OperationalError) as default_name:
            StreamOutput(device).write(b"secret")
        assert str(default_name.value) == "stdout: cannot write: No space left on device"
    with open("/dev/full", "wb") as device:
        with pytest.raises(OperationalError, match=r"^report: cannot write: No space left"):
            StreamOutput(device, "report").write(b"x")
