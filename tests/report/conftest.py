"""A small but complete ceremony ledger, built through the library, and the secrets around it
(PINs, shares, private keys, a TCR's bank address) that must never reach the public report."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tcr_kit.audit.cosign import WitnessSigner
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.clock import set_clock
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import (
    Ceremony,
    Credential,
    CredentialKind,
    DiscrepancyCategory,
    Location,
    LocationKind,
    Person,
    Role,
    Severity,
    ShareSet,
)
from tcr_kit.sharing import split_bytes

HISTORY_CSV = (Path(__file__).parent / "history.csv").read_text()
"""Five historical discrepancies (the examples of DOMAIN.md), one naming a ledger bag."""


@dataclass
class Secrets:
    pins: list[str]
    shares: list[str]
    private_keys: list[str]
    addresses: list[str]
    secret_hex: str
    extra: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        lines = [line for s in self.shares for line in s.splitlines() if len(line) > 10]
        return [
            *self.pins,
            *lines,
            *self.private_keys,
            *self.addresses,
            self.secret_hex,
            *self.extra,
        ]


@dataclass
class CeremonyWorld:
    path: Path
    keys: dict[str, SoftwareEd25519Signer]
    key_files: dict[str, Path]
    secrets: Secrets
    share_texts: list[str]
    set_id: str

    def actor(self, pid: str) -> Actor:
        return Actor(pid, self.keys[pid])


PEOPLE = {
    "sa-1": ((Role.SA,), None),
    "ca-1": ((Role.CA,), None),
    "iw-1": ((Role.IW,), None),
    "tcr-1": ((Role.CO,), "east"),
    "tcr-2": ((Role.CO,), "east"),
    "tcr-3": ((Role.CO,), "east"),
    "rksh-1": ((Role.RKSH,), None),
}
KEYS = {pid: SoftwareEd25519Signer.generate() for pid in PEOPLE}
BANK = "First Example Bank, 12 Elm Street, Springfield, box 4471"


def _at(day: int, hour: int) -> None:
    moment = datetime(2026, 11, day, hour, 0, tzinfo=UTC)
    set_clock(lambda: moment)


def build_world(folder: Path, *, bank: str = BANK) -> CeremonyWorld:
    path = folder / "ledger.sqlite"
    key_files = {}
    for pid, key in KEYS.items():
        key_files[pid] = folder / f"{pid}.pem"
        key.save(key_files[pid])
    secret = bytes(range(7, 39))
    shares = split_bytes(secret, 2, 3, label="demo HSM activation")
    share_texts = [s.encode_text() for s in shares]
    set_id = shares[0].set_id_hex
    pins = ["493817", "771204", "260955"]
    led = Ledger.open(path)
    try:
        _at(1, 9)
        people = {
            pid: Person(
                id=pid,
                name=f"Name Of {pid}",
                roles=roles,
                facility=fac,
                public_key=KEYS[pid].public_key_bytes().hex(),
                key_algorithm="ed25519",
            )
            for pid, (roles, fac) in PEOPLE.items()
        }
        sa, ca = Actor("sa-1", KEYS["sa-1"]), Actor("ca-1", KEYS["ca-1"])
        led.initialise(people["sa-1"], KEYS["sa-1"])
        for pid, person in people.items():
            if pid != "sa-1":
                led.add_person(sa, person)
        # Everyone is present with their key: the witness of each change co-signs it.
        led.use_cosigners([WitnessSigner(pid, key) for pid, key in KEYS.items()])
        led.add_share_set(ca, ShareSet(id=set_id, m=2, n=3, purpose="HSM activation", epoch=1))
        for i in (1, 2, 3):
            led.add_credential(
                ca,
                Credential(
                    id=f"card-{i}",
                    kind=CredentialKind.SMARTCARD,
                    serial=f"SC-00{i}",
                    holder=f"tcr-{i}",
                    share_set=set_id,
                    share_index=i,
                    note=f"PIN {pins[i - 1]} kept apart",
                ),
            )
            led.seal_bag(
                ca,
                f"TEB-100{i}",
                [f"card-{i}"],
                witness="iw-1",
                location=Location(
                    kind=LocationKind.SAFE, facility="east", safe="credential-safe", box=str(i)
                ),
                holder=f"tcr-{i}",
            )
        led.add_credential(
            ca,
            Credential(id="rk-1", kind=CredentialKind.SMARTCARD, serial="RK-001", holder="rksh-1"),
        )
        led.seal_bag(
            ca,
            "TEB-2001",
            ["rk-1"],
            witness="iw-1",
            location=Location(kind=LocationKind.SAFE_DEPOSIT_BOX, box=bank),
            holder="rksh-1",
        )
        # Ceremony 1: two bags opened, one resealed, a discrepancy and an override.
        _at(20, 14)
        led.add_ceremony(
            ca,
            Ceremony(
                number=1,
                facility="east",
                date=datetime(2026, 11, 20, 14, tzinfo=UTC),
                participants=("ca-1", "iw-1", "tcr-1", "tcr-2"),
            ),
        )
        led.ceremony_number = 1
        for i in (1, 2):
            led.inspect_bag(
                ca,
                f"TEB-100{i}",
                serial_read=f"TEB-100{i}",
                checklist={"seal-intact": True},
                witness="iw-1",
                step="2.1",
            )
            led.open_bag(ca, f"TEB-100{i}", serial_read=f"TEB-100{i}", witness="iw-1")
        led.add_discrepancy(
            ca,
            category=DiscrepancyCategory.EQUIPMENT,
            severity=Severity.LOW,
            description="spare HDMI cable used",
            step="3.4",
        )
        led.record_event(
            ca,
            "hsm.activate",
            ["hsm:hsm-east-1"],
            {
                "hsm": {"name": "hsm-east-1", "module": "/usr/lib/softhsm/libsofthsm2.so"},
                "presented": [
                    {
                        "kind": "card",
                        "source": "card SC-001",
                        "set_id": set_id,
                        "index": 1,
                        "share_digest": "ab" * 32,
                        "credential": "card-1",
                        "holder": "tcr-1",
                        "tcr_name": "Name Of tcr-1",
                    },
                    {
                        "kind": "card",
                        "source": "card SC-002",
                        "set_id": set_id,
                        "index": 2,
                        "share_digest": "cd" * 32,
                        "credential": "card-2",
                        "holder": "tcr-2",
                        "tcr_name": "Name Of tcr-2",
                    },
                ],
                "outcome": "activated",
                "purpose": "sign",
            },
        )
        led.reseal_bag(
            ca,
            "TEB-1001",
            "TEB-1101",
            witness="iw-1",
            location=Location(
                kind=LocationKind.SAFE, facility="east", safe="credential-safe", box="1"
            ),
        )
        led.ceremony_number = None
    finally:
        led.close()
        set_clock(None)
    pems = [p.read_text() for p in key_files.values()]
    pem_lines = [line for pem in pems for line in pem.splitlines() if "-----" not in line]
    return CeremonyWorld(
        path=path,
        keys=KEYS,
        key_files=key_files,
        secrets=Secrets(
            pins=pins,
            shares=share_texts,
            private_keys=pem_lines,
            addresses=[BANK, "Elm Street"],
            secret_hex=secret.hex(),
            extra=["Name Of tcr-1", "kept apart"],
        ),
        share_texts=share_texts,
        set_id=set_id,
    )


@pytest.fixture(scope="session")
def world_template() -> Iterator[CeremonyWorld]:
    with tempfile.TemporaryDirectory(prefix="tcr-report-tpl-") as name:
        yield build_world(Path(name))


@pytest.fixture
def world(world_template: CeremonyWorld) -> Iterator[CeremonyWorld]:
    """A fresh copy of the ceremony ledger (and its key files) for one test."""
    with tempfile.TemporaryDirectory(prefix="tcr-report-") as name:
        folder = Path(name)
        for f in world_template.path.parent.iterdir():
            shutil.copy2(f, folder / f.name)
        yield CeremonyWorld(
            path=folder / world_template.path.name,
            keys=world_template.keys,
            key_files={k: folder / v.name for k, v in world_template.key_files.items()},
            secrets=world_template.secrets,
            share_texts=world_template.share_texts,
            set_id=world_template.set_id,
        )
