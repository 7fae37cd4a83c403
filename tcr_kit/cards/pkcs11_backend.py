"""The PKCS#11 adapter: a token (SoftHSM2, OpenSC, ykcs11, ...) as a TCR card.

Profile ``tcr-pkcs11-v1`` (see docs/card-profiles.md): on the token, objects labelled

* ``tcr-kex``: EC P-256 key pair generated on the token; private half sensitive,
  non-extractable, DERIVE only. The share is encrypted to it (ECDH-ES + HKDF + AES-GCM).
* ``tcr-sign``: Ed25519 key pair generated on the token where it can (else, or when asked,
  EC P-256), SIGN only (custody attestations, audit events, co-signatures).
* ``tcr-share``: private data object, ``TCRK || v1 || enrolment id || ephemeral point ||
  nonce || tag || ciphertext``. Invisible without login.
* ``tcr-meta``: public data object, the :class:`CardMeta` JSON.
* ``tcr-commit``: public data object holding the enrolment id; created last, removed first.

``pkcs11`` is imported inside functions so that importing this module costs nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tcr_kit.cards.base import CardState, CardStatus, PinStatus, check_new_pin, guard_pin_attempt
from tcr_kit.cards.errors import (
    AlreadyEnrolled,
    CardError,
    CardRemoved,
    CredentialCorrupt,
    MiddlewareMissing,
    NotEnrolled,
    PinBlocked,
    PinIncorrect,
    PinOutcomeUnknown,
    ReaderNotFound,
    WrongCard,
)
from tcr_kit.cards.record import CardIdentity, CardKeys, CardMeta, KeyRef, SigningAlgorithm
from tcr_kit.secrets import SecretBuffer, random_bytes

LABEL_KEX = "tcr-kex"
"""Label of the share-encryption (ECDH) key pair."""
LABEL_SIGN = "tcr-sign"
"""Label of the signing key pair."""
LABEL_SHARE = "tcr-share"
"""Label of the private data object holding the encrypted share."""
LABEL_META = "tcr-meta"
"""Label of the public data object holding the card metadata."""
LABEL_COMMIT = "tcr-commit"
"""Label of the commit marker, written last."""
ALL_LABELS = (LABEL_COMMIT, LABEL_SHARE, LABEL_META, LABEL_KEX, LABEL_SIGN)
"""Every label this profile owns, in the order a wipe removes them."""
APPLICATION = "tcr-kit"
"""CKA_APPLICATION of our data objects."""
BLOB_MAGIC = b"TCRK\x01"
"""Header of the encrypted share blob, version 1."""
HKDF_INFO = b"tcr-kit pkcs11 share v1"

# PKCS#11 token flags (CK_TOKEN_INFO.flags)
CKF_USER_PIN_COUNT_LOW = 0x00010000
CKF_USER_PIN_FINAL_TRY = 0x00020000
CKF_USER_PIN_LOCKED = 0x00040000

_libs: dict[str, Any] = {}


def load_module(module_path: str) -> Any:
    """Load (once per process) the PKCS#11 module at ``module_path``."""
    if module_path in _libs:
        return _libs[module_path]
    if not os.path.isfile(module_path):
        raise MiddlewareMissing(f"PKCS#11 module {module_path}: no such file")
    try:
        import pkcs11
    except ImportError as exc:  # pragma: no cover - a broken install
        raise MiddlewareMissing(f"python-pkcs11 is not installed: {exc}") from None
    try:
        lib = pkcs11.lib(module_path)
    except Exception as exc:
        raise MiddlewareMissing(
            f"PKCS#11 module {module_path}: cannot be loaded ({type(exc).__name__})"
            f"{module_config_note(module_path)}"
        ) from None
    _libs[module_path] = lib
    return lib


def module_config_note(module_path: str) -> str:
    """For a SoftHSM2 module, which configuration file it reads (``SOFTHSM2_CONF``) and
    whether that file and its token folder exist: the usual cause of a failed load."""
    if "softhsm" not in os.path.basename(module_path).lower():
        return ""
    conf = os.environ.get("SOFTHSM2_CONF")
    path = conf or "/etc/softhsm/softhsm2.conf"
    source = "SOFTHSM2_CONF" if conf else "the default, SOFTHSM2_CONF not set"
    if not os.path.isfile(path):
        return f"; SoftHSM2 configuration {path} ({source}): no such file"
    tokendir = None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition("=")
                if key.strip() == "directories.tokendir":
                    tokendir = value.strip()
    except OSError as exc:
        return f"; SoftHSM2 configuration {path} ({source}): unreadable ({exc.strerror})"
    if tokendir and not os.path.isdir(tokendir):
        return f"; SoftHSM2 configuration {path} ({source}): token folder {tokendir} is missing"
    return f"; SoftHSM2 configuration {path} ({source})"


def token_text(value: Any) -> str:
    """A CK_TOKEN_INFO text field (label, serial, model): blank-padded bytes as a string."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip().rstrip("\x00").strip()


def list_tokens(module_path: str) -> list[tuple[str, Any]]:
    """Every initialised token of a module, as ``(slot description, token)`` pairs."""
    lib = load_module(module_path)
    lib.reinitialize()
    out = []
    for slot in lib.get_slots(token_present=True):
        token = slot.get_token()
        if token.flags & 0x400:  # CKF_TOKEN_INITIALIZED
            out.append((f"{module_path} slot {slot.slot_id:#x}", token))
    return out


ED25519_OID = "1.3.101.112"
"""id-Ed25519 (RFC 8410)."""
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
"""DER SubjectPublicKeyInfo of an Ed25519 key, up to the 32 key bytes."""


def _key_ref(pub: Any) -> KeyRef:
    """The public half of a key pair on the token, as DER SPKI and its fingerprint."""
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_ec_public_key

    if pub[Attribute.KEY_TYPE] == KeyType.EC_EDWARDS:
        point = bytes(pub[Attribute.EC_POINT])
        raw = point[2:] if len(point) == 34 and point[:2] == b"\x04\x20" else point
        if len(raw) != 32:
            raise CardError("the token returned a malformed Ed25519 public key")
        der, algorithm = ED25519_SPKI_PREFIX + raw, "ed25519"
    else:
        der, algorithm = bytes(encode_ec_public_key(pub)), "ec-p256"
    return KeyRef(
        algorithm=algorithm,  # type: ignore[arg-type]
        public_key_der=der.hex(),
        fingerprint=hashlib.sha256(der).hexdigest(),
    )


def ecdsa_der(raw: bytes) -> bytes:
    """A P-256 ``CKM_ECDSA`` signature (``r || s``, 64 bytes) as DER (RFC 3279
    ``Ecdsa-Sig-Value``), encoded by pyca/cryptography; anything else is a card fault."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if len(raw) != 64:
        raise CardError(f"the token returned a {len(raw)}-byte ECDSA signature, not r || s (64)")
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def _map_pkcs11(exc: BaseException, what: str) -> CardError:
    name = type(exc).__name__
    if name in {"TokenNotPresent", "DeviceRemoved", "SessionClosed", "SessionHandleInvalid"}:
        return CardRemoved(what)
    if name == "PinLocked":
        return PinBlocked()
    return CardError(f"{what}: PKCS#11 error {name}")


class Pkcs11Card:
    """A PKCS#11 token found by label or serial."""

    def __init__(
        self,
        module_path: str,
        *,
        token_label: str | None = None,
        token_serial: str | None = None,
        allow_last_try: bool = False,
    ) -> None:
        if (token_label is None) == (token_serial is None):
            raise ValueError("give exactly one of token_label and token_serial")
        self.module_path = module_path
        self.allow_last_try = allow_last_try
        self._want = (
            f"label '{token_label}'" if token_label is not None else f"serial {token_serial}"
        )
        lib = self._lib = load_module(module_path)
        self._slot, self._token = self._find(lib, token_label, token_serial)
        if self._slot is None:
            lib.reinitialize()  # a token created by another process appears only now
            self._slot, self._token = self._find(lib, token_label, token_serial)
        if self._slot is None:
            raise ReaderNotFound(f"no PKCS#11 token with {self._want} in {module_path}")

    @staticmethod
    def _find(lib: Any, label: str | None, serial: str | None) -> tuple[Any, Any]:
        matches = []
        import pkcs11.exceptions as px

        for slot in lib.get_slots(token_present=True):
            try:
                token = slot.get_token()
            except px.PKCS11Error:  # removed while being listed (or a broken slot)
                continue
            if (label is not None and token_text(token.label) == label) or (
                serial is not None and token_text(token.serial) == serial
            ):
                matches.append((slot, token))
        if len(matches) > 1:
            raise ReaderNotFound(f"{len(matches)} tokens match; select one by serial")
        return matches[0] if matches else (None, None)

    # -- identity and status -------------------------------------------------------------

    def identity(self) -> CardIdentity:
        t = self._token
        return CardIdentity(
            backend="pkcs11",
            serial=token_text(t.serial),
            label=token_text(t.label),
            model=token_text(t.model),
            manufacturer=token_text(t.manufacturer_id),
        )

    def location(self) -> str:
        return f"{self.module_path} slot {self._slot.slot_id:#x}"

    def _flags(self) -> int:
        try:
            return int(self._slot.get_token().flags)
        except Exception as exc:
            raise _map_pkcs11(exc, "token") from None

    def pin_status(self) -> PinStatus:
        flags = self._flags()
        return PinStatus(
            tries_left=None,
            blocked=bool(flags & CKF_USER_PIN_LOCKED),
            count_low=bool(flags & CKF_USER_PIN_COUNT_LOW),
            final_try=bool(flags & CKF_USER_PIN_FINAL_TRY),
        )

    def _reinitialize(self) -> None:
        """C_Finalize + C_Initialize: closes every session this process has on the module."""
        self._lib.reinitialize()
        self._slot, self._token = self._find(self._lib, None, token_text(self._token.serial))

    @contextmanager
    def _session(self, pin: SecretBuffer | None = None, rw: bool = False) -> Iterator[Any]:
        import pkcs11.exceptions as px

        if pin is not None:
            guard_pin_attempt(self.pin_status(), self.allow_last_try)
        try:
            kwargs: dict[str, Any] = {"rw": rw}
            if pin is not None:
                kwargs["user_pin"] = bytes(pin.view()).decode("utf-8")
            session = self._token.open(**kwargs)
        except px.PinIncorrect:
            after = self.pin_status()
            if after.blocked:
                raise PinBlocked() from None
            raise PinIncorrect(1 if after.final_try else None) from None
        except px.PinLocked:
            raise PinBlocked() from None
        except px.PKCS11Error as exc:
            raise _map_pkcs11(exc, f"token {self._want}") from None
        try:
            yield session
        except px.PKCS11Error as exc:
            raise _map_pkcs11(exc, f"token {self._want}") from None
        finally:
            try:
                session.close()
            except px.PKCS11Error:
                pass

    @staticmethod
    def _objects(session: Any, label: str) -> list[Any]:
        from pkcs11 import Attribute

        return list(session.get_objects({Attribute.LABEL: label}))

    @staticmethod
    def _data(session: Any, label: str) -> bytes | None:
        from pkcs11 import Attribute, ObjectClass

        objs = list(
            session.get_objects({Attribute.LABEL: label, Attribute.CLASS: ObjectClass.DATA})
        )
        if len(objs) != 1:
            return None
        return bytes(objs[0][Attribute.VALUE])

    def _public_keys(self, session: Any) -> CardKeys | None:
        from pkcs11 import Attribute, ObjectClass

        found: dict[str, KeyRef] = {}
        for label in (LABEL_KEX, LABEL_SIGN):
            pubs = list(
                session.get_objects(
                    {Attribute.LABEL: label, Attribute.CLASS: ObjectClass.PUBLIC_KEY}
                )
            )
            if len(pubs) != 1:
                return None
            found[label] = _key_ref(pubs[0])
        return CardKeys(share_encryption=found[LABEL_KEX], signing=found[LABEL_SIGN])

    def _state(self, session: Any) -> tuple[CardState, CardMeta | None]:
        meta_raw = self._data(session, LABEL_META)
        commit = self._data(session, LABEL_COMMIT)
        others = any(self._objects(session, label) for label in (LABEL_KEX, LABEL_SIGN))
        if meta_raw is None:
            return ("pending" if (others or commit is not None) else "blank"), None
        try:
            meta = CardMeta.from_bytes(meta_raw)
        except ValueError:
            return "pending", None
        if commit is not None and hmac.compare_digest(commit, bytes.fromhex(meta.enrolment_id)):
            return "enrolled", meta
        return "pending", meta

    def status(self) -> CardStatus:
        with self._session() as session:
            state, meta = self._state(session)
            keys = self._public_keys(session)
        return CardStatus(
            identity=self.identity(),
            location=self.location(),
            state=state,
            meta=meta,
            pin=self.pin_status(),
            keys=keys,
        )

    # -- PIN management ------------------------------------------------------------------

    def verify_pin(self, pin: SecretBuffer) -> None:
        with self._session(pin):
            pass

    def change_pin(self, old: SecretBuffer, new: SecretBuffer) -> None:
        import pkcs11.exceptions as px

        check_new_pin(new)
        with self._session(old, rw=True) as session:
            try:
                session.set_pin(bytes(old.view()).decode(), bytes(new.view()).decode())
            except (
                px.DeviceRemoved,
                px.TokenNotPresent,
                px.DeviceError,
                px.FunctionFailed,
                px.GeneralError,
                px.SessionClosed,
                px.SessionHandleInvalid,
            ):
                raise PinOutcomeUnknown(
                    f"token {self._want} went away or failed during C_SetPIN"
                ) from None

    def unblock(self, puk: SecretBuffer, new_pin: SecretBuffer) -> None:
        """Set a new user PIN with the SO PIN (``C_InitPIN``); the share is unaffected."""
        import pkcs11.exceptions as px

        check_new_pin(new_pin)
        so_pin = bytes(puk.view()).decode()
        for attempt in (1, 2):
            try:
                session = self._token.open(rw=True, so_pin=so_pin)
                break
            except px.SessionReadOnlyExists:
                # python-pkcs11 0.10 does not close the session it opened when C_Login
                # fails (a wrong user PIN earlier in this process); that read-only session
                # blocks an SO login. Unblocking is a staff operation run on its own, so
                # closing this process's sessions on the module and retrying is safe here.
                if attempt == 2:
                    raise CardError(
                        "token has read-only sessions open; cannot log in as SO"
                    ) from None
                self._reinitialize()
            except px.PinIncorrect:
                raise PinIncorrect(None, "SO PIN") from None
            except px.PinLocked:
                raise PinBlocked("SO PIN") from None
            except px.PKCS11Error as exc:
                raise _map_pkcs11(exc, f"token {self._want}") from None
        try:
            session.init_pin(bytes(new_pin.view()).decode())
        except px.PKCS11Error as exc:
            raise _map_pkcs11(exc, f"token {self._want}") from None
        finally:
            session.close()

    # -- enrolment -------------------------------------------------------------------------

    def begin_enrolment(
        self,
        pin: SecretBuffer,
        puk: SecretBuffer | None,
        enrolment_id: str,
        *,
        signing_algorithm: SigningAlgorithm | None = None,
    ) -> CardKeys:
        """Generate the key pairs (see the module doc). The signing key is Ed25519 where
        the token has it and P-256 otherwise; ``signing_algorithm`` insists on one (a
        P-256 key on a token that also has Ed25519, for an ECDSA-only deployment; a token
        without Ed25519 asked for one is refused rather than silently given P-256)."""
        import pkcs11.exceptions as px
        from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag
        from pkcs11.util.ec import encode_named_curve_parameters

        key_id = bytes.fromhex(enrolment_id)
        templates = {
            "public_template": {Attribute.PRIVATE: False, Attribute.TOKEN: True},
            "private_template": {
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.PRIVATE: True,
                Attribute.TOKEN: True,
            },
        }
        with self._session(pin, rw=True) as session:
            state, meta = self._state(session)
            if state == "enrolled":
                raise AlreadyEnrolled(
                    f"{self.identity().describe()} is already enrolled"
                    f" (enrolment {meta.enrolment_id if meta else '?'}); wipe it first"
                )
            self._delete_ours(session)
            p256 = session.create_domain_parameters(
                KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                local=True,
            )
            kex, _ = p256.generate_keypair(
                id=key_id, label=LABEL_KEX, store=True, capabilities=MechanismFlag.DERIVE,
                **templates,
            )  # fmt: skip
            sign_caps = MechanismFlag.SIGN | MechanismFlag.VERIFY
            sign = None
            if signing_algorithm != "ec-p256":
                try:  # Ed25519 where the token has it (the audit log's algorithm) ...
                    ed = session.create_domain_parameters(
                        KeyType.EC_EDWARDS,
                        {Attribute.EC_PARAMS: encode_named_curve_parameters(ED25519_OID)},
                        local=True,
                    )
                    sign, _ = ed.generate_keypair(
                        id=key_id, label=LABEL_SIGN, store=True, capabilities=sign_caps,
                        mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN, **templates,
                    )  # fmt: skip
                except px.PKCS11Error as exc:
                    if signing_algorithm == "ed25519":
                        raise CardError(
                            f"token {self._want} cannot generate an Ed25519 key"
                            f" ({type(exc).__name__}); enrol with a P-256 signing key"
                        ) from None
            if sign is None:  # ... else (or when asked) ECDSA on P-256
                sign, _ = p256.generate_keypair(
                    id=key_id, label=LABEL_SIGN, store=True, capabilities=sign_caps,
                    **templates,
                )  # fmt: skip
            return CardKeys(share_encryption=_key_ref(kex), signing=_key_ref(sign))

    def _delete_ours(self, session: Any) -> None:
        for label in ALL_LABELS:
            for obj in self._objects(session, label):
                obj.destroy()

    def write_credential(self, pin: SecretBuffer, share: bytes, meta: CardMeta) -> None:
        from Crypto.PublicKey import ECC
        from pkcs11 import Attribute, ObjectClass

        from tcr_kit.cards.envelope import hkdf, seal

        if meta.keys is None:
            raise ValueError("PKCS#11 metadata names its keys")
        card_pub = ECC.import_key(bytes.fromhex(meta.keys.share_encryption.public_key_der))
        eph = ECC.generate(curve="P-256", randfunc=random_bytes)
        shared_point = card_pub.pointQ * eph.d
        shared = bytearray(int(shared_point.x).to_bytes(32, "big"))
        eph_point = bytes(eph.public_key().export_key(format="raw"))
        header = BLOB_MAGIC + bytes.fromhex(meta.enrolment_id) + eph_point
        key = hkdf(shared, eph_point, HKDF_INFO + bytes.fromhex(meta.enrolment_id))
        try:
            blob = header + seal(key, share, header)
        finally:
            shared[:] = bytes(len(shared))
            key[:] = bytes(len(key))
        with self._session(pin, rw=True) as session:
            for label, value, private in (
                (LABEL_SHARE, blob, True),
                (LABEL_META, meta.to_bytes(), False),
            ):
                for obj in self._objects(session, label):
                    obj.destroy()
                session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.DATA,
                        Attribute.LABEL: label,
                        Attribute.APPLICATION: APPLICATION,
                        Attribute.VALUE: value,
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: private,
                    }
                )

    def read_credential(self, pin: SecretBuffer) -> SecretBuffer:
        from pkcs11 import KDF, Attribute, KeyType, ObjectClass

        from tcr_kit.cards.envelope import hkdf, unseal

        with self._session(pin) as session:
            _state, meta = self._state(session)
            if meta is None:
                raise NotEnrolled(f"{self.identity().describe()} holds no enrolment")
            blob = self._data(session, LABEL_SHARE)
            if blob is None:
                raise NotEnrolled(f"{self.identity().describe()} holds no share")
            privs = list(
                session.get_objects(
                    {Attribute.LABEL: LABEL_KEX, Attribute.CLASS: ObjectClass.PRIVATE_KEY}
                )
            )
            if len(privs) != 1:
                raise CredentialCorrupt("the share-encryption key is missing from the token")
            hlen = len(BLOB_MAGIC) + 16 + 65
            header = blob[:hlen]
            if not header.startswith(BLOB_MAGIC) or header[5:21] != bytes.fromhex(
                meta.enrolment_id
            ):
                raise CredentialCorrupt("the encrypted share does not belong to this enrolment")
            eph_point = header[21:hlen]
            derived = privs[0].derive_key(
                KeyType.GENERIC_SECRET,
                256,
                mechanism_param=(KDF.NULL, None, eph_point),
                template={
                    Attribute.SENSITIVE: False,
                    Attribute.EXTRACTABLE: True,
                    Attribute.TOKEN: False,
                },
            )
            shared = bytearray(derived[Attribute.VALUE])
            derived.destroy()
        key = hkdf(shared, eph_point, HKDF_INFO + bytes.fromhex(meta.enrolment_id))
        shared[:] = bytes(len(shared))
        try:
            out = unseal(key, blob[hlen:], header, "share on the token")
        finally:
            key[:] = bytes(len(key))
        digest = hashlib.sha256(out.view()).hexdigest()
        if not hmac.compare_digest(digest, meta.share.digest):
            out.wipe()
            raise CredentialCorrupt("the share on the token does not match its digest")
        return out

    def verify_keys(self, pin: SecretBuffer, meta: CardMeta) -> None:
        from pkcs11 import Attribute, ObjectClass

        if meta.keys is None:
            raise CredentialCorrupt("metadata names no keys")
        with self._session(pin) as session:
            keys = self._public_keys(session)
            if keys != meta.keys:
                raise WrongCard("the token's public keys differ from its enrolment metadata")
            for label in (LABEL_KEX, LABEL_SIGN):
                privs = list(
                    session.get_objects(
                        {Attribute.LABEL: label, Attribute.CLASS: ObjectClass.PRIVATE_KEY}
                    )
                )
                if len(privs) != 1:
                    raise CredentialCorrupt(f"private key {label} missing")
                p = privs[0]
                if not (
                    p[Attribute.SENSITIVE]
                    and not p[Attribute.EXTRACTABLE]
                    and p[Attribute.NEVER_EXTRACTABLE]
                    and p[Attribute.LOCAL]
                ):
                    raise CredentialCorrupt(
                        f"private key {label} is extractable or was not generated on the token"
                    )

    def commit(self, pin: SecretBuffer, meta: CardMeta) -> None:
        from pkcs11 import Attribute, ObjectClass

        with self._session(pin, rw=True) as session:
            for obj in self._objects(session, LABEL_COMMIT):
                obj.destroy()
            session.create_object(
                {
                    Attribute.CLASS: ObjectClass.DATA,
                    Attribute.LABEL: LABEL_COMMIT,
                    Attribute.APPLICATION: APPLICATION,
                    Attribute.VALUE: bytes.fromhex(meta.enrolment_id),
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: False,
                }
            )

    def wipe(self, pin: SecretBuffer) -> None:
        with self._session(pin, rw=True) as session:
            self._delete_ours(session)

    # -- signing ---------------------------------------------------------------------------

    def signing_public_key(self) -> KeyRef:
        """The TCR's signing public key (no PIN needed)."""
        with self._session() as session:
            keys = self._public_keys(session)
        if keys is None:
            raise NotEnrolled(f"{self.identity().describe()} has no signing key")
        return keys.signing

    def sign(self, pin: SecretBuffer, data: bytes) -> bytes:
        """Sign ``data`` with the card's signing key.

        Ed25519 keys give a 64-byte RFC 8032 signature of ``data``; P-256 keys a DER ECDSA
        signature (RFC 3279) over SHA-256 of ``data`` (hashed on the host, so tokens without
        ``CKM_ECDSA_SHA256`` work). ``CKM_ECDSA`` returns ``r || s`` (32 bytes each, PKCS#11
        section 2.3.1); the audit log and every verifier take DER, so the conversion is
        made here, at the card boundary (:func:`ecdsa_der`).
        """
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

        with self._session(pin) as session:
            privs = list(
                session.get_objects(
                    {Attribute.LABEL: LABEL_SIGN, Attribute.CLASS: ObjectClass.PRIVATE_KEY}
                )
            )
            if len(privs) != 1:
                raise NotEnrolled(f"{self.identity().describe()} has no signing key")
            if privs[0][Attribute.KEY_TYPE] == KeyType.EC_EDWARDS:
                return bytes(privs[0].sign(data, mechanism=Mechanism.EDDSA))
            raw = privs[0].sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
        return ecdsa_der(bytes(raw))

    def close(self) -> None:
        """Nothing to release: sessions are opened per operation."""
