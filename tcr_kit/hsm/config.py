"""The HSM configuration file: which HSM, how to reach it, which share set activates it.

A TOML file (read with the standard library's :mod:`tomllib`), validated by pydantic models
that forbid unknown keys and are frozen. Close in spirit to the HSM configuration of IANA's
``kskm`` signer: the PKCS#11 module, the token, the environment the module needs, plus what
tcr-kit adds: the share set (ledger id, threshold, epoch) that activates the HSM and the
parameters of the user-PIN derivation. Example::

    format = "tcr-kit.hsm-config"
    version = 1

    [hsm]
    name = "HSM-E"
    module = "/usr/lib/softhsm/libsofthsm2.so"
    token_label = "KSK-HSM-E"          # or token_serial = "..."

    [hsm.env]                          # set before the module is loaded
    SOFTHSM2_CONF = "/etc/softhsm/softhsm2.conf"

    [share_set]
    id = "hsm-e-activation"            # the share set's id in the custody ledger
    threshold = 3
    count = 7
    epoch = 1
    margin = 1                         # readiness: at risk below threshold + margin

    [pin]
    derivation = "hkdf-sha256-base32"
    info = "tcr-kit hsm user pin v1"
    length = 32

    [approvals]                        # optional (docs/remote-approval.md)
    required = 2                       # signed remote approvals each activation needs

The file's SHA-256 (of its exact bytes) is recorded in every audit event about the HSM, so
the configuration reviewed in rehearsal can be shown to be the one used.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tcr_kit.hsm.errors import ConfigError

CONFIG_FORMAT: Literal["tcr-kit.hsm-config"] = "tcr-kit.hsm-config"
"""The ``format`` marker of every HSM configuration file."""
CONFIG_VERSION: Literal[1] = 1
"""The version of the configuration format this code reads."""
DEFAULT_PIN_INFO = "tcr-kit hsm user pin v1"
"""The default HKDF ``info`` string of the user-PIN derivation."""

_ENV_NAME = r"^[A-Z_][A-Z0-9_]{0,63}$"
_FORBIDDEN_ENV = ("PIN", "SECRET", "PASSWORD", "PASSPHRASE")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class HsmSection(_Model):
    """The HSM: a PKCS#11 module and one token on it."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._ -]+$")]
    """The HSM's name in transcripts and audit events (e.g. ``HSM-E``)."""
    module: Annotated[str, Field(min_length=1)]
    """Absolute path of the PKCS#11 module."""
    token_label: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    token_serial: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    env: dict[Annotated[str, Field(pattern=_ENV_NAME)], str] = Field(default_factory=dict)
    """Environment the module needs, set before it is loaded (e.g. ``SOFTHSM2_CONF``)."""

    @field_validator("module")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must be an absolute path")
        return value

    @field_validator("env")
    @classmethod
    def _no_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if any(word in key for word in _FORBIDDEN_ENV):
                raise ValueError(f"{key}: PINs and secrets never go into the environment")
        return value

    @model_validator(mode="after")
    def _check(self) -> HsmSection:
        if (self.token_label is None) == (self.token_serial is None):
            raise ValueError("give exactly one of token_label and token_serial")
        return self

    def describe(self) -> str:
        which = f"label '{self.token_label}'" if self.token_label else f"serial {self.token_serial}"
        return f"HSM {self.name} (token {which})"


class ShareSetSection(_Model):
    """The share set whose m-of-n quorum activates the HSM."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$")]
    """The share set's id in the custody ledger."""
    threshold: Annotated[int, Field(ge=1, le=255)]
    count: Annotated[int, Field(ge=1, le=255)]
    epoch: Annotated[int, Field(ge=0)]
    """Bumped by every rekey; shares of an older epoch are refused."""
    margin: Annotated[int, Field(ge=0, le=254)] = 1
    """Readiness: fewer than ``threshold + margin`` available credentials is *at risk*."""

    @model_validator(mode="after")
    def _check(self) -> ShareSetSection:
        if self.threshold > self.count:
            raise ValueError(f"threshold {self.threshold} exceeds count {self.count}")
        return self


class PinSection(_Model):
    """How the HSM user PIN is derived from the activation secret (see :mod:`.pin`)."""

    derivation: Literal["hkdf-sha256-base32"] = "hkdf-sha256-base32"
    info: Annotated[str, Field(min_length=1, max_length=128)] = DEFAULT_PIN_INFO
    length: Annotated[int, Field(ge=16, le=64)] = 32
    """Characters of the PIN (base32: 5 bits each; 32 characters carry 160 bits)."""


class ApprovalsSection(_Model):
    """Remote approvals an activation needs (``docs/remote-approval.md``)."""

    required: Annotated[int, Field(ge=0, le=255)] = 0
    """Valid, unexpired approvals by different TCRs on the roster; 0: none needed."""


class HsmConfig(_Model):
    """A validated HSM configuration (format version 1)."""

    format: Literal["tcr-kit.hsm-config"]
    version: Literal[1]
    hsm: HsmSection
    share_set: ShareSetSection
    pin: PinSection = Field(default_factory=PinSection)
    approvals: ApprovalsSection = Field(default_factory=ApprovalsSection)


@dataclass(frozen=True)
class LoadedConfig:
    """A configuration, where it came from, and the SHA-256 of its exact bytes."""

    config: HsmConfig
    path: Path
    sha256: str

    @property
    def hsm(self) -> HsmSection:
        return self.config.hsm

    @property
    def share_set(self) -> ShareSetSection:
        return self.config.share_set

    @property
    def pin(self) -> PinSection:
        return self.config.pin


def parse_config(data: bytes, source: str = "config") -> HsmConfig:
    """Validate configuration bytes; one :class:`ConfigError` naming the first bad field."""
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid TOML (nested too deeply)") from None
    try:
        return HsmConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{source}: {where}: {message}") from None


def load_config(path: Path) -> LoadedConfig:
    """Read, hash and validate an HSM configuration file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read HSM config: {exc.strerror}") from None
    config = parse_config(data, str(path))
    return LoadedConfig(config, Path(path), hashlib.sha256(data).hexdigest())


def render_config(
    *,
    name: str,
    module: str,
    token_label: str,
    share_set_id: str,
    threshold: int,
    count: int,
    epoch: int = 1,
    env: dict[str, str] | None = None,
) -> str:
    """A configuration file's text (for guides, demos and tests); validated before return."""
    lines = [
        f'format = "{CONFIG_FORMAT}"',
        f"version = {CONFIG_VERSION}",
        "",
        "[hsm]",
        f"name = {_q(name)}",
        f"module = {_q(module)}",
        f"token_label = {_q(token_label)}",
        "",
    ]
    if env:
        lines.append("[hsm.env]")
        lines += [f"{key} = {_q(value)}" for key, value in sorted(env.items())]
        lines.append("")
    lines += [
        "[share_set]",
        f"id = {_q(share_set_id)}",
        f"threshold = {threshold}",
        f"count = {count}",
        f"epoch = {epoch}",
        "",
        "[pin]",
        'derivation = "hkdf-sha256-base32"',
        f"info = {_q(DEFAULT_PIN_INFO)}",
        "length = 32",
        "",
    ]
    text = "\n".join(lines)
    parse_config(text.encode(), "generated config")
    return text


def _q(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
