"""The HSM configuration names a site file: site values (module, environment, token) live
there, so a rehearsal and the real ceremony share one configuration file and its hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tcr_kit.errors import ExitCode
from tcr_kit.hsm.config import (
    ConfigError,
    load_config,
    named_site_file,
    render_config,
    render_site,
)
from tests.cli_runner import run_tcr

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SHARED = render_config(
    name="HSM-E",
    module=MODULE,
    token_label="KSK-HSM-E",
    share_set_id="hsm-e-activation",
    threshold=3,
    count=7,
    site="hsm-site.toml",
)


def _site(folder: Path, conf: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hsm.toml").write_text(SHARED)
    (folder / "hsm-site.toml").write_text(render_site(module=MODULE, env={"SOFTHSM2_CONF": conf}))
    return folder / "hsm.toml"


def test_rehearsal_and_ceremony_share_the_configuration_and_its_hash(tmp_path: Path) -> None:
    rehearsal = load_config(_site(tmp_path / "rehearsal", "/srv/rehearsal/softhsm2.conf"))
    real = load_config(_site(tmp_path / "real", "/srv/ksk/softhsm2.conf"))
    assert rehearsal.sha256 == real.sha256 == hashlib.sha256(SHARED.encode()).hexdigest()
    assert rehearsal.site_sha256 != real.site_sha256
    assert rehearsal.hsm.module == MODULE and rehearsal.hsm.token_label == "KSK-HSM-E"
    assert real.hsm.env == {"SOFTHSM2_CONF": "/srv/ksk/softhsm2.conf"}
    assert real.site_path == tmp_path / "real" / "hsm-site.toml"
    assert real.deprecations == ()
    assert "module" not in SHARED and "SOFTHSM2_CONF" not in SHARED


def test_site_values_in_the_shared_file_or_a_token_named_twice_are_refused(
    tmp_path: Path,
) -> None:
    path = _site(tmp_path, "/srv/softhsm2.conf")
    path.write_text(SHARED.replace('token_label = "KSK-HSM-E"', f'module = "{MODULE}"'))
    with pytest.raises(ConfigError, match=r"hsm\.module is a site value") as exc:
        load_config(path)
    assert exc.value.exit_code == ExitCode.USAGE
    path.write_text(SHARED)
    site = tmp_path / "hsm-site.toml"
    site.write_text(site.read_text().replace("[hsm]\n", '[hsm]\ntoken_label = "OTHER"\n'))
    with pytest.raises(ConfigError, match="token_label is set here and in"):
        load_config(path)
    site.write_text(site.read_text().replace('module = "/usr', 'module = "usr'))
    with pytest.raises(ConfigError, match="must be an absolute path"):
        load_config(path)
    site.unlink()
    with pytest.raises(ConfigError, match="cannot read its site file"):
        load_config(path)


def test_a_token_may_be_named_by_the_site_file(tmp_path: Path) -> None:
    path = _site(tmp_path, "/srv/softhsm2.conf")
    path.write_text(SHARED.replace('token_label = "KSK-HSM-E"\n', ""))
    site = tmp_path / "hsm-site.toml"
    site.write_text(site.read_text().replace("[hsm]\n", '[hsm]\ntoken_serial = "0a1b2c"\n'))
    assert load_config(path).hsm.token_serial == "0a1b2c"


def test_an_old_config_with_inline_site_values_still_loads_with_a_deprecation(
    tmp_path: Path,
) -> None:
    old = render_config(
        name="HSM-E", module=MODULE, token_label="KSK-HSM-E", share_set_id="s",
        threshold=2, count=3, env={"SOFTHSM2_CONF": "/srv/softhsm2.conf"},
    )  # fmt: skip
    path = tmp_path / "old.toml"
    path.write_text(old)
    loaded = load_config(path)
    assert loaded.hsm.env == {"SOFTHSM2_CONF": "/srv/softhsm2.conf"} and loaded.site_path is None
    (notice,) = loaded.deprecations
    assert "deprecated" in notice and "site file" in notice
    (tmp_path / "o").mkdir()
    proc = run_tcr(
        "hsm",
        "init",
        "--config",
        path,
        "-m",
        "2",
        "-n",
        "3",
        "--output-dir",
        tmp_path / "o",
        "--dry-run",
        expect=1,
    )  # fmt: skip (no SoftHSM2 configuration at /srv: the module fails, after the notice)
    lines = [x for x in proc.stderr.splitlines() if "deprecated" in x]
    assert len(lines) == 1 and lines[0].startswith("warning: ")


def test_ceremony_open_records_the_site_file_the_configuration_names(tmp_path: Path) -> None:
    path = _site(tmp_path / "cfg", "/srv/softhsm2.conf")
    assert named_site_file(path) == tmp_path / "cfg" / "hsm-site.toml"
    key = tmp_path / "sa.pem"
    run_tcr("key", "generate", "--output", key, "-q", expect=0)
    ledger = tmp_path / "ledger.sqlite"
    run_tcr(
        "roster", "init", "--ledger", ledger, "--id", "sa-1", "--name", "S A", "--role", "SA",
        "--key", key, expect=0,
    )  # fmt: skip
    proc = run_tcr(
        "ceremony", "open", "1", "--ledger", ledger, "--as", "sa-1", "--key", key,
        "--facility", "east", "--rehearsal", "--config", path, "--json", expect=0,
    )  # fmt: skip
    record = json.loads(proc.stdout)["ceremony"]
    assert record["config_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    site = tmp_path / "cfg" / "hsm-site.toml"
    assert record["site_sha256"] == hashlib.sha256(site.read_bytes()).hexdigest()
