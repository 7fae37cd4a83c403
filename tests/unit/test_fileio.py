from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tcr_kit.errors import FileExistsRefused, OperationalError
from tcr_kit.fileio import atomic_output, atomic_outputs, check_private_file


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
