"""The receiving end of the PIN hand-off: one line from the inherited descriptor into a
wipeable buffer; a missing or overlong hand-off is one clear error."""

from __future__ import annotations

import os

import pytest

from tcr_kit.errors import ExitCode, TcrError
from tcr_kit.hsm.config import HsmSection
from tcr_kit.hsm.handoff import MAX_PIN_LINE, PIN_FD_ENV, child_environment, receive_pin
from tcr_kit.secrets import SecretBuffer


def _pipe_with(data: bytes) -> int:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, data)
    os.close(write_fd)
    return read_fd


@pytest.mark.parametrize("line", [b"ABCDEF234567\n", b"ABCDEF234567\r\n", b"ABCDEF234567"])
def test_the_pin_line_is_read_without_its_line_end_and_the_fd_is_closed(line: bytes) -> None:
    fd = _pipe_with(line)
    pin = receive_pin({PIN_FD_ENV: str(fd)})
    assert isinstance(pin, SecretBuffer)
    assert bytes(pin.view()) == b"ABCDEF234567"
    assert "ABCDEF" not in repr(pin)
    with pytest.raises(OSError):
        os.fstat(fd)
    pin.wipe()
    assert pin.wiped


def test_only_the_first_line_is_taken() -> None:
    pin = receive_pin({PIN_FD_ENV: str(_pipe_with(b"FIRST\nSECOND\n"))})
    assert bytes(pin.view()) == b"FIRST"


def test_without_a_hand_off_the_error_says_how_to_run_it() -> None:
    with pytest.raises(TcrError, match=r"\$TCR_PIN_FD is not set") as caught:
        receive_pin({})
    assert caught.value.exit_code == ExitCode.USAGE


def test_an_overlong_line_is_refused() -> None:
    with pytest.raises(TcrError, match="longer than") as caught:
        receive_pin({PIN_FD_ENV: str(_pipe_with(b"A" * (MAX_PIN_LINE + 10)))})
    assert caught.value.exit_code == ExitCode.USAGE


def test_a_closed_descriptor_is_an_operational_error() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    os.close(write_fd)
    with pytest.raises(TcrError, match="cannot read") as caught:
        receive_pin({PIN_FD_ENV: str(read_fd)})
    assert caught.value.exit_code == ExitCode.FAILURE


def test_the_child_environment_names_the_fd_and_the_token_and_holds_no_pin() -> None:
    section = HsmSection(
        name="HSM-E", module="/m.so", token_label="KSK", env={"SOFTHSM2_CONF": "/c"}
    )
    env = child_environment(section, 7, base={"PATH": "/bin"})
    assert env == {"PATH": "/bin", "SOFTHSM2_CONF": "/c", PIN_FD_ENV: "7",
                   "TCR_HSM_MODULE": "/m.so", "TCR_HSM_TOKEN_LABEL": "KSK"}  # fmt: skip
