"""A new version of an HSM configuration after its share set was extended.

``tcr shares extend`` makes new shares of a set at new indices and raises the ledger's ``n``
for the set (the ``share-set.extend`` event of the manifest's new revision). The HSM
configuration still says the old ``count``, and activation refuses a share whose count is
above it (:mod:`tcr_kit.hsm.activation`): the configuration is reviewed and hashed, so it is
never raised behind anyone's back. This module writes its next version:

* the new ``count`` is the one the ledger records for the set (raised only by a registered,
  signed manifest revision), never a number typed by hand; the set must be the
  configuration's (same id, epoch and threshold, active) and its ``n`` above the
  configuration's ``count``;
* the new file is the old one with the one ``count = N`` line of ``[share_set]`` changed,
  comments and layout kept, so a reviewer's diff is one line; it is parsed again and must
  equal the old configuration with that one field changed;
* it is written through :mod:`tcr_kit.fileio` (a new file, or the same path only with
  ``force``), inside the ledger transaction of its signed ``hsm.config-extend`` event, which
  names the old and new SHA-256 (and the site file's, unchanged): if the event cannot be
  recorded no file appears; it is then read back and checked against what was recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcr_kit.errors import InputError, IntegrityError
from tcr_kit.hsm.config import HsmConfig, LoadedConfig, load_config, parse_config
from tcr_kit.hsm.errors import ConfigError, WrongShareSet

if TYPE_CHECKING:
    from tcr_kit.audit.chain import StoredEvent
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.custody.models import ShareSet

__all__ = ["CONFIG_EXTEND", "ConfigExtension", "extend_config", "plan_config_extension"]

CONFIG_EXTEND = "hsm.config-extend"
"""The audit event kind that records a new configuration version with a raised count."""

CONFIG_MODE = 0o644
"""A configuration holds no secret: it is reviewed and published with the ceremony."""

_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\" -]+?)\s*\]\s*(#.*)?$")
_KEY_LINE = re.compile(
    r"^(\s*([A-Za-z_]+)\s*=\s*)(\d+|\"[A-Za-z0-9._:-]*\"|'[A-Za-z0-9._:-]*')(\s*(?:#.*)?)$"
)
"""A ``key = value`` line whose value is a number or a plain quoted id (group 3), with the
text before it (group 1) and its comment (group 4) kept."""


def version_facts(payload: dict[str, Any], loaded: LoadedConfig, new_sha256: str) -> dict[str, Any]:
    """A new version's event ``payload`` with both configuration hashes' PGP words (the
    ``--json`` of ``config-extend`` and ``config-rekey``)."""
    from tcr_kit.audit.pgpwords import digest_words

    out = dict(payload)
    out["old_config_pgp_words"] = digest_words(bytes.fromhex(loaded.sha256))[1]
    out["new_config_pgp_words"] = digest_words(bytes.fromhex(new_sha256))[1]
    return out


def version_lines(loaded: LoadedConfig, new_sha256: str, output: Path, replaces: bool) -> list[str]:
    """The lines every new version's description ends with: the current file, both hashes
    in hex and PGP words, where it is written, and the site file it leaves unchanged."""
    from tcr_kit.audit.pgpwords import digest_words

    lines = [f"  current {loaded.path}"]
    for label, value in (("old", loaded.sha256), ("new", new_sha256)):
        hex_, words = digest_words(bytes.fromhex(value))
        lines += [f"    {label} SHA-256: {hex_}", f"      PGP words: {words}"]
    how = "replacing it" if replaces else "a new file"
    lines.append(f"  writes {output} ({how}, mode 0644)")
    if loaded.site_sha256 is not None:
        lines.append(f"  site file {loaded.site_path} unchanged ({loaded.site_sha256})")
    return lines


@dataclass(frozen=True)
class ConfigExtension:
    """The next version of a configuration: what it changes and the bytes to write."""

    loaded: LoadedConfig
    """The current version."""
    output: Path
    new_count: int
    data: bytes
    """The new version's exact bytes."""
    manifest_sha256: str | None
    """The latest manifest revision the ledger registered for the set (what raised its n)."""
    replaces: bool
    """``output`` is the current configuration's own path (replaced, with ``force``)."""

    @property
    def old_count(self) -> int:
        return self.loaded.share_set.count

    @property
    def new_sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def payload(self) -> dict[str, Any]:
        """The ``hsm.config-extend`` event's payload."""
        cfg = self.loaded.share_set
        return {
            "hsm": self.loaded.hsm.name,
            "share_set": cfg.id,
            "epoch": cfg.epoch,
            "threshold": cfg.threshold,
            "old_count": self.old_count,
            "new_count": self.new_count,
            "old_config_sha256": self.loaded.sha256,
            "new_config_sha256": self.new_sha256,
            "site_sha256": self.loaded.site_sha256,
            "config": str(self.output),
            "manifest_sha256": self.manifest_sha256,
        }

    def facts(self) -> dict[str, Any]:
        """JSON-ready: the payload and both hashes' PGP words."""
        return version_facts(self.payload(), self.loaded, self.new_sha256)

    def describe(self) -> list[str]:
        """What changes, with both hashes as hex and PGP words (read aloud before yes)."""
        cfg = self.loaded.share_set
        lines = [
            f"HSM {self.loaded.hsm.name}: share set {cfg.id} (epoch {cfg.epoch}) count"
            f" {self.old_count} -> {self.new_count}, threshold {cfg.threshold} unchanged",
            f"  [share_set] count = {self.old_count}  becomes  count = {self.new_count};"
            " nothing else changes",
            *version_lines(self.loaded, self.new_sha256, self.output, self.replaces),
        ]
        if self.manifest_sha256 is not None:
            lines.append(f"  the set's latest registered manifest: {self.manifest_sha256}")
        return lines


def _raise_count(data: bytes, count: int, source: str) -> bytes:
    """``data`` with the one ``count = N`` line of ``[share_set]`` set to ``count``."""
    what = "raise it by hand and have the new version reviewed"
    return set_share_set_lines(data, {"count": str(count)}, source, what=what)


def set_share_set_lines(data: bytes, values: dict[str, str], source: str, *, what: str) -> bytes:
    """``data`` with the one ``KEY = VALUE`` line of ``[share_set]`` of each key of
    ``values`` given that value (already TOML: ``'"id"'`` or ``"3"``), every other byte kept
    (comments, layout, line endings). A key without exactly one such line is a
    :class:`ConfigError` ending with ``what`` (how to do it instead)."""
    try:
        lines = data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    found: dict[str, list[int]] = {key: [] for key in values}
    table = ""
    for i, line in enumerate(lines):
        header = _TABLE.match(line)
        if header:
            table = header.group(1).replace('"', "").replace(" ", "")
            continue
        match = _KEY_LINE.match(line.rstrip("\r\n"))
        if table == "share_set" and match and match.group(2) in found:
            found[match.group(2)].append(i)
    for key, at in found.items():
        if len(at) != 1:
            shown = '"ID"' if key == "id" else "N"
            raise ConfigError(
                f"{source}: no single '{key} = {shown}' line in [share_set] to change; {what}"
            )
    for key, (i,) in found.items():
        ending = lines[i][len(lines[i].rstrip("\r\n")) :]
        match = _KEY_LINE.match(lines[i].rstrip("\r\n"))
        assert match is not None  # noqa: S101 - matched above
        lines[i] = f"{match.group(1)}{values[key]}{match.group(4)}{ending}"
    return "".join(lines).encode("utf-8")


def _check_site_reachable(loaded: LoadedConfig, output: Path) -> None:
    """A site file named relative to the configuration must resolve to the same file from
    the new version's folder."""
    site = loaded.config.site
    if site is None or Path(site).is_absolute():
        return
    if output.parent.resolve() != loaded.path.parent.resolve():
        raise InputError(
            f"{loaded.path} names its site file {site!r} relative to its folder: write the new"
            f" version in that folder ({loaded.path.parent}), not in {output.parent}"
        )


def plan_config_extension(
    loaded: LoadedConfig, ledger: Ledger, output: Path, *, force: bool = False
) -> ConfigExtension:
    """The next version of ``loaded`` with ``count`` raised to the ledger's ``n`` for its
    share set. Refusals: the set not in the ledger, retired, or of another epoch or
    threshold (exit 3); its ``n`` not above the configuration's count (exit 2 when equal:
    nothing to do; exit 3 when below); ``output`` existing without ``force`` (exit 1); an
    ``output`` in another folder than a relative site file allows (exit 2); a configuration
    changed since it was read (exit 3)."""
    from tcr_kit.custody.errors import NotFound

    cfg = loaded.share_set
    try:
        share_set = ledger.share_set(cfg.id)
    except NotFound:
        raise WrongShareSet(
            f"share set {cfg.id} is not in the ledger ('tcr hsm register-set --manifest'):"
            " its count cannot be taken from it"
        ) from None
    if share_set.status != "active":
        raise WrongShareSet(f"share set {cfg.id} is {share_set.status} in the ledger")
    if (share_set.epoch, share_set.m) != (cfg.epoch, cfg.threshold):
        raise WrongShareSet(
            f"{loaded.path} says share set {cfg.id} is epoch {cfg.epoch}, threshold"
            f" {cfg.threshold}; the ledger records epoch {share_set.epoch}, m={share_set.m}"
        )
    if share_set.n == cfg.count:
        raise InputError(
            f"share set {cfg.id} is {share_set.m}-of-{share_set.n} in the ledger, as"
            f" {loaded.path} says: nothing to extend (record the extension first: 'tcr shares"
            " extend --share-set')"
        )
    if share_set.n < cfg.count:
        raise WrongShareSet(
            f"{loaded.path} says share set {cfg.id} has {cfg.count} shares; the ledger records"
            f" only {share_set.n}"
        )
    latest = _latest_signed_manifest(ledger, share_set)
    output, replaces, data = read_for_new_version(loaded, output, force=force)
    new = _raise_count(data, share_set.n, str(loaded.path))
    expected = loaded.config.model_copy(
        update={"share_set": cfg.model_copy(update={"count": share_set.n})}
    )
    check_new_version(loaded, new, output, expected, what="the count")
    return ConfigExtension(loaded, output, share_set.n, new, latest, replaces)


def _latest_signed_manifest(ledger: Ledger, share_set: ShareSet) -> str | None:
    """The ``manifest_sha256`` of the set's latest registered manifest revision, after
    checking that the signed chain makes the ledger's n (one native set, revisions in
    order, the ledger's m, the latest counting n): a count only the ledger's records say
    would give a version whose first activation refuses the marker raise
    (:func:`~tcr_kit.hsm.provision.check_raise_with_ledger`); :class:`WrongShareSet`
    (exit 3). The native set is the split's; the HSM's own is checked at the raise, which
    reads the marker. ``None`` for a set registered without a manifest (its count is the
    ledger's alone, which a raise refuses too; that version is written as before)."""
    from tcr_kit.hsm.manifest_ties import checked_manifest_chain

    history = ledger.manifest_history(share_set.id)
    if not history:
        return None
    split = history[0].get("payload") or {}
    native = str(split.get("native_set_id"))
    chain = checked_manifest_chain(ledger, share_set, history, native, "the set's split is of")
    return str(chain[-1].payload.get("manifest_sha256"))


def extend_config(
    plan: ConfigExtension,
    ledger: Ledger,
    actor: Actor,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> tuple[StoredEvent, LoadedConfig | None]:
    """Write ``plan``'s new version and record its signed ``hsm.config-extend`` event in
    one step: the file is published only if the event was recorded, then read back (its
    SHA-256, count and site file must be those recorded: exit 3 otherwise). Returns the
    event and the new version loaded (``None`` in a dry run, which writes and records
    nothing). The actor needs the policy's ``share-set.change`` (exit 5)."""
    ledger.permit("share-set.change", actor)
    name, cfg = plan.loaded.hsm.name, plan.loaded.share_set
    subjects = [f"hsm:{name}", f"share-set:{cfg.id}"]
    return publish_new_version(
        plan.loaded, plan.output, plan.data, ledger, actor, CONFIG_EXTEND, subjects,
        plan.payload(), force=force, dry_run=dry_run,
    )  # fmt: skip


def read_for_new_version(
    loaded: LoadedConfig, output: Path, *, force: bool
) -> tuple[Path, bool, bytes]:
    """``(output, replaces, data)``: the path a new version of ``loaded`` may be written to
    (existing only with ``force``: exit 1; a relative site file reachable from it: exit 2),
    whether it is the configuration's own path, and the configuration's bytes, checked to be
    the ones ``loaded`` hashed (exit 3 otherwise)."""
    from tcr_kit.errors import FileExistsRefused

    output = Path(output)
    replaces = output.exists() and output.resolve() == loaded.path.resolve()
    if (output.exists() or output.is_symlink()) and not force:
        raise FileExistsRefused(str(output))
    _check_site_reachable(loaded, output)
    try:
        data = loaded.path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{loaded.path}: cannot read HSM config: {exc.strerror}") from None
    if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), loaded.sha256):
        raise IntegrityError(f"{loaded.path} changed since it was read: run the command again")
    return output, replaces, data


def check_new_version(
    loaded: LoadedConfig, new: bytes, output: Path, expected: HsmConfig, *, what: str
) -> None:
    """``new`` parsed (with the same site file) must be ``expected``: the changed lines
    changed ``what`` and nothing else (:class:`ConfigError`, exit 2, otherwise)."""
    site = loaded.site_path.read_bytes() if loaded.site_path is not None else None
    parsed = parse_config(new, str(output), site=site, site_source=str(loaded.site_path))
    if parsed != expected:
        raise ConfigError(
            f"{loaded.path}: changing the [share_set] lines changed more than {what}; change"
            " it by hand and have the new version reviewed"
        )


def publish_new_version(
    loaded: LoadedConfig,
    output: Path,
    data: bytes,
    ledger: Ledger,
    actor: Actor,
    kind: str,
    subjects: list[str],
    payload: dict[str, Any],
    *,
    force: bool,
    dry_run: bool = False,
) -> tuple[StoredEvent, LoadedConfig | None]:
    """Write ``data`` to ``output`` (0644) inside the ledger transaction of its signed
    ``kind`` event, after checking ``loaded`` (and its site file) did not change since it
    was read; then read it back: its SHA-256 and site file must be the ones recorded
    (exit 3 otherwise). With ``dry_run`` nothing is written or recorded: the event it
    would record is returned, with no new version."""
    from tcr_kit.fileio import atomic_output

    if dry_run:
        return ledger.record_event(actor, kind, subjects, payload, dry_run=True), None

    _unchanged_since_read(loaded)  # the confirmation may have taken a while
    with atomic_output(output, force=force, mode=CONFIG_MODE) as out:
        out.write(data)
        event = ledger.record_event(actor, kind, subjects, payload)
    back = load_config(output)
    new_sha256 = hashlib.sha256(data).hexdigest()
    if back.sha256 != new_sha256 or back.site_sha256 != loaded.site_sha256:
        raise IntegrityError(
            f"{output} read back is not the version recorded in audit event {event.seq}"
            f" (SHA-256 {back.sha256}, recorded {new_sha256}): check the file system"
        )
    return event, back


def _unchanged_since_read(loaded: LoadedConfig) -> None:
    """The configuration (and its site file) still hash as when it was read: an edit in
    between is neither overwritten nor recorded as the old version (exit 3)."""
    try:
        now = load_config(loaded.path)
    except ConfigError as exc:
        raise IntegrityError(f"{loaded.path} changed since it was read ({exc})") from None
    if now.sha256 != loaded.sha256 or now.site_sha256 != loaded.site_sha256:
        raise IntegrityError(
            f"{loaded.path} or its site file changed since it was read: nothing was"
            " written or recorded; run the command again"
        )
