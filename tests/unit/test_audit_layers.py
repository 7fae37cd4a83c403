"""The audit package knows nothing of ledgers, cards, HSMs or sharing."""

from __future__ import annotations

import ast
from pathlib import Path

AUDIT = Path(__file__).resolve().parents[2] / "tcr_kit" / "audit"
ALLOWED_TCR_KIT = {"tcr_kit.audit", "tcr_kit.errors", "tcr_kit.clock", "tcr_kit.secrets"}


def test_audit_imports_only_itself_and_the_base_modules() -> None:
    offenders = []
    for path in AUDIT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.startswith("tcr_kit") and not any(
                    name == ok or name.startswith(ok + ".") for ok in ALLOWED_TCR_KIT
                ):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
