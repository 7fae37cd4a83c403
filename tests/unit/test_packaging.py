"""What the wheel installs: every library package, and the CLI under a project-specific name."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_library_package_is_listed_for_installation() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "tcr_kit").rglob("__init__.py")
    }
    assert found <= set(config["packages"]), sorted(found - set(config["packages"]))


def test_the_cli_installs_as_tcr_cli_not_as_a_generic_cli_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "cli" not in config["tool"]["setuptools"]["packages"]
    assert config["tool"]["setuptools"]["package-dir"] == {"tcr_cli": "cli"}
    assert config["project"]["scripts"]["tcr"] == "tcr_cli.main:main"
