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


def _build_wheel(tmp_path: Path) -> tuple[Path, str]:
    """A wheel built by pip (with the build backend pyproject.toml names) from a copy of the
    sources in ``tmp_path`` (the build writes build/ and egg-info next to them); returns the
    wheel and the build's verbose output."""
    import shutil
    import subprocess
    import sys

    src = tmp_path / "src"
    src.mkdir()
    junk = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("tcr_kit", "cli"):
        shutil.copytree(ROOT / name, src / name, ignore=junk)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--disable-pip-version-check",
         "--wheel-dir", str(out), str(src)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = out.glob("tcr_kit-*.whl")
    return wheel, proc.stdout + proc.stderr


def test_the_wheel_holds_every_data_file_of_the_library_and_builds_without_warnings(
    tmp_path: Path,
) -> None:
    import zipfile

    wheel, log = _build_wheel(tmp_path)
    assert "absent from the `packages` configuration" not in log, log
    assert "BuildBackendWarning" not in log and "SetuptoolsDeprecationWarning" not in log, log
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    data = {
        "/".join(path.relative_to(ROOT).parts)
        for path in (ROOT / "tcr_kit").rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    }
    assert {
        "tcr_kit/py.typed",
        "tcr_kit/report/data/assumptions.json",
        "tcr_kit/report/static/report.css",
        "tcr_kit/custody/default_policy.toml",
    } <= data
    assert data <= names, sorted(data - names)
    assert "tcr_cli/main.py" in names and not any(n.startswith("cli/") for n in names)
