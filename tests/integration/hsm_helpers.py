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


def custody_ledger(path: Path, set_id: str, *, m: int = 3, n: int = 5, epoch: int = 1,
                   keys: dict | None = None, config: LoadedConfig | None = None):  # type: ignore[no-untyped-def]  # fmt: skip
    """A ledger for activating with custody: an SA, a CA (the returned actor), TCRs
    ``tcr-1`` .. ``tcr-n``, the share set, and ceremony 1 open with everyone in the room, so
    each TCR can present their own share in person (``Activation(in_person=HOLDERS)``).
    ``keys``, when given, receives every person's signing key by id. With ``config`` the
    ceremony records its hash and its site file's, as ``tcr ceremony open --config`` does."""
    from tcr_kit.audit.signing import SoftwareEd25519Signer
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.custody.models import Attendance, Person, Role, ShareSet, build

    def person(pid: str, role: Role, key: SoftwareEd25519Signer, **kw: str) -> Person:
        return build(Person, id=pid, name=pid.upper(), roles=(role,), key_algorithm="ed25519",
                     public_key=key.public_key_bytes().hex(), **kw)  # fmt: skip

    keys = keys if keys is not None else {}
    sa_key, ca_key = SoftwareEd25519Signer.generate(), SoftwareEd25519Signer.generate()
    keys.update(sa=sa_key, ca=ca_key)
    ledger = Ledger.open(path)
    ledger.initialise(person("sa", Role.SA, sa_key), sa_key)
    sa, ca = Actor("sa", sa_key), Actor("ca", ca_key)
    ledger.add_person(sa, person("ca", Role.CA, ca_key))
    for i in range(1, n + 1):
        keys[f"tcr-{i}"] = SoftwareEd25519Signer.generate()
        ledger.add_person(sa, person(f"tcr-{i}", Role.CO, keys[f"tcr-{i}"], facility="east"))
    ledger.add_share_set(ca, build(ShareSet, id=set_id, m=m, n=n, purpose="HSM", epoch=epoch))
    present = ["ca", *(f"tcr-{i}" for i in range(1, n + 1))]
    attendance = [build(Attendance, person=p, role="x") for p in present]
    hashes = {"config_sha256": config.sha256, "site_sha256": config.site_sha256} if config else {}
    ledger.begin_ceremony(ca, 1, facility="east", attendance=attendance, **hashes)
    ledger.use_ceremony(None)
    return ledger, ca


def register_shares(ledger, actor, set_id: str, count: int, *, serials=None) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    """Register credentials ``<set_id>-<i>`` held by ``tcr-<i>`` for shares 1..count (a
    card's serial from ``serials[i]`` when given); returns the holders."""
    from tcr_kit.custody.models import Credential, CredentialKind, build

    for i in range(1, count + 1):
        serial = (serials or {}).get(i, f"{set_id}-S{i}")
        ledger.add_credential(
            actor,
            build(Credential, id=f"{set_id}-{i}", kind=CredentialKind.SMARTCARD, serial=serial,
                  holder=f"tcr-{i}", share_set=set_id, share_index=i),
        )  # fmt: skip
    return tuple(f"tcr-{i}" for i in range(1, count + 1))


def ledgered_hsm(  # type: ignore[no-untyped-def]
    tmp_path: Path, softhsm: SoftHsm, *, ledger_m: int = 2, ledger_n: int = 3
):
    """A 2-of-3 HSM whose set the ledger ``tmp_path / "ledger.sqlite"`` records as
    ``ledger_m``-of-``ledger_n`` with its three shares registered, closed, and ca's key saved
    as ``tmp_path / "ca.pem"``. Returns the HSM, the ledger's path, ca (an actor) and the
    ``--ledger/--as/--key`` options that record as ca."""
    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    set_id = hsm.loaded.share_set.id
    path = tmp_path / "ledger.sqlite"
    ledger, ca = custody_ledger(path, set_id, m=ledger_m, n=ledger_n)
    register_shares(ledger, ca, set_id, 3)
    ledger.close()
    ca.signer.save(tmp_path / "ca.pem")
    audit = ["--ledger", str(path), "--as", "ca", "--key", str(tmp_path / "ca.pem")]
    return hsm, path, ca, audit


def manifest_signed_by_sa(tmp_path: Path, softhsm: SoftHsm) -> tuple[DemoHsm, Path, dict]:  # type: ignore[type-arg]
    """A 2-of-3 HSM whose split manifest sa signed ('tcr shares sign') and ca registered in
    the ledger ('tcr shares register'), both as real processes. The ledger is
    ``tmp_path / "ledger.sqlite"``, the keys ``tmp_path / "sa.pem"`` and ``"ca.pem"``.
    Returns the HSM, the ledger's path and the staff keys."""
    from tests.integration.conftest import run_tcr

    hsm = make_hsm(tmp_path, softhsm, m=2, n=3)
    set_id = hsm.loaded.share_set.id
    keys: dict = {}  # type: ignore[type-arg]
    path = tmp_path / "ledger.sqlite"
    ledger, _ = custody_ledger(path, set_id, m=2, n=3, keys=keys)
    ledger.close()
    keys["ca"].save(tmp_path / "ca.pem")
    keys["sa"].save(tmp_path / "sa.pem")
    signed = tmp_path / "signed.json"
    for args in (
        ["shares", "sign", str(hsm.plan.manifest_file), "--as", "sa",
         "--key", str(tmp_path / "sa.pem"), "--output", str(signed)],
        ["shares", "register", str(signed), "--share-set", set_id, "--ledger", str(path),
         "--as", "ca", "--key", str(tmp_path / "ca.pem")],
    ):  # fmt: skip
        done = run_tcr(args)
        assert done.returncode == 0, (args, done.stderr)
    return hsm, path, keys


def enrol_pcsc_share(  # type: ignore[no-untyped-def]
    reader: str, share_file: Path, tcr, new_pin: str, record_path: Path
):
    """Enrol the virtual card in ``reader`` with ``share_file``'s share for ``tcr`` (a
    ``TcrRef``), its PIN changed from the transport PIN to ``new_pin``; the record."""
    from tcr_kit.cards.enrol import enrol
    from tcr_kit.cards.pcsc_backend import PcscCard
    from tcr_kit.secrets import SecretBuffer
    from tcr_kit.sharing.native import open_share_file
    from tests.fixtures.stack import PUK, TRANSPORT_PIN

    def secret(value: str) -> SecretBuffer:
        return SecretBuffer(bytearray(value.encode()))

    card = PcscCard(reader)
    try:
        return enrol(
            card,
            open_share_file(share_file).encode_compact(),
            tcr=tcr,
            current_pin=secret(TRANSPORT_PIN),
            new_pin=secret(new_pin),
            puk=secret(PUK),
            record_path=record_path,
        ).record
    finally:
        card.close()
