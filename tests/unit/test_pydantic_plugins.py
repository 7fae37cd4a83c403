"""tcr-kit never lets pydantic load plugins from installed entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _install_plugin(site: Path) -> None:
    """A distribution declaring a pydantic plugin (loaded, it shows in ``sys.modules``)."""
    (site / "spy_plugin.py").write_text(
        "class Plugin:\n"
        "    def new_schema_validator(self, *args, **kwargs):\n"
        "        return None, None, None\n"
        "plugin = Plugin()\n"
    )
    dist = site / "spy_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: spy-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n")


def _plugin_loaded(tmp_path: Path, before: str) -> bool:
    code = (
        before + "\nfrom pydantic import BaseModel\n"
        "class M(BaseModel):\n    x: int\n"
        "M(x=1)\nimport sys\nprint('spy_plugin' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return proc.stdout.split()[-1] == "True"


def test_a_pydantic_plugin_installed_in_the_environment_is_never_loaded(tmp_path: Path) -> None:
    _install_plugin(tmp_path)
    assert _plugin_loaded(tmp_path, "pass")  # pydantic alone would load it
    assert not _plugin_loaded(tmp_path, "import tcr_kit")
    assert not _plugin_loaded(tmp_path, "import tcr_kit.custody.models")
