"""The HSM configuration file: which HSM, how to reach it, which share set activates it.

A TOML file (read with the standard library's :mod:`tomllib`), validated by pydantic models
that forbid unknown keys and are frozen. Close in spirit to the HSM configuration of IANA's
``kskm`` signer: the PKCS#11 module, the token, the environment the module needs, plus what
tcr-kit adds: the share set (ledger id, threshold, epoch) that activates the HSM and the
parameters of the user-PIN derivation.

The configuration reviewed in rehearsal must be the one used for real, yet the rehearsal
room's machine keeps its module and files elsewhere. So the values that belong to one site
(the PKCS#11 module's path, the environment the module needs such as ``SOFTHSM2_CONF``, and
optionally which token) live in a **site file** the configuration names; everything else is
shared, and the SHA-256 of the shared file alone is what audit events and ``tcr ceremony
open --config`` record. Example, ``hsm.toml`` (shared)::

    format = "tcr-kit.hsm-config"
    version = 1
    site = "hsm-site.toml"             # relative to this file's folder, or absolute

    [hsm]
    name = "HSM-E"
    token_label = "KSK-HSM-E"          # or token_serial = "..."; or in the site file

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

and ``hsm-site.toml`` (one per site)::

    format = "tcr-kit.hsm-site"
    version = 1

    [hsm]
    module = "/usr/lib/softhsm/libsofthsm2.so"

    [hsm.env]                          # set before the module is loaded
    SOFTHSM2_CONF = "/etc/softhsm/softhsm2.conf"

A configuration that names a site file may not set ``hsm.module`` or ``[hsm.env]`` itself,
and a token is named in one of the two files only. A configuration without ``site`` (the
first format, module and environment inline) is still read, with a deprecation notice in
:attr:`LoadedConfig.deprecations`.

The configuration's SHA-256 (of its exact bytes) is recorded in every audit event about the
HSM, so the configuration reviewed in rehearsal can be shown to be the one used; the site
file's is :attr:`LoadedConfig.site_sha256`.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tcr_kit.hsm.errors import ConfigError

_M = TypeVar("_M", bound=BaseModel)

CONFIG_FORMAT: Literal["tcr-kit.hsm-config"] = "tcr-kit.hsm-config"
"""The ``format`` marker of every HSM configuration file."""
SITE_FORMAT: Literal["tcr-kit.hsm-site"] = "tcr-kit.hsm-site"
"""The ``format`` marker of an HSM site file."""
SITE_VALUES = ("module", "env")
"""``[hsm]`` keys that only a site file may set when the configuration names one."""
SITE_OR_SHARED = ("token_label", "token_serial")
"""``[hsm]`` keys either file may set (not both)."""
CONFIG_VERSION: Literal[1] = 1
"""The version of the configuration format this code reads."""
DEFAULT_PIN_INFO = "tcr-kit hsm user pin v1"
"""The default HKDF ``info`` string of the user-PIN derivation."""

_ENV_NAME = r"^[A-Z_][A-Z0-9_]{0,63}$"
_FORBIDDEN_ENV = ("PIN", "SECRET", "PASSWORD", "PASSPHRASE")


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be an absolute path")
    return value


def _no_secret_names(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if any(word in key for word in _FORBIDDEN_ENV):
            raise ValueError(f"{key}: PINs and secrets never go into the environment")
    return value


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
        return _absolute_path(value)

    @field_validator("env")
    @classmethod
    def _no_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        return _no_secret_names(value)

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


class SiteHsmSection(_Model):
    """The site's part of ``[hsm]``: module, environment and (optionally) the token."""

    module: Annotated[str, Field(min_length=1)] | None = None
    token_label: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    token_serial: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    env: dict[Annotated[str, Field(pattern=_ENV_NAME)], str] = Field(default_factory=dict)

    @field_validator("module")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        return None if value is None else _absolute_path(value)

    @field_validator("env")
    @classmethod
    def _no_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        return _no_secret_names(value)


class SiteConfig(_Model):
    """A validated HSM site file (format version 1)."""

    format: Literal["tcr-kit.hsm-site"]
    version: Literal[1]
    hsm: SiteHsmSection


class HsmConfig(_Model):
    """A validated HSM configuration (format version 1)."""

    format: Literal["tcr-kit.hsm-config"]
    version: Literal[1]
    site: Annotated[str, Field(min_length=1)] | None = None
    """The site file (module, environment, token), relative to the configuration's folder."""
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
    """SHA-256 of the configuration file (the shared part when it names a site file)."""
    site_path: Path | None = None
    site_sha256: str | None = None
    deprecations: tuple[str, ...] = ()
    """Notices about an older form of the file (to show the user once)."""

    @property
    def hsm(self) -> HsmSection:
        return self.config.hsm

    @property
    def share_set(self) -> ShareSetSection:
        return self.config.share_set

    @property
    def pin(self) -> PinSection:
        return self.config.pin


def _toml(data: bytes, source: str) -> dict[str, object]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid TOML (nested too deeply)") from None


def _validate(model: type[_M], raw: object, source: str) -> _M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{source}: {where}: {message}") from None


def _with_site(
    raw: dict[str, object], site: dict[str, object], source: str, site_source: str
) -> dict[str, object]:
    """The configuration with the site file's ``[hsm]`` values put in (each key set once)."""
    _validate(SiteConfig, site, site_source)
    hsm = raw.get("hsm")
    if not isinstance(hsm, dict):
        return raw  # validation names the missing or malformed [hsm]
    for key in SITE_VALUES:
        if key in hsm:
            where = "[hsm.env]" if key == "env" else f"hsm.{key}"
            raise ConfigError(
                f"{source}: {where} is a site value: it belongs in the site file "
                f"{site_source}, not in the configuration shared by rehearsal and ceremony"
            )
    site_hsm = site.get("hsm")
    if not isinstance(site_hsm, dict):  # SiteConfig requires it; kept for the type checker
        raise ConfigError(f"{site_source}: hsm: a table is required")
    for key in SITE_OR_SHARED:
        if key in hsm and key in site_hsm:
            raise ConfigError(f"{source}: hsm.{key} is set here and in {site_source}: keep one")
    return {**raw, "hsm": {**hsm, **site_hsm}}


def parse_config(
    data: bytes,
    source: str = "config",
    *,
    site: bytes | None = None,
    site_source: str = "site file",
) -> HsmConfig:
    """Validate configuration bytes (and its site file's, when it names one); one
    :class:`ConfigError` naming the first bad field."""
    raw = _toml(data, source)
    if raw.get("site") is not None and site is not None:
        raw = _with_site(raw, _toml(site, site_source), source, site_source)
    elif raw.get("site") is not None:
        raise ConfigError(f"{source}: names a site file; read it with load_config")
    return _validate(HsmConfig, raw, source)


def _deprecations(raw: dict[str, object], source: str) -> tuple[str, ...]:
    hsm = raw.get("hsm")
    inline = [k for k in SITE_VALUES if isinstance(hsm, dict) and k in hsm]
    if raw.get("site") is not None or not inline:
        return ()
    return (
        f"{source}: deprecated: hsm.module and [hsm.env] are site values; move them to a site "
        f'file the configuration names (site = "hsm-site.toml", format "{SITE_FORMAT}"), so '
        "rehearsal and ceremony share one configuration whose hash is recorded "
        "(docs/guide-activation-scripts.md)",
    )


def named_site_file(path: Path) -> Path | None:
    """The site file an HSM configuration names (resolved against its folder), or ``None``
    when ``path`` names none (or is not an HSM configuration). Used to record the site
    file's hash beside the configuration's without naming it twice."""
    try:
        raw = _toml(Path(path).read_bytes(), str(path))
    except (OSError, ConfigError):
        return None
    site = raw.get("site")
    if raw.get("format") != CONFIG_FORMAT or not isinstance(site, str) or not site:
        return None
    return Path(site) if Path(site).is_absolute() else Path(path).parent / site


def load_config(path: Path) -> LoadedConfig:
    """Read, hash and validate an HSM configuration file and the site file it names."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read HSM config: {exc.strerror}") from None
    raw = _toml(data, str(path))
    site_name = raw.get("site")
    if site_name is None:
        config = parse_config(data, str(path))
        sha = hashlib.sha256(data).hexdigest()
        return LoadedConfig(config, Path(path), sha, deprecations=_deprecations(raw, str(path)))
    if not isinstance(site_name, str) or not site_name:
        raise ConfigError(f"{path}: site: the site file's path, a non-empty string")
    site_path = Path(site_name)
    if not site_path.is_absolute():
        site_path = Path(path).parent / site_path
    try:
        site_data = site_path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read its site file {site_path}: {exc.strerror}"
        ) from None
    config = parse_config(data, str(path), site=site_data, site_source=str(site_path))
    return LoadedConfig(
        config,
        Path(path),
        hashlib.sha256(data).hexdigest(),
        site_path,
        hashlib.sha256(site_data).hexdigest(),
    )


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
    site: str | None = None,
) -> str:
    """A configuration file's text (for guides, demos and tests); validated before return.
    With ``site`` (the site file's name), ``module`` and ``env`` are left out: write them
    with :func:`render_site`."""
    lines = [
        f'format = "{CONFIG_FORMAT}"',
        f"version = {CONFIG_VERSION}",
        *([f"site = {_q(site)}"] if site is not None else []),
        "",
        "[hsm]",
        f"name = {_q(name)}",
        *([f"module = {_q(module)}"] if site is None else []),
        f"token_label = {_q(token_label)}",
        "",
    ]
    if env and site is None:
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
    site_text = render_site(module=module, env=env).encode() if site is not None else None
    parse_config(text.encode(), "generated config", site=site_text)
    return text


def render_site(*, module: str, env: dict[str, str] | None = None) -> str:
    """A site file's text: the PKCS#11 module and the environment it needs; validated."""
    lines = [f'format = "{SITE_FORMAT}"', f"version = {CONFIG_VERSION}", "", "[hsm]"]
    lines += [f"module = {_q(module)}", ""]
    if env:
        lines.append("[hsm.env]")
        lines += [f"{key} = {_q(value)}" for key, value in sorted(env.items())]
        lines.append("")
    text = "\n".join(lines)
    _validate(SiteConfig, _toml(text.encode(), "generated site file"), "generated site file")
    return text


def _q(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
