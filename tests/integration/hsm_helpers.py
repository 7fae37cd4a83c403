"""Helpers for the HSM tests: a SoftHSM2 HSM made by ``init_softhsm`` under the session's
private SOFTHSM2_CONF."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from tcr_kit.hsm.config import LoadedConfig, load_config, render_config, render_site
from tcr_kit.hsm.provision import InitPlan, init_softhsm
from tests.fixtures.stack import SOFTHSM_MODULE, SoftHsm


@dataclass
class DemoHsm:
    config_path: Path
    loaded: LoadedConfig
    plan: InitPlan
    label: str


def write_config(
    folder: Path, softhsm: SoftHsm, label: str, *, m: int = 3, n: int = 5, module: str = ""
) -> Path:
    """The HSM configuration (shared) and the site file it names (module, SOFTHSM2_CONF)."""
    path = folder / f"{label}.toml"
    site = f"{label}-site.toml"
    path.write_text(
        render_config(
            name=label,
            module=module or SOFTHSM_MODULE,
            token_label=label,
            share_set_id=f"set-{label}",
            threshold=m,
            count=n,
            env={"SOFTHSM2_CONF": str(softhsm.conf)},
            site=site,
        )
    )
    (folder / site).write_text(
        render_site(module=module or SOFTHSM_MODULE, env={"SOFTHSM2_CONF": str(softhsm.conf)})
    )
    return path


def make_hsm(folder: Path, softhsm: SoftHsm, *, m: int = 3, n: int = 5) -> DemoHsm:
    label = f"HSM-{uuid.uuid4().hex[:8]}"
    out = folder / label
    out.mkdir()
    path = write_config(folder, softhsm, label, m=m, n=n)
    loaded = load_config(path)
    plan = init_softhsm(loaded, threshold=m, count=n, output_dir=out)
    return DemoHsm(path, loaded, plan, label)
