"""The test suite keeps one shape: one switch for the real stack, specific expected errors."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REQUIRE_STACK_ENV as SWITCH

TESTS = Path(__file__).resolve().parents[1]
SWITCH_HOME = TESTS / "conftest.py"


def _trees() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(TESTS.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _calls_named(tree: ast.AST, *names: str) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in names:
                yield node


def _docstrings(tree: ast.AST) -> Iterator[ast.expr]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            if node.body and isinstance(node.body[0], ast.Expr):
                yield node.body[0].value


def _switch_readers(tree: ast.AST) -> list[int]:
    """Lines naming the switch, except prose (docstrings) and tests setting or clearing it."""
    allowed = {id(doc) for doc in _docstrings(tree)}
    allowed |= {id(call.args[0]) for call in _calls_named(tree, "setenv", "delenv") if call.args}
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and SWITCH in node.value
        and id(node) not in allowed
    ]


def test_only_the_root_conftest_reads_the_require_stack_switch() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}:{line}"
        for path, tree in _trees()
        if path != SWITCH_HOME
        for line in _switch_readers(tree)
    ]
    assert offenders == []


def test_the_root_conftest_reads_the_switch() -> None:
    assert _switch_readers(ast.parse(SWITCH_HOME.read_text(encoding="utf-8")))


def _is_bare_exception(node: ast.expr) -> bool:
    if isinstance(node, ast.Tuple):
        return any(_is_bare_exception(e) for e in node.elts)
    return isinstance(node, ast.Name) and node.id in {"Exception", "BaseException"}


def test_no_test_expects_just_any_exception() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}:{call.lineno}"
        for path, tree in _trees()
        for call in _calls_named(tree, "raises")
        if call.args and _is_bare_exception(call.args[0])
    ]
    assert offenders == []
