from __future__ import annotations

import pytest

from tcr_kit.secrets import SecretBuffer, random_bytes, random_source


def test_secret_buffer_repr_never_shows_content() -> None:
    buf = SecretBuffer(b"hunter2")
    assert "hunter2" not in repr(buf)
    assert "hunter2" not in str(buf)
    assert "7 bytes" in repr(buf)


def test_secret_buffer_wipes_on_exit_and_refuses_use_after() -> None:
    raw = bytearray(b"secret")
    buf = SecretBuffer.adopt(raw)
    with buf:
        assert bytes(buf.view()) == b"secret"
    assert raw == bytearray()
    with pytest.raises(ValueError):
        buf.view()


def test_secret_buffer_copy_wipes_source_bytearray() -> None:
    source = bytearray(b"abc")
    buf = SecretBuffer(source)
    assert source == bytearray(3)
    assert bytes(buf.view()) == b"abc"


def test_random_source_hook_is_scoped() -> None:
    with random_source(lambda n: b"\x07" * n):
        assert random_bytes(3) == b"\x07\x07\x07"
    assert len(random_bytes(16)) == 16
