"""A SoftHSM2 test or demo HSM whose user PIN comes from a fresh secret split m of n.

Order matters, so that no step can lose the secret:

1. generate the activation secret, split it m of n (native shares, label naming the HSM
   and epoch), write every share file and the set's unsigned manifest (0600, exclusive, all
   or none), read them back and check that they recombine to the secret;
2. create the token with ``softhsm2-util --init-token`` using *throwaway* random transport
   PINs (softhsm2-util only takes PINs in its argv, visible to other local users for its
   13 ms run: they are worthless once step 3 replaced them);
3. over PKCS#11, replace the transport user PIN with the PIN derived from the secret
   (``C_SetPIN``) and the transport SO PIN with a fresh random SO PIN, written to a 0600
   file for the demo operator;
4. log in with the derived PIN, store the activation marker and generate the demo signing
   key (EC P-256, sensitive, never extractable), and read both back.

A real HSM is initialised by its vendor's tooling; only steps 1 and 3 carry over.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcr_kit.errors import InputError, OperationalError
from tcr_kit.fileio import atomic_output, atomic_outputs
from tcr_kit.hsm.config import LoadedConfig, ShareSetSection
from tcr_kit.hsm.errors import HsmError, WrongShareSet
from tcr_kit.hsm.pin import derive_user_pin
from tcr_kit.hsm.token import (
    MARKER_APPLICATION,
    MARKER_LABEL,
    EpochRef,
    HsmToken,
    Marker,
    load_hsm_module,
)
from tcr_kit.secrets import SecretBuffer, random_bytes

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Ledger
    from tcr_kit.custody.models import ShareSet
    from tcr_kit.sharing.native_share import NativeShare

SECRET_BYTES = 32
"""Length of the activation secret."""


def manifest_record(shares: list[NativeShare], files: list[Path]) -> bytes:
    """The unsigned manifest of an activation set (the record ``tcr shares split`` writes
    beside its shares): set id, m of n, label, each share's SHA-256 and file name."""
    from tcr_kit.sharing.native_split import SplitManifest, canonical_json

    first = shares[0]
    manifest = SplitManifest(
        first.set_id, first.threshold, first.count, first.secret_length, first.label,
        [s.digest() for s in shares],
    )  # fmt: skip
    return canonical_json(manifest.record([p.name for p in files])) + b"\n"


def manifest_path(folder: Path, hsm_name: str, epoch: int) -> Path:
    """Where an activation set's manifest goes: ``<HSM>-epoch<E>.manifest.json``."""
    return folder / f"{hsm_name.replace(' ', '_')}-epoch{epoch}.manifest.json"


@dataclass
class InitPlan:
    """What :func:`init_softhsm` does (or did)."""

    hsm: str
    token_label: str
    threshold: int
    count: int
    epoch: int
    share_files: list[Path]
    so_pin_file: Path
    sign_key_label: str
    manifest_file: Path
    """The share set's unsigned manifest (as ``tcr shares split`` writes one): sign it with
    ``tcr shares sign`` and register it with ``tcr hsm register-set --manifest``, so each TCR
    can check their share alone and the set can be extended (``tcr shares extend``)."""
    config_sha256: str = ""
    set_id: str = ""
    token_serial: str = ""
    public_key_der: str = ""
    public_key_sha256: str = ""
    share_digests: list[str] = field(default_factory=list)
    output_dir_missing: bool = False
    """A dry run's output folder does not exist yet (a real run creates it first)."""

    def facts(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["share_files"] = [str(p) for p in self.share_files]
        out["so_pin_file"] = str(self.so_pin_file)
        out["manifest_file"] = str(self.manifest_file)
        return out

    def describe(self, loaded: LoadedConfig, *, dry_run: bool = False) -> list[str]:
        """What was done (or, ``dry_run``, what would be done), line by line."""
        from tcr_kit.audit.pgpwords import digest_words

        what = f"{loaded.hsm.describe()}, secret {self.threshold}-of-{self.count}"
        if dry_run:
            folder = self.so_pin_file.parent
            return [
                f"dry run: would create {what}",
                *([f"  would create folder {folder} (0700)"] if self.output_dir_missing else []),
                *(f"  would write {path} (0600)" for path in self.share_files),
                f"  would write {self.manifest_file} (0600, the set's unsigned manifest)",
                f"  would write {self.so_pin_file} (0600, demo SO PIN)",
                f"  would generate EC P-256 signing key '{self.sign_key_label}' on the HSM",
                "dry run: nothing was changed",
            ]
        digests = zip(self.share_files, self.share_digests, strict=True)
        return [
            f"created {loaded.hsm.describe()} serial {self.token_serial}",
            f"  share set {loaded.share_set.id} epoch {self.epoch}: native set {self.set_id},"
            f" {self.threshold}-of-{self.count}",
            *(f"  {path}  sha256 {digest}" for path, digest in digests),
            f"  manifest {self.manifest_file} (unsigned: tcr shares sign, then"
            " tcr hsm register-set --manifest)",
            f"  signing key '{self.sign_key_label}' public key sha256 {self.public_key_sha256}",
            f"    {digest_words(bytes.fromhex(self.public_key_sha256))[1]}",
            f"  config sha256 {loaded.sha256}",
            f"  demo SO PIN in {self.so_pin_file} (0600)",
        ]


def plan_init(
    loaded: LoadedConfig,
    *,
    threshold: int,
    count: int,
    output_dir: Path,
    sign_key_label: str,
    dry_run: bool = False,
) -> InitPlan:
    cfg = loaded.share_set
    if (threshold, count) != (cfg.threshold, cfg.count):
        raise InputError(
            f"--threshold {threshold} --count {count} differ from the config's share set"
            f" {cfg.id} ({cfg.threshold}-of-{cfg.count})"
        )
    if loaded.hsm.token_label is None:
        raise InputError(f"{loaded.path}: hsm init needs hsm.token_label (the label to create)")
    # A dry run only describes the folder it would create; a real run needs it to exist.
    missing = not output_dir.exists() and not output_dir.is_symlink()
    if not output_dir.is_dir() and not (dry_run and missing):
        what = "no such directory" if missing else "exists and is not a folder"
        raise InputError(f"{output_dir}: {what}")
    stem = loaded.hsm.name.replace(" ", "_")
    files = [output_dir / f"{stem}-epoch{cfg.epoch}-share-{i:03d}.txt" for i in range(1, count + 1)]
    return InitPlan(
        hsm=loaded.hsm.name,
        token_label=loaded.hsm.token_label,
        threshold=threshold,
        count=count,
        epoch=cfg.epoch,
        share_files=files,
        so_pin_file=output_dir / f"{stem}-so-pin.txt",
        manifest_file=manifest_path(output_dir, loaded.hsm.name, cfg.epoch),
        sign_key_label=sign_key_label,
        config_sha256=loaded.sha256,
        output_dir_missing=missing,
    )


def _random_pin(n: int = 16) -> SecretBuffer:
    return SecretBuffer(bytearray(random_bytes(n // 2).hex().encode()))


def init_softhsm(
    loaded: LoadedConfig,
    *,
    threshold: int,
    count: int,
    output_dir: Path,
    sign_key_label: str = "ksk-demo",
    dry_run: bool = False,
) -> InitPlan:
    """Create the SoftHSM2 token named by ``loaded`` (see the module docstring)."""
    from tcr_kit.sharing.native import combine_shares, decode_share, split_bytes

    plan = plan_init(
        loaded,
        threshold=threshold,
        count=count,
        output_dir=output_dir,
        sign_key_label=sign_key_label,
        dry_run=dry_run,
    )
    section = loaded.hsm
    util = shutil.which("softhsm2-util")
    if util is None:
        raise OperationalError("softhsm2-util is not installed (scripts/setup.sh installs it)")
    lib = load_hsm_module(section)
    lib.reinitialize()
    if HsmToken._find(lib, section) is not None:
        raise HsmError(f"{section.describe()} already exists; refusing to initialise it again")
    manifest_file = plan.manifest_file
    for path in [*plan.share_files, manifest_file, plan.so_pin_file]:
        if path.exists():
            from tcr_kit.errors import FileExistsRefused

            raise FileExistsRefused(str(path))
    if dry_run:
        return plan

    with SecretBuffer(random_bytes(SECRET_BYTES)) as secret:
        label = f"{section.name} activation epoch {plan.epoch}"
        shares = split_bytes(secret, threshold, count, label=label)
        plan.set_id = shares[0].set_id_hex
        plan.share_digests = [s.digest().hex() for s in shares]
        with atomic_outputs([*plan.share_files, manifest_file]) as handles:
            for handle, share in zip(handles[:-1], shares, strict=True):
                handle.write(share.encode_text().encode() + b"\n")
            handles[-1].write(manifest_record(shares, plan.share_files))
        back = [decode_share(p.read_bytes(), str(p)) for p in plan.share_files]
        with combine_shares(back[:threshold]).secret as again:
            if not hmac.compare_digest(bytes(again.view()), bytes(secret.view())):
                raise HsmError("the share files read back do not recombine to the secret")
        del shares, back
        user_pin = derive_user_pin(
            secret, bytes.fromhex(plan.set_id), info=loaded.pin.info, length=loaded.pin.length
        )
    with user_pin, _random_pin() as t_user, _random_pin() as t_so, _random_pin(24) as so_pin:
        env = dict(os.environ)
        env.update(section.env)
        proc = subprocess.run(
            [util, "--init-token", "--free", "--label", plan.token_label,
             "--so-pin", bytes(t_so.view()).decode(), "--pin", bytes(t_user.view()).decode()],
            env=env, capture_output=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            first = proc.stderr.decode(errors="replace").strip().splitlines()[:1]
            raise HsmError(f"softhsm2-util --init-token failed: {' '.join(first)}")
        token = HsmToken.open(section)
        plan.token_serial = token.serial
        with token.token.open(rw=True, user_pin=bytes(t_user.view()).decode()) as session:
            session.set_pin(bytes(t_user.view()).decode(), bytes(user_pin.view()).decode())
        with token.token.open(rw=True, so_pin=bytes(t_so.view()).decode()) as session:
            session.set_pin(bytes(t_so.view()).decode(), bytes(so_pin.view()).decode())
        with atomic_output(plan.so_pin_file) as fh:
            fh.write(bytes(so_pin.view()) + b"\n")
        marker = Marker(EpochRef(plan.set_id, plan.epoch), threshold, count)
        with token.login(user_pin, rw=True) as session:
            _store_marker(session, marker)
            der = _generate_signing_key(session, sign_key_label)
        plan.public_key_der = der.hex()
        plan.public_key_sha256 = hashlib.sha256(der).hexdigest()
        if token.marker() != marker:
            raise HsmError("the activation marker read back differs from the one written")
    return plan


def marker_template(marker: Marker) -> dict[Any, Any]:
    """The PKCS#11 attributes of the token object that holds ``marker``: a public data
    object, on the token, labelled :data:`~tcr_kit.hsm.token.MARKER_LABEL`."""
    from pkcs11 import Attribute, ObjectClass

    return {
        Attribute.CLASS: ObjectClass.DATA,
        Attribute.LABEL: MARKER_LABEL,
        Attribute.APPLICATION: MARKER_APPLICATION,
        Attribute.VALUE: marker.to_bytes(),
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.MODIFIABLE: True,
    }


def _store_marker(session: Any, marker: Marker) -> None:
    """Replace the marker: the new object is created **before** the old one is destroyed.

    An update cut off in between (a crash, a pulled cable) then leaves two markers, the old
    one and its successor, which :meth:`HsmToken.marker` resolves to the successor; the
    other order would leave none, and without a marker shares of retired epochs are no
    longer refused before a PIN try is spent. Markers only move forward (a higher count, or
    a later epoch retiring the current one), which is what makes the successor knowable.
    """
    from pkcs11 import Attribute, ObjectClass

    olds = list(
        session.get_objects({Attribute.LABEL: MARKER_LABEL, Attribute.CLASS: ObjectClass.DATA})
    )
    session.create_object(marker_template(marker))
    for stale in olds:
        stale.destroy()


def marker_behind(marker: Marker, cfg: ShareSetSection) -> bool:
    """The configuration counts more shares of the marker's own epoch and threshold than
    the marker does (the set was extended since the marker was written): the first
    activation under it raises the marker's count to the configuration's."""
    return (
        marker.count < cfg.count
        and marker.threshold == cfg.threshold
        and marker.current.epoch == cfg.epoch
    )


def check_raise_with_ledger(
    marker: Marker | None, loaded: LoadedConfig, share_set: ShareSet, ledger: Ledger
) -> None:
    """With a ledger, the marker is raised only to the count the ledger records for the
    set (extensions included: each raised it by a signed manifest revision), never to a
    count that only the configuration file says, and only when the ledger's set is the
    marker's own shares: every signed manifest the ledger registered for the set must be of
    the marker's native set. A set with no registered manifest is refused a raise too:
    nothing recorded then ties it to the HSM's shares or made its count (every recorded
    extension is a manifest revision), and a marker, which only ever moves forward, cannot
    take a wrong count back. A refusal is :class:`WrongShareSet` (exit 3), raised before
    any share is read and so before any PIN is tried."""
    cfg = loaded.share_set
    if marker is None or not marker_behind(marker, cfg):
        return
    manifests = ledger.manifest_history(share_set.id)
    native = marker.current.set_id
    refused = (
        f"the HSM's marker ({marker.count} shares) is not raised to {cfg.count}, refused before"
        " any share is read"
    )
    without = f"a configuration counting the marker's {marker.count} activates without a raise"
    for body in manifests:
        held = (body.get("payload") or {}).get("native_set_id")
        if held != native:
            raise WrongShareSet(
                f"share set {share_set.id} holds the signed manifest of native set {held}"
                f" (audit event {body.get('seq')}); the HSM's marker names native set {native}:"
                f" the ledger's set is not this HSM's shares, so {refused} ({without}; the"
                " raise needs a ledger set registered with the HSM's own manifest)"
            )
    if (share_set.m, share_set.n) != (cfg.threshold, cfg.count):
        # Without a manifest a count below the ledger's is not config-extend's to settle.
        if manifests or share_set.m != cfg.threshold or share_set.n < cfg.count:
            _refuse_other_count(marker, loaded, share_set, registered=bool(manifests))
    if not manifests:
        raise WrongShareSet(
            f"share set {share_set.id} holds no signed manifest in the ledger: nothing recorded"
            f" ties it to the HSM's native set {native} or made its {share_set.n} shares, so"
            f" {refused} ({without})"
        )
    # The recorded fields above are the ledger writer's; the signed text must say the same.
    from tcr_kit.hsm.manifest_ties import checked_manifest_chain

    try:
        checked_manifest_chain(ledger, share_set, manifests, native, "the HSM's marker names")
    except WrongShareSet as exc:
        raise WrongShareSet(f"{exc}: {refused}") from None


def _refuse_other_count(
    marker: Marker, loaded: LoadedConfig, share_set: ShareSet, *, registered: bool
) -> None:
    """Refuse a raise to a threshold or count other than the ledger's, naming the way
    forward that works (an extension of a set ``registered`` without a manifest needs the
    split's signed manifest registered first)."""
    cfg = loaded.share_set
    # The way forward named must be one that works: config-extend only ever writes the
    # ledger's n over a lower count of the same threshold.
    if share_set.m != cfg.threshold:
        how = (
            "the threshold is not the ledger's m: the configuration or the ledger is not this set's"
        )
    elif share_set.n < cfg.count:
        how = (
            "a count no recorded extension made: go back to the configuration's reviewed"
            " version; an extension is recorded with 'tcr shares extend --share-set'"
        )
        if not registered:
            how += (
                ", after the set's signed split manifest is registered ('tcr shares register"
                " MANIFEST --share-set')"
            )
    else:
        how = "write the ledger's count with 'tcr hsm config-extend'"
    raise WrongShareSet(
        f"{loaded.path} says share set {cfg.id} is {cfg.threshold}-of-{cfg.count}; the ledger"
        f" records {share_set.m}-of-{share_set.n}: the HSM's marker ({marker.count} shares) is"
        f" not raised to a count the ledger does not hold, refused before any share is read"
        f" ({how})"
    )


def write_marker(token: HsmToken, pin: SecretBuffer, marker: Marker) -> None:
    """Replace the HSM's activation marker (logged in with ``pin``), then read it back."""
    with token.login(pin, rw=True) as session:
        _store_marker(session, marker)
    if token.marker() != marker:
        raise HsmError("the activation marker read back differs from the one written")


def _generate_signing_key(session: Any, label: str) -> bytes:
    from pkcs11 import Attribute, KeyType, MechanismFlag, ObjectClass
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

    if list(session.get_objects({Attribute.LABEL: label})):
        raise HsmError(f"a key labelled '{label}' already exists on the HSM")
    params = session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
    )
    pub, _ = params.generate_keypair(
        label=label, store=True,
        capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
        public_template={Attribute.PRIVATE: False, Attribute.TOKEN: True},
        private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                          Attribute.PRIVATE: True, Attribute.TOKEN: True},
    )  # fmt: skip
    privs = list(
        session.get_objects({Attribute.LABEL: label, Attribute.CLASS: ObjectClass.PRIVATE_KEY})
    )
    if len(privs) != 1:
        raise HsmError(f"the signing key '{label}' was not found after generation")
    priv = privs[0]
    checks = {
        "SENSITIVE": priv[Attribute.SENSITIVE] is True,
        "EXTRACTABLE=false": priv[Attribute.EXTRACTABLE] is False,
        "NEVER_EXTRACTABLE": priv[Attribute.NEVER_EXTRACTABLE] is True,
        "LOCAL": priv[Attribute.LOCAL] is True,
    }
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise HsmError(f"the signing key '{label}' lacks {', '.join(bad)} after generation")
    return bytes(encode_ec_public_key(pub))
