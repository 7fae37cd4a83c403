"""Children the tests start get SIGHUP's default action even when the test run ignores it
(pytest under ``nohup``, as scripts/mutation.sh runs it): an ignored signal is inherited
across ``exec``, and a child ignoring SIGHUP survives a hangup that ends it for a user."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.cli_runner import CHILD, run_tcr

PROBE = (
    "import signal\n"
    "ignored = next(int(line.split()[1], 16) for line in open('/proc/self/status')"
    " if line.startswith('SigIgn:'))\n"
    "print(signal.getsignal(signal.SIGHUP).name, bool(ignored & (1 << (signal.SIGHUP - 1))))\n"
)
"""Prints the child's SIGHUP handler and whether the kernel has SIGHUP in its ignored set."""


@pytest.fixture
def sighup_ignored() -> Iterator[None]:
    """This process ignores SIGHUP for the test, as under ``nohup``."""
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, before)


def test_a_child_started_plainly_inherits_sighup_ignored(sighup_ignored: None) -> None:
    # What the helpers guard against: without CHILD the child ignores SIGHUP too.
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    assert out.stdout.split() == ["SIG_IGN", "True"]


def test_run_tcr_children_get_sighups_default_action_under_nohup(sighup_ignored: None) -> None:
    proc = run_tcr(program=[sys.executable, "-c", PROBE], expect=0)
    assert proc.stdout.split() == ["SIG_DFL", "False"]
    # The test process itself still ignores it (only the child is changed).
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN


def test_a_child_started_with_child_options_ends_on_a_hangup(sighup_ignored: None) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
        **CHILD,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGHUP)
        assert child.wait(timeout=30) == -signal.SIGHUP
    finally:
        child.kill()
        child.wait()
