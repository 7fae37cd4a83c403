"""The HSM configuration file and the user-PIN derivation (no HSM needed)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from pydantic import ValidationError

from tcr_kit.errors import ExitCode
from tcr_kit.hsm.config import ConfigError, load_config, parse_config, render_config
from tcr_kit.hsm.pin import SALT_PREFIX, derive_user_pin
from tcr_kit.secrets import SecretBuffer

GOOD = render_config(
    name="HSM-E",
    module="/usr/lib/softhsm/libsofthsm2.so",
    token_label="KSK-HSM-E",
    share_set_id="hsm-e-activation",
    threshold=3,
    count=7,
    env={"SOFTHSM2_CONF": "/etc/softhsm/softhsm2.conf"},
)


def test_rendered_config_parses_and_load_records_the_file_hash(tmp_path: Path) -> None:
    path = tmp_path / "hsm.toml"
    path.write_text(GOOD)
    loaded = load_config(path)
    assert loaded.hsm.token_label == "KSK-HSM-E"
    assert loaded.share_set.threshold == 3 and loaded.share_set.epoch == 1
    assert loaded.hsm.env == {"SOFTHSM2_CONF": "/etc/softhsm/softhsm2.conf"}
    import hashlib

    assert loaded.sha256 == hashlib.sha256(GOOD.encode()).hexdigest()
    with pytest.raises(ValidationError, match="frozen"):
        loaded.config.hsm.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('module = "/usr/lib/softhsm/libsofthsm2.so"', 'module = "libsofthsm2.so"', "hsm.module"),
        ('token_label = "KSK-HSM-E"', "", "hsm"),
        ("threshold = 3", "threshold = 9", "share_set"),
        ("threshold = 3", 'threshold = "3"', "share_set.threshold"),
        ("epoch = 1", "epoch = -1", "share_set.epoch"),
        ('info = "tcr-kit hsm user pin v1"', 'info = ""', "pin.info"),
        ("length = 32", "length = 8", "pin.length"),
        ('derivation = "hkdf-sha256-base32"', 'derivation = "sha1"', "pin.derivation"),
        ("version = 1", "version = 2", "version"),
        ("[share_set]", "colour = 1\n[share_set]", "hsm.env.colour"),
        ('SOFTHSM2_CONF = "/etc', 'USER_PIN = "/etc', "hsm.env"),
    ],
)
def test_each_bad_field_is_one_error_naming_it_with_exit_2(old: str, new: str, field: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError) as caught:
        parse_config(GOOD.replace(old, new, 1).encode(), "hsm.toml")
    assert caught.value.exit_code == ExitCode.USAGE
    message = str(caught.value)
    assert message.startswith(f"hsm.toml: {field}"), message
    assert "\n" not in message


def test_unknown_top_level_key_and_bad_toml_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"hsm\.toml: extra: Extra inputs"):
        parse_config(("extra = 1\n" + GOOD).encode(), "hsm.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config(b"[hsm", "hsm.toml")


def test_missing_config_file_is_exit_2(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml")
    assert caught.value.exit_code == ExitCode.USAGE


def test_pin_derivation_matches_an_independent_hkdf_and_base32() -> None:
    secret = bytes(range(32))
    set_id = bytes.fromhex("0123456789abcdef")
    info = "tcr-kit hsm user pin v1"
    okm = HKDF(secret, 20, SALT_PREFIX + set_id, SHA256, context=info.encode())
    expected = base64.b32encode(okm).decode().rstrip("=")[:32]
    with derive_user_pin(SecretBuffer(secret), set_id, info=info) as pin:
        assert bytes(pin.view()).decode() == expected
        assert len(pin) == 32
    with derive_user_pin(SecretBuffer(secret), set_id, info=info, length=20) as short:
        assert bytes(short.view()).decode() == expected[:20]
    with derive_user_pin(SecretBuffer(secret), bytes(8), info=info) as other:
        assert bytes(other.view()).decode() != expected
    assert "bytes" in repr(derive_user_pin(SecretBuffer(secret), set_id, info=info))
