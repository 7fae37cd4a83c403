"""Fixtures bringing up the real card stack: SoftHSM2 tokens, pcscd, our virtual cards.

With ``TCR_REQUIRE_STACK=1`` (scripts/test.sh, CI) a missing component fails the test; it
skips only on a developer machine without the stack (the switch: ``tests/conftest.py``).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import cli_runner
from tests.conftest import stack_missing
from tests.fixtures.stack import (
    SOFTHSM_MODULE,
    VPCD_PORTS,
    SoftHsm,
    StackMissing,
    VirtualCard,
    ensure_pcscd,
)

ROOT = Path(__file__).resolve().parents[2]


def _missing(what: str) -> None:
    stack_missing(f"card stack component missing: {what}")


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """A private SoftHSM2 token directory for the whole session (set before loading)."""
    try:
        hsm = SoftHsm(tmp_path_factory.mktemp("softhsm"))
    except StackMissing as exc:
        _missing(str(exc))
    os.environ["SOFTHSM2_CONF"] = str(hsm.conf)
    return hsm


@pytest.fixture
def new_token(softhsm: SoftHsm) -> Callable[[str], tuple[str, str]]:
    """Make a fresh token; returns (label, serial). Labels are unique per test run."""

    def make(prefix: str = "TCR") -> tuple[str, str]:
        label = f"{prefix}-{uuid.uuid4().hex[:8]}"
        return label, softhsm.new_token(label)

    return make


@pytest.fixture(scope="session")
def readers() -> list[str]:
    try:
        return ensure_pcscd()
    except StackMissing as exc:
        _missing(str(exc))
        raise


READERS_LOCK = Path("/tmp/tcr-kit-vpcd-readers.lock")
"""The two vpcd readers are one per machine: test runs in other worktrees take turns."""


@contextmanager
def hold_readers() -> Iterator[None]:
    """The machine-wide lock on the two virtual readers (waits up to 3 min)."""
    fd = os.open(READERS_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail("the virtual readers stayed busy (another test run?)")
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # releases the lock


READERS_GROUP = "vpcd-readers"
"""The xdist group of every test using the readers: one worker runs them all, in turn, while
the other runs the rest (two workers would only wait for each other on the lock)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put every test that needs the virtual readers into :data:`READERS_GROUP`."""
    for item in items:
        if "readers" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(READERS_GROUP))


@pytest.fixture
def readers_lock() -> Iterator[None]:
    """Hold the machine-wide lock on the virtual readers for one test."""
    with hold_readers():
        yield


@pytest.fixture
def vcards(
    readers: list[str], readers_lock: None, tmp_path: Path
) -> Iterator[Callable[[str], VirtualCard]]:
    """Blank virtual cards (by serial); every card still in a reader is pulled at the end."""
    made: list[VirtualCard] = []

    def make(serial: str) -> VirtualCard:
        card = VirtualCard(tmp_path, serial)
        made.append(card)
        return card

    yield make
    for card in made:
        card.remove()


def insert(card: VirtualCard, readers: list[str], slot: int = 0) -> str:
    card.insert(readers[slot], VPCD_PORTS[slot])
    return readers[slot]


def run_tcr(
    args: list[str], stdin: str = "", env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``tcr`` command in a subprocess."""
    env = {**(env or {}), "PYTHONPATH": str(ROOT)}
    return cli_runner.run_tcr(*args, input=stdin, env=env, cwd=cwd or ROOT, timeout=60)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The stderr of a failed command: exactly one line starting 'error:', no traceback."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


MODULE = SOFTHSM_MODULE
