"""The library sits below the CLI: it never imports ``cli``, click, or prompts."""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "tcr_kit"
FORBIDDEN_IMPORTS = {"cli", "tcr_cli", "click", "getpass"}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_library_never_imports_cli_click_or_getpass() -> None:
    offenders = {
        str(p.relative_to(LIBRARY)): sorted(_imported_roots(p) & FORBIDDEN_IMPORTS)
        for p in LIBRARY.rglob("*.py")
        if _imported_roots(p) & FORBIDDEN_IMPORTS
    }
    assert offenders == {}


def test_library_never_calls_print_or_input() -> None:
    offenders = []
    for path in LIBRARY.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"print", "input"}
            ):
                offenders.append(f"{path.relative_to(LIBRARY)}:{node.lineno}")
    assert offenders == []
