from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tcr_kit.audit.cosign import WitnessSigner
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Credential, CredentialKind, Location, LocationKind, Person, Role


@dataclass
class World:
    path: Path
    ledger: Ledger
    sa: Actor
    ca: Actor
    iw: Actor
    tcr: Actor


def _person(pid: str, roles: tuple[Role, ...], signer: SoftwareEd25519Signer, **kw: str) -> Person:
    return Person(
        id=pid,
        name=pid.upper(),
        roles=roles,
        public_key=signer.public_key_bytes().hex(),
        key_algorithm="ed25519",
        **kw,
    )


# Key generation is the slow part; share keys across tests (they are test keys).
KEYS = {name: SoftwareEd25519Signer.generate() for name in ("sa", "ca", "iw", "tcr")}

FACILITY = Location(kind=LocationKind.FACILITY, facility="east")
SAFE = Location(kind=LocationKind.SAFE, facility="east", safe="credential-safe", box="7")


def make_world(path: Path) -> World:
    ledger = Ledger.open(path)
    sa = Actor("sa-1", KEYS["sa"])
    ledger.initialise(_person("sa-1", (Role.SA,), KEYS["sa"]), KEYS["sa"])
    ca = Actor("ca-1", KEYS["ca"])
    iw = Actor("iw-1", KEYS["iw"])
    tcr = Actor("tcr-3", KEYS["tcr"])
    ledger.add_person(sa, _person("ca-1", (Role.CA,), KEYS["ca"]))
    ledger.add_person(sa, _person("iw-1", (Role.IW,), KEYS["iw"]))
    ledger.add_person(sa, _person("tcr-3", (Role.CO,), KEYS["tcr"], facility="east"))
    ledger.add_credential(
        ca,
        Credential(
            id="CO3-KEY",
            kind=CredentialKind.SAFE_DEPOSIT_KEY,
            serial="BOX7-KEY-A",
            holder="tcr-3",
        ),
    )
    # The internal witness is present with their key: every change they witness is
    # co-signed by it (tests of a missing co-signature open the ledger again without).
    ledger.use_cosigners([WitnessSigner("iw-1", KEYS["iw"])])
    return World(path, ledger, sa, ca, iw, tcr)


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A temporary directory removed after the test (pytest's own keeps recent ones)."""
    with tempfile.TemporaryDirectory(prefix="tcr-custody-") as name:
        yield Path(name)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path / "ledger.sqlite")
    yield w
    w.ledger.close()
