"""The HSM as a PKCS#11 token: load the module with its environment, find the token, read
its activation marker, log in with a derived PIN, sign, and log out.

The activation marker is a public ``CKO_DATA`` object labelled ``tcr-activation`` (JSON:
the native share set id and epoch whose secret derives the current user PIN, and the ids of
retired epochs). It lets an activation name a share of another set or of a retired epoch
(exit 3) *before* spending a PIN try on the HSM.

``pkcs11`` is imported inside functions so that importing this module costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tcr_kit.cards.errors import MiddlewareMissing
from tcr_kit.hsm.config import HsmSection
from tcr_kit.hsm.errors import HsmError, SharesDoNotMatchHsm
from tcr_kit.secrets import SecretBuffer

MARKER_LABEL = "tcr-activation"
"""Label of the public data object naming the share set that activates the HSM."""
MARKER_APPLICATION = "tcr-kit"
"""CKA_APPLICATION of the marker object."""

CKF_TOKEN_INITIALIZED = 0x400
CKF_USER_PIN_FINAL_TRY = 0x00020000
CKF_USER_PIN_LOCKED = 0x00040000


@dataclass(frozen=True)
class EpochRef:
    """One epoch of the activation share set: its native set id (hex) and number."""

    set_id: str
    epoch: int


@dataclass(frozen=True)
class Marker:
    """What the HSM says activates it."""

    current: EpochRef
    threshold: int
    count: int
    retired: tuple[EpochRef, ...] = ()

    def supersedes(self, other: Marker) -> bool:
        """Whether this marker is what ``other`` becomes by a forward update: the same set
        and threshold with a higher count (an extension), or a later epoch that retires
        ``other``'s current one and keeps its retired list (a rekey)."""
        if self.current == other.current:
            return (
                self.threshold == other.threshold
                and self.count > other.count
                and self.retired == other.retired
            )
        return (
            self.current.epoch > other.current.epoch
            and other.current in self.retired
            and set(other.retired) <= set(self.retired)
        )

    def to_bytes(self) -> bytes:
        doc = {
            "format": "tcr-kit.hsm-activation",
            "version": 1,
            "set_id": self.current.set_id,
            "epoch": self.current.epoch,
            "threshold": self.threshold,
            "count": self.count,
            "retired": [{"set_id": r.set_id, "epoch": r.epoch} for r in self.retired],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Marker:
        try:
            doc = json.loads(data)
            if doc.get("format") != "tcr-kit.hsm-activation" or doc.get("version") != 1:
                raise ValueError("format")
            return cls(
                current=EpochRef(str(doc["set_id"]), int(doc["epoch"])),
                threshold=int(doc["threshold"]),
                count=int(doc["count"]),
                retired=tuple(EpochRef(str(r["set_id"]), int(r["epoch"])) for r in doc["retired"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise SharesDoNotMatchHsm(
                f"the HSM's activation marker is unreadable ({exc})"
            ) from None


def load_hsm_module(section: HsmSection) -> Any:
    """Set the module's environment, then load it (once per process; re-initialised when the
    environment changed since)."""
    from tcr_kit.cards.pkcs11_backend import load_module

    changed = False
    for key, value in section.env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
            changed = True
    try:
        lib = load_module(section.module)
    except MiddlewareMissing as exc:
        raise MiddlewareMissing(f"{section.describe()}: {exc}") from None
    if changed:
        try:
            lib.reinitialize()
        except Exception as exc:
            from tcr_kit.cards.pkcs11_backend import module_config_note

            raise MiddlewareMissing(
                f"{section.describe()}: PKCS#11 module {section.module}: cannot be "
                f"initialised ({type(exc).__name__}){module_config_note(section.module)}"
            ) from None
    return lib


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip().rstrip("\x00").strip()


@dataclass
class HsmToken:
    """One HSM token, found by the label or serial in the configuration."""

    section: HsmSection
    lib: Any = None
    token: Any = None
    serial: str = ""
    label: str = ""

    @classmethod
    def open(cls, section: HsmSection) -> HsmToken:
        lib = load_hsm_module(section)
        found = cls._find(lib, section)
        if found is None:
            lib.reinitialize()  # a token created by another process appears only now
            found = cls._find(lib, section)
        if found is None:
            raise HsmError(f"{section.describe()}: no such token in {section.module}")
        return cls(section, lib, found, _text(found.serial), _text(found.label))

    @staticmethod
    def _find(lib: Any, section: HsmSection) -> Any:
        matches = []
        import pkcs11.exceptions as px

        for slot in lib.get_slots(token_present=True):
            try:
                token = slot.get_token()
            except px.PKCS11Error:  # removed while being listed
                continue
            if not token.flags & CKF_TOKEN_INITIALIZED:
                continue
            if (section.token_label is not None and _text(token.label) == section.token_label) or (
                section.token_serial is not None and _text(token.serial) == section.token_serial
            ):
                matches.append(token)
        if len(matches) > 1:
            raise HsmError(f"{section.describe()}: {len(matches)} tokens match; use token_serial")
        return matches[0] if matches else None

    def describe(self) -> str:
        return f"HSM {self.section.name} (token '{self.label}' serial {self.serial})"

    def facts(self) -> dict[str, str]:
        return {"name": self.section.name, "token_label": self.label, "token_serial": self.serial}

    def flags(self) -> int:
        for slot in self.lib.get_slots(token_present=True):
            token = slot.get_token()
            if _text(token.serial) == self.serial:
                return int(token.flags)
        raise HsmError(f"{self.describe()} is no longer present")

    def marker(self) -> Marker | None:
        """The activation marker, or ``None`` when the token has none."""
        from pkcs11 import Attribute, ObjectClass

        with self._session() as session:
            objs = list(
                session.get_objects(
                    {Attribute.LABEL: MARKER_LABEL, Attribute.CLASS: ObjectClass.DATA}
                )
            )
            if not objs:
                return None
            markers = [Marker.from_bytes(bytes(obj[Attribute.VALUE])) for obj in objs]
        if len(markers) == 2:
            # An update cut off between writing the new marker and destroying the old one
            # (provision._store_marker writes in that order): the successor is the marker.
            first, second = markers
            if second.supersedes(first):
                return second
            if first.supersedes(second):
                return first
        if len(markers) > 1:
            raise SharesDoNotMatchHsm(f"{self.describe()} holds {len(objs)} activation markers")
        return markers[0]

    @contextmanager
    def _session(self, pin: SecretBuffer | None = None, rw: bool = False) -> Iterator[Any]:
        import pkcs11.exceptions as px

        kwargs: dict[str, Any] = {"rw": rw}
        if pin is not None:
            # python-pkcs11 wants str: the one unwipeable copy, made as late as possible.
            kwargs["user_pin"] = bytes(pin.view()).decode("ascii")
        try:
            session = self.token.open(**kwargs)
        except px.PinIncorrect:
            raise SharesDoNotMatchHsm(
                f"the shares do not match this HSM: {self.describe()} refused the PIN"
                " derived from the rebuilt secret"
            ) from None
        except px.PinLocked:
            raise HsmError(f"{self.describe()}: the user PIN is locked") from None
        except px.PKCS11Error as exc:
            raise HsmError(f"{self.describe()}: PKCS#11 error {type(exc).__name__}") from None
        finally:
            kwargs.clear()
        try:
            yield session
        except px.PKCS11Error as exc:
            raise HsmError(f"{self.describe()}: PKCS#11 error {type(exc).__name__}") from None
        finally:
            try:
                session.close()  # C_Logout, then C_CloseSession
            except px.PKCS11Error:
                pass

    def login(self, pin: SecretBuffer, *, rw: bool = False) -> Any:
        """A context manager: a session logged in as the user (logged out on exit)."""
        flags = self.flags()
        if flags & CKF_USER_PIN_LOCKED:
            raise HsmError(f"{self.describe()}: the user PIN is locked")
        if flags & CKF_USER_PIN_FINAL_TRY:
            raise HsmError(
                f"{self.describe()}: only one user-PIN try is left; refusing to spend it"
            )
        return self._session(pin, rw=rw)


@dataclass(frozen=True)
class SignRecord:
    """One signature made in a session (no data, no signature: their SHA-256)."""

    key_label: str
    input_sha256: str
    signature_sha256: str


@dataclass
class HsmSession:
    """A logged-in session on the HSM (yielded by :meth:`Activation.session`)."""

    token: HsmToken
    session: Any
    operations: list[SignRecord] = field(default_factory=list)

    @property
    def pkcs11_session(self) -> Any:
        """The python-pkcs11 ``Session`` itself, for operations tcr-kit does not wrap."""
        return self.session

    def public_key_der(self, key_label: str) -> bytes:
        """DER SubjectPublicKeyInfo of the EC key pair ``key_label``."""
        from pkcs11 import Attribute, ObjectClass
        from pkcs11.util.ec import encode_ec_public_key

        pubs = list(
            self.session.get_objects(
                {Attribute.LABEL: key_label, Attribute.CLASS: ObjectClass.PUBLIC_KEY}
            )
        )
        if len(pubs) != 1:
            raise HsmError(f"{self.token.describe()}: no single public key '{key_label}'")
        return bytes(encode_ec_public_key(pubs[0]))

    def sign(self, key_label: str, data: bytes) -> bytes:
        """ECDSA P-256 over SHA-256 of ``data`` (hashed on the host) with the private key
        ``key_label``; the signature is DER (``ECDSA-Sig-Value``)."""
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
        from pkcs11.util.ec import encode_ecdsa_signature

        keys = list(
            self.session.get_objects(
                {Attribute.LABEL: key_label, Attribute.CLASS: ObjectClass.PRIVATE_KEY}
            )
        )
        if len(keys) != 1:
            raise HsmError(
                f"{self.token.describe()}: no signing key labelled '{key_label}'"
                if not keys
                else f"{self.token.describe()}: {len(keys)} keys labelled '{key_label}'"
            )
        key = keys[0]
        if key[Attribute.KEY_TYPE] != KeyType.EC:
            raise HsmError(f"key '{key_label}' is not an EC key")
        digest = hashlib.sha256(data).digest()
        signature = bytes(encode_ecdsa_signature(key.sign(digest, mechanism=Mechanism.ECDSA)))
        self.operations.append(
            SignRecord(key_label, digest.hex(), hashlib.sha256(signature).hexdigest())
        )
        return signature
