"""Shared fixtures for every test package.

``require_tool(name)`` finds an external program (ssss-split, gfcombine, softhsm2-util, ...)
on ``PATH``. When it is missing the test is skipped on a developer machine, but **fails** when
``TCR_REQUIRE_STACK=1`` (set by ``scripts/test.sh`` and CI): integration tests against real
components must never skip silently there. This module is the only reader of that switch:
other fixtures call :func:`stack_required` or :func:`stack_missing`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import NoReturn

import pytest

REQUIRE_STACK_ENV = "TCR_REQUIRE_STACK"


def stack_required() -> bool:
    """True when missing external components must fail the run instead of skipping."""
    return os.environ.get(REQUIRE_STACK_ENV, "") not in {"", "0"}


def stack_missing(message: str) -> NoReturn:
    """A real component is missing: fail the test when the stack is required, else skip it."""
    if stack_required():
        pytest.fail(f"{message} and {REQUIRE_STACK_ENV}=1", pytrace=False)
    pytest.skip(message)


def find_tool(name: str) -> str:
    """Absolute path of ``name``; fails or skips the calling test when it is absent."""
    path = shutil.which(name)
    if path is None:
        stack_missing(f"required tool {name!r} is not on PATH")
    return path


@pytest.fixture
def require_tool() -> Callable[[str], str]:
    """``require_tool("gfsplit")`` -> absolute path, or fail/skip as :func:`find_tool` says."""
    return find_tool


@pytest.fixture(params=["isa-l", "numpy"])
def gf_kernel(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per GF(2^8) kernel; a missing ISA-L fails under the stack switch."""
    from tcr_kit.sharing import isal, stream

    name: str = request.param
    if name == stream.ISAL and isal.library() is None:
        stack_missing(f"ISA-L is not usable: {isal.unavailable_reason()}")
    stream.select_kernel(name)
    try:
        yield name
    finally:
        stream.select_kernel(None)
