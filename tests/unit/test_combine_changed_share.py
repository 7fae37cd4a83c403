"""A share changed on disk while a combine runs never yields a secret with exit 0.

The combine verifies the shares (hashing every payload), then reads them again to produce
the secret. A share changed in between must fail the combine: a file output is never
created (or keeps its old content), a buffered stdout gets nothing, and a streamed stdout is
cut short with an error saying to discard it. Real processes and files; the change is made
deterministic by the combine's test pause (a FIFO it reads once verification is done) or,
for the stream, by a reader that stops reading.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcr_kit.sharing import files, native
from tcr_kit.sharing.errors import ShareChangedError
from tcr_kit.sharing.native_header import TRAILER_SIZE
from tests.cli_runner import TCR_COMMAND, run_tcr


def _split(tmp_path: Path, size: int) -> tuple[bytes, list[Path]]:
    secret = os.urandom(size)
    source = tmp_path / "secret.bin"
    source.write_bytes(secret)
    source.chmod(0o600)
    out = tmp_path / "shares"
    out.mkdir()
    run_tcr("shares", "split", "-m", "2", "-n", "2", "-i", source, "-o", out,
            "--encoding", "compact", "-q", expect=0)  # fmt: skip
    return secret, sorted(out.glob("*.tcrs"))


def _flip_last_payload_byte(share: Path) -> None:
    with open(share, "r+b") as fh:
        fh.seek(-TRAILER_SIZE - 1, os.SEEK_END)
        byte = fh.read(1)
        fh.seek(-TRAILER_SIZE - 1, os.SEEK_END)
        fh.write(bytes([byte[0] ^ 0x5A]))


def _start(*args: str | Path, pause: Path | None = None, **env: str) -> subprocess.Popen[bytes]:
    environment = {**os.environ, **env}
    if pause is not None:
        environment[files.PAUSE_AFTER_VERIFY_ENV] = str(pause)
    return subprocess.Popen(
        [*TCR_COMMAND, *(os.fspath(a) for a in args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )


def _once_verified(fifo: Path, proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """Wait until the combine has verified the shares and waits on ``fifo``; release it
    after the body."""
    deadline = time.monotonic() + 60
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the combine never reached its pause"
        time.sleep(0.02)
    try:
        yield
    finally:
        os.close(fd)


def _error_line(proc: subprocess.Popen[bytes], code: int) -> str:
    _, err = proc.communicate(timeout=120)
    text = err.decode()
    assert proc.returncode == code, text
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize("old_output", [False, True], ids=["new-output", "forced-over-old"])
def test_a_share_changed_after_verification_never_publishes_the_output(
    tmp_path: Path, old_output: bool
) -> None:
    _, shares = _split(tmp_path, 600_000)  # three chunks
    out = tmp_path / "recovered.bin"
    if old_output:
        out.write_bytes(b"the old output")
    fifo = tmp_path / "pause"
    os.mkfifo(fifo)
    force = ["--force"] if old_output else []
    proc = _start("shares", "combine", "-o", out, *force, *shares, pause=fifo)
    for _ in _once_verified(fifo, proc):
        _flip_last_payload_byte(shares[0])
    line = _error_line(proc, 3)
    assert str(shares[0]) in line and "changed while" in line
    if old_output:
        assert out.read_bytes() == b"the old output"
    else:
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["shares", "secret.bin", "pause", *(["recovered.bin"] if old_output else [])]
    )


def test_while_combining_the_output_name_is_absent_or_keeps_its_old_content(
    tmp_path: Path,
) -> None:
    secret, shares = _split(tmp_path, 1000)
    out = tmp_path / "recovered.bin"
    out.write_bytes(b"the old output")
    fifo = tmp_path / "pause"
    os.mkfifo(fifo)
    proc = _start("shares", "combine", "-o", out, "--force", *shares, pause=fifo)
    for _ in _once_verified(fifo, proc):
        assert out.read_bytes() == b"the old output"
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert out.read_bytes() == secret


def test_a_buffered_stdout_gets_nothing_when_a_share_changes(tmp_path: Path) -> None:
    _, shares = _split(tmp_path, 600_000)
    fifo = tmp_path / "pause"
    os.mkfifo(fifo)
    proc = _start("shares", "combine", "-o", "-", *shares, pause=fifo)
    for _ in _once_verified(fifo, proc):
        _flip_last_payload_byte(shares[1])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err.decode()
    assert out == b""
    assert str(shares[1]) in err.decode() and "Traceback" not in err.decode()


def test_a_streamed_stdout_is_cut_short_and_declared_invalid_when_a_share_changes(
    tmp_path: Path,
) -> None:
    # Above the buffer limit the secret streams. The reader takes one byte and stops: the
    # combine blocks writing its first block, long before it reads the last one (it reads
    # at most lanes.DEPTH chunks of lanes.READ_CHUNK ahead).
    secret, shares = _split(tmp_path, 8 << 20)
    proc = _start("shares", "combine", "-o", "-", *shares, TCR_STDOUT_BUFFER_LIMIT="0")
    assert proc.stdout is not None
    first = os.read(proc.stdout.fileno(), 1)  # unbuffered: communicate() reads the fd
    _flip_last_payload_byte(shares[0])
    rest, err = proc.communicate(timeout=120)
    text = err.decode()
    assert proc.returncode == 3, text
    assert "Traceback" not in text
    assert str(shares[0]) in text and "NOT the secret" in text and "discard" in text
    streamed = first + rest
    assert len(streamed) < len(secret)
    assert streamed == secret[: len(streamed)]


def test_a_streamed_stdout_of_unchanged_shares_is_the_whole_secret(tmp_path: Path) -> None:
    secret, shares = _split(tmp_path, 1 << 20)
    proc = run_tcr("shares", "combine", "-o", "-", *shares, text=False,
                   env={"TCR_STDOUT_BUFFER_LIMIT": "0"}, expect=0)  # fmt: skip
    assert proc.stdout == secret


def test_the_library_stream_withholds_its_last_block_from_a_changed_share(
    tmp_path: Path,
) -> None:
    secret, paths = _split(tmp_path, 8 << 20)  # 16 chunks; at most 4 are read ahead
    shares = [native.open_share_file(p) for p in paths]
    received = bytearray()

    def sink(block: memoryview) -> None:
        if not received:
            _flip_last_payload_byte(paths[0])
        received.extend(block)

    with pytest.raises(ShareChangedError) as info:
        native.combine_stream(shares, sink)
    assert info.value.exit_code == 3 and info.value.source == str(paths[0])
    assert 0 < len(received) < len(secret)


@pytest.mark.parametrize("stray", ["missing", "plain file"])
def test_the_pause_hook_set_to_anything_but_a_fifo_refuses_the_combine_naming_it(
    tmp_path: Path, stray: str
) -> None:
    """A test hook left set outside the tests (a missing path, a plain file; a device would
    be read forever) refuses the combine in one line naming it, and no secret is written."""
    secret, shares = _split(tmp_path, 4096)
    hook = tmp_path / "hook"
    if stray == "plain file":
        hook.write_bytes(b"not a fifo")
    out = tmp_path / "out.bin"
    proc = _start("shares", "combine", "-o", out, *shares, pause=hook)
    line = _error_line(proc, 2)
    assert files.PAUSE_AFTER_VERIFY_ENV in line and "not a FIFO" in line
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.bin")]
    # Unset, the same combine succeeds.
    run_tcr("shares", "combine", "-o", out, "-q", *shares, expect=0)
    assert out.read_bytes() == secret
