"""The documented import graph of the library (docs/architecture.md, "Layers").

Every module's imports are read from its source: ``import`` and ``from`` statements
(relative ones resolved), ``importlib.import_module("...")`` and ``__import__("...")`` calls,
and string literals that name a module lazily (``"tcr_kit.hsm.session"``,
``"tcr_cli.card:card"``). A rule names a package and what it must never import.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "tcr_kit"

SUBPACKAGES = ("sharing", "cards", "audit", "custody", "hsm", "report")


def _kit(*packages: str) -> frozenset[str]:
    return frozenset(f"tcr_kit.{p}" for p in packages)


RULES: dict[str, frozenset[str]] = {
    # package (or module) -> what nothing in it may import
    "tcr_kit": frozenset({"tcr_cli", "cli", "click", "getpass"}),
    "tcr_kit.sharing": _kit("cards", "custody", "hsm", "audit", "report"),
    "tcr_kit.cards": _kit("custody", "hsm", "report"),
    "tcr_kit.custody": _kit("hsm", "cards", "report"),
    "tcr_kit.audit": _kit("custody", "cards", "sharing", "hsm", "report"),
    "tcr_kit.hsm": _kit("report"),
    # the public report reads the ledger and the log; it never touches cards or HSMs
    "tcr_kit.report": _kit("cards", "hsm"),
    # the base layer (errors, secrets, clock, fileio, ...) sits below every package
    "tcr_kit.<base>": _kit(*SUBPACKAGES),
}

# Known violations, reported rather than hidden: rule -> reason (strict xfail: when the code
# is fixed the test passes, and the xfail must then be removed).
KNOWN_VIOLATIONS: dict[str, str] = {}

LAZY_NAME = re.compile(r"(?:tcr_kit|tcr_cli|cli)(?:\.\w+)*(?::\w+)?")


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path, root: Path) -> str:
    name = _module_name(path, root)
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def _resolve(package: str, name: str, level: int) -> str:
    if level == 0:
        return name
    base = package.split(".")[: len(package.split(".")) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports, eagerly or lazily, as absolute dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(path, root)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(package, node.module or "", node.level)
            found.add(module)
            # `from pkg import sub` may import the module pkg.sub
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and _is_dynamic_import(node) and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                name = arg.value
                level = len(name) - len(name.lstrip("."))
                found.add(_resolve(package, name.lstrip("."), level))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if LAZY_NAME.fullmatch(node.value) and ("." in node.value or ":" in node.value):
                found.add(node.value.split(":", 1)[0])
    return found


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id in {"import_module", "__import__"}


def _in_rule(module: str, rule: str) -> bool:
    if rule == "tcr_kit.<base>":
        parts = module.split(".")
        return parts[0] == "tcr_kit" and len(parts) > 1 and parts[1] not in SUBPACKAGES
    return module == rule or module.startswith(rule + ".")


def _matches(imported: str, forbidden: str) -> bool:
    return imported == forbidden or imported.startswith(forbidden + ".")


def _library_files() -> Iterator[Path]:
    yield from sorted(LIBRARY.rglob("*.py"))


def violations(rule: str) -> list[str]:
    forbidden = RULES[rule]
    out = []
    for path in _library_files():
        if not _in_rule(_module_name(path), rule):
            continue
        for imported in sorted(imports_of(path)):
            if any(_matches(imported, f) for f in forbidden):
                out.append(f"{path.relative_to(ROOT)} imports {imported}")
    return out


def _rule_param(rule: str) -> object:
    marks = []
    if rule in KNOWN_VIOLATIONS:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_VIOLATIONS[rule]))
    return pytest.param(rule, id=rule, marks=marks)


@pytest.mark.parametrize("rule", [_rule_param(rule) for rule in RULES])
def test_package_imports_nothing_its_layer_forbids(rule: str) -> None:
    assert any(_in_rule(_module_name(p), rule) for p in _library_files()), "rule names no code"
    assert violations(rule) == []


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


# -- the scanner itself: it sees every way a module can be imported -------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import tcr_kit.hsm.session", "tcr_kit.hsm.session"),
        ("from tcr_kit.hsm import session", "tcr_kit.hsm.session"),
        ("from ..hsm import session", "tcr_kit.hsm.session"),
        ("from ..hsm.session import Activation", "tcr_kit.hsm.session"),
        ("from . import ledger", "tcr_kit.custody.ledger"),
        ("import importlib\nm = importlib.import_module('tcr_kit.hsm.session')", "tcr_kit.hsm"),
        ("from importlib import import_module\nimport_module('..hsm', __package__)", "tcr_kit.hsm"),
        ("m = __import__('click')", "click"),
        ("LAZY = {'x': ('tcr_kit.hsm.session:Activation', 'help')}", "tcr_kit.hsm.session"),
        ("COMMAND = 'tcr_cli.card:card'", "tcr_cli.card"),
        ("def f():\n    import getpass\n", "getpass"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tcr_kit.cards import x",
            "tcr_kit.cards",
        ),
    ],
)
def test_scanner_finds_eager_lazy_and_relative_imports(
    tmp_path: Path, source: str, expected: str
) -> None:
    package = tmp_path / "tcr_kit" / "custody"
    package.mkdir(parents=True)
    module = package / "probe.py"
    module.write_text(source + "\n")
    found = imports_of(module, root=tmp_path)
    assert any(_matches(name, expected) for name in found), found


def test_scanner_ignores_prose_that_merely_mentions_a_package(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text('"""Unlike tcr_kit.hsm, this module ..."""\nX = "cli"\n')
    assert imports_of(module, root=tmp_path) == set()


def test_no_module_reaches_into_another_objects_private_connection() -> None:
    """The audit log's connection and tables are its own: others use its public methods."""
    offenders = [
        str(path.relative_to(LIBRARY))
        for path in LIBRARY.rglob("*.py")
        if re.search(r"\b(?!self\b)\w+\._conn\b", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
