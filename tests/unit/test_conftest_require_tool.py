"""The shared ``require_tool`` helper fails (not skips) when the stack is required."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def test_require_tool_fails_when_stack_required(
    require_tool: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TCR_REQUIRE_STACK", "1")
    with pytest.raises(pytest.fail.Exception):
        require_tool("tcr-no-such-tool-anywhere")


def test_require_tool_skips_on_developer_machine(
    require_tool: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TCR_REQUIRE_STACK", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_tool("tcr-no-such-tool-anywhere")


def test_require_tool_returns_path_of_present_tool(require_tool: Callable[[str], str]) -> None:
    assert require_tool("sh").endswith("/sh")
