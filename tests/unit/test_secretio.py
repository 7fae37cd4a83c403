"""tcr_kit.secretio: one secret from a 0600 file, a stream or a prompt, always wipeable."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from tcr_kit.errors import ExitCode, InputError, OperationalError
from tcr_kit.secretio import (
    MAX_SECRET_BYTES,
    read_secret,
    read_secret_file,
    read_secret_line,
)


def _private(path: Path, content: bytes, mode: int = 0o600) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    path.chmod(mode)
    return path


@pytest.fixture
def pipe() -> Iterator[tuple[BinaryIO, int]]:
    """A real pipe: (buffered reader, write end)."""
    r, w = os.pipe()
    reader = os.fdopen(r, "rb")
    try:
        yield reader, w
    finally:
        reader.close()
        try:
            os.close(w)
        except OSError:
            pass


def _feed(w: int, data: bytes) -> None:
    os.write(w, data)
    os.close(w)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"tcr-pin-1\n", b"tcr-pin-1"),
        (b"tcr-pin-1\r\n", b"tcr-pin-1"),
        (b"tcr-pin-1", b"tcr-pin-1"),
        (b"  spaced passphrase  \n", b"  spaced passphrase  "),
    ],
)
def test_a_file_loses_exactly_one_line_ending(
    tmp_path: Path, content: bytes, expected: bytes
) -> None:
    with read_secret_file(_private(tmp_path / "pin", content), kind="PIN") as secret:
        assert bytes(secret.view()) == expected


def test_a_file_others_can_read_is_refused_with_the_chmod_hint(tmp_path: Path) -> None:
    path = _private(tmp_path / "pin", b"tcr-pin-1\n", mode=0o640)
    with pytest.raises(OperationalError, match="chmod 600") as info:
        read_secret_file(path, kind="PIN")
    assert info.value.exit_code == ExitCode.FAILURE


def test_a_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    path = _private(tmp_path / "pin", b"tcr-pin-1\n")
    os.chown(path, 65534, 65534)
    with pytest.raises(OperationalError, match="owned by uid 65534"):
        read_secret_file(path, kind="PIN")


def test_a_second_line_is_refused_rather_than_presented_to_the_card(tmp_path: Path) -> None:
    path = _private(tmp_path / "pin", b"tcr-pin-1\n\n")
    with pytest.raises(InputError, match="one line") as info:
        read_secret_file(path, kind="PIN")
    assert "tcr-pin-1" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty PIN"), (b"\n", "empty PIN"), (b"x" * (MAX_SECRET_BYTES + 1), "too long")],
)
def test_empty_and_oversized_files_are_usage_errors(
    tmp_path: Path, content: bytes, message: str
) -> None:
    with pytest.raises(InputError, match=message) as info:
        read_secret_file(_private(tmp_path / "pin", content), kind="PIN")
    assert info.value.exit_code == ExitCode.USAGE


def test_a_secret_of_exactly_the_limit_with_its_newline_is_accepted(tmp_path: Path) -> None:
    content = b"p" * MAX_SECRET_BYTES + b"\r\n"
    with read_secret_file(_private(tmp_path / "pin", content)) as secret:
        assert len(secret) == MAX_SECRET_BYTES


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_secret_file(tmp_path / "absent")


def test_stream_lines_are_read_one_by_one_and_the_rest_stays_in_the_stream(
    pipe: tuple[BinaryIO, int],
) -> None:
    reader, w = pipe
    _feed(w, b"first-pin\nsecond-pin\r\nan answer for someone else\n")
    with read_secret_line(reader, "PIN") as one, read_secret_line(reader, "PIN") as two:
        assert bytes(one.view()) == b"first-pin"
        assert bytes(two.view()) == b"second-pin"
    assert reader.readline() == b"an answer for someone else\n"


def test_a_file_descriptor_is_read_without_taking_more_than_one_line() -> None:
    r, w = os.pipe()
    try:
        _feed(w, b"fd-secret\nleft over")
        with read_secret_line(r, "passphrase", kind="passphrase") as secret:
            assert bytes(secret.view()) == b"fd-secret"
        assert os.read(r, 100) == b"left over"
    finally:
        os.close(r)


def test_a_stream_that_ends_first_names_the_missing_secret(pipe: tuple[BinaryIO, int]) -> None:
    reader, w = pipe
    _feed(w, b"")
    with pytest.raises(InputError, match="stdin ended before the New PIN was read"):
        read_secret_line(reader, "New PIN")


def test_confirmation_from_a_stream_needs_two_equal_lines(pipe: tuple[BinaryIO, int]) -> None:
    reader, w = pipe
    _feed(w, b"new-pin-1\nnew-pin-1\nnew-pin-1\nnew-pin-2\nnew-pin-3\n")
    with read_secret("New PIN", stream=reader, confirm=True, kind="PIN") as secret:
        assert bytes(secret.view()) == b"new-pin-1"
    with pytest.raises(InputError, match="the two New PIN entries differ") as info:
        read_secret("New PIN", stream=reader, confirm=True, kind="PIN")
    assert "new-pin" not in str(info.value)
    with pytest.raises(InputError, match=r"ended before the New PIN \(again\) was read"):
        read_secret("New PIN", stream=reader, confirm=True, kind="PIN")


def test_an_overlong_stream_line_is_refused(pipe: tuple[BinaryIO, int]) -> None:
    reader, w = pipe
    _feed(w, b"y" * (MAX_SECRET_BYTES + 5) + b"\n")
    with pytest.raises(InputError, match="too long"):
        read_secret_line(reader, "PIN", kind="PIN")


def test_a_prompt_is_asked_with_the_name_and_the_confirm_flag() -> None:
    asked: list[tuple[str, bool]] = []

    def prompt(text: str, confirm: bool) -> str:
        asked.append((text, confirm))
        return "typed-pin"

    with read_secret("New PIN for TCR tcr-3", prompt=prompt, confirm=True) as secret:
        assert bytes(secret.view()) == b"typed-pin"
    assert asked == [("New PIN for TCR tcr-3", True)]


def test_a_bytearray_from_the_prompt_is_taken_over_and_wiped() -> None:
    handed: list[bytearray] = []

    def prompt(text: str, confirm: bool) -> bytearray:
        handed.append(bytearray(b"from-a-gui\n"))
        return handed[0]

    with read_secret("PIN", prompt=prompt) as secret:
        assert bytes(secret.view()) == b"from-a-gui"
    assert handed[0] == bytearray(len(handed[0]))  # all zeros


def test_a_file_wins_over_the_stream_and_the_stream_over_the_prompt(
    tmp_path: Path, pipe: tuple[BinaryIO, int]
) -> None:
    reader, w = pipe
    _feed(w, b"from-stream\n")
    path = _private(tmp_path / "pin", b"from-file\n")

    def prompt(text: str, confirm: bool) -> str:
        raise AssertionError("the prompt must not be asked")

    with read_secret("PIN", path=path, stream=reader, prompt=prompt) as secret:
        assert bytes(secret.view()) == b"from-file"
    with read_secret("PIN", stream=reader, prompt=prompt) as secret:
        assert bytes(secret.view()) == b"from-stream"


def test_no_source_at_all_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="path, a stream or a prompt"):
        read_secret("PIN")
