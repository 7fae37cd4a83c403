"""docs/api.md is the public API: it lists exactly the names each module exports in __all__."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
SECTION = re.compile(r"^## `(tcr_kit(?:\.\w+)*)`.*?^```names\n(.*?)^```", re.M | re.S)


def documented() -> dict[str, set[str]]:
    return {m.group(1): set(m.group(2).split()) for m in SECTION.finditer(DOC.read_text())}


def test_the_api_doc_covers_every_public_package() -> None:
    assert {
        "tcr_kit.errors",
        "tcr_kit.secrets",
        "tcr_kit.secretio",
        "tcr_kit.fileio",
        "tcr_kit.clock",
        "tcr_kit.sharing",
        "tcr_kit.sharing.formats",
        "tcr_kit.cards",
        "tcr_kit.hsm",
        "tcr_kit.custody",
        "tcr_kit.audit",
    } <= set(documented())


@pytest.mark.parametrize("module", sorted(documented()))
def test_documented_names_are_exactly_the_modules_all(module: str) -> None:
    mod = importlib.import_module(module)
    exported = set(mod.__all__)
    listed = documented()[module]
    assert listed == exported, {
        "in __all__, not in docs/api.md": sorted(exported - listed),
        "in docs/api.md, not in __all__": sorted(listed - exported),
    }
    for name in exported:
        getattr(mod, name)  # every promised name really resolves
