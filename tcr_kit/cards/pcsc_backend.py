"""The PC/SC adapter: an ISO 7816 card with the ``tcr-iso7816-v1`` profile as a TCR card.

The share is sealed (AES-256-GCM) under a random 32-byte content key (CK). CK is stored on
the card in EF.KEY, wrapped in *slots*: one under a key derived from the TCR's PIN
(scrypt(PIN, salt), then HKDF with a 32-byte card-held random), optionally one under the
PUK derived the same way, so that an unblocked card keeps its share. A PIN change writes a
*pending* slot under the new PIN before the card's PIN changes, so an interruption never
leaves a share no PIN opens. See docs/card-profiles.md for layouts and the threat model.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterator
from contextlib import contextmanager

from tcr_kit.cards.apdu import ApduConnection, PcscConnection
from tcr_kit.cards.base import CardState, CardStatus, PinStatus, check_new_pin, guard_pin_attempt
from tcr_kit.cards.envelope import NONCE_LEN, TAG_LEN, pin_key, seal, unseal
from tcr_kit.cards.errors import (
    AlreadyEnrolled,
    ApduError,
    CardError,
    CardOutcomeUnknown,
    CardRemoved,
    CredentialCorrupt,
    LastTryRefused,
    NotEnrolled,
    PinBlocked,
    PinIncorrect,
    PinOutcomeUnknown,
)
from tcr_kit.cards.iso_profile import FID_CRED, FID_ID, FID_KEY, FID_META, TcrApplet
from tcr_kit.cards.record import CardIdentity, CardKeys, CardMeta
from tcr_kit.secrets import SecretBuffer, random_bytes, wipe

ID_MAGIC = b"TCRI"
"""EF.ID header."""
KEY_MAGIC = b"TCRW\x01"
"""EF.KEY header, version 1."""
CRED_MAGIC = b"TCRC\x01"
"""EF.CRED header, version 1."""
META_SIZE = 1024
"""Size of EF.META."""
CRED_SIZE = 4352
"""Size of EF.CRED."""
STATE_BLANK, STATE_PENDING, STATE_COMMITTED = 0x00, 0x01, 0x02
SALT_LEN = 16
SLOT_LEN = SALT_LEN + NONCE_LEN + TAG_LEN + 32
"""A wrapped content-key slot: salt || nonce || tag || wrapped CK (76 bytes)."""
KEY_LEN = len(KEY_MAGIC) + 16 + 32 + 3 * SLOT_LEN
"""Used length of EF.KEY."""
SLOT_PIN, SLOT_PENDING, SLOT_PUK = 0, 1, 2
ENROL_HINT = "run the same enrolment again to finish it, giving the new PIN as the current PIN"
WIPE_HINT = "the wipe may be incomplete: wipe the card again"
UNBLOCK_HINT = (
    "the PIN may have changed: run 'tcr card unblock' again with the PUK and the new PIN to"
    " finish (the share opens with the new PIN once that is done)"
)
CHANGED_PIN_HINT = "the PIN has changed: use the new PIN"


def _slot_offset(slot: int) -> int:
    return len(KEY_MAGIC) + 16 + 32 + slot * SLOT_LEN


class PcscCard:
    """The card in one PC/SC reader (or on any :class:`ApduConnection`)."""

    def __init__(
        self,
        reader: str | None = None,
        *,
        connection: ApduConnection | None = None,
        allow_last_try: bool = False,
    ) -> None:
        if (reader is None) == (connection is None):
            raise ValueError("give exactly one of reader and connection")
        self.reader = reader or "(connection)"
        self.allow_last_try = allow_last_try
        self.conn: ApduConnection = connection or PcscConnection(self.reader)
        self.applet = TcrApplet(self.conn)
        self._verified = False
        self._hint = ENROL_HINT
        """How to finish the last operation that changed the card (see ``_reporting``)."""
        try:
            self.applet.select_application()
            raw = self.applet.read(FID_ID, 16)
        except BaseException:
            self.conn.close()
            raise
        if not raw.startswith(ID_MAGIC):
            self.conn.close()
            raise CardError(f"reader '{self.reader}': EF.ID of the card is not ours")
        self._serial = raw[5:13].hex().upper()

    @contextmanager
    def _reporting(self) -> Iterator[None]:
        """Once this connection has changed the card, a failure (card pulled, reader gone, an
        unexpected status word) leaves the card in a state tcr cannot know: it is reported
        as :class:`CardOutcomeUnknown` with the hint of the operation, never as a plain
        failure ("nothing was committed") that would be wrong."""
        try:
            yield
        except (CardOutcomeUnknown, PinOutcomeUnknown):
            raise
        except CardError as exc:
            if not self.applet.changed:
                raise
            detail = exc.detail if isinstance(exc, CardRemoved) else str(exc)
            raise CardOutcomeUnknown(detail, self._hint) from None

    def identity(self) -> CardIdentity:
        return CardIdentity(
            backend="pcsc",
            serial=self._serial,
            model="tcr-iso7816-v1",
            atr=self.conn.atr().hex(" ").upper(),
        )

    def location(self) -> str:
        return self.reader

    def pin_status(self) -> PinStatus:
        with self._reporting():
            left = self.applet.pin_tries_left()
        if left is None:
            return PinStatus(tries_left=None)
        return PinStatus(tries_left=left, blocked=left == 0, final_try=left == 1)

    def _login(self, pin: SecretBuffer) -> None:
        if self._verified:
            return
        left = self.applet.pin_tries_left()
        if left is not None:
            guard_pin_attempt(
                PinStatus(tries_left=left, blocked=left == 0, final_try=left == 1),
                self.allow_last_try,
            )
            self.applet.verify(pin)
        self._verified = True

    def verify_pin(self, pin: SecretBuffer) -> None:
        self._verified = False
        with self._reporting():
            self._login(pin)

    # -- metadata ------------------------------------------------------------------------

    def _meta(self) -> tuple[CardState, CardMeta | None]:
        head = self.applet.read(FID_META, 19)
        state, eid, length = head[0], head[1:17], struct.unpack(">H", head[17:19])[0]
        if state == STATE_BLANK:
            return "blank", None
        meta: CardMeta | None = None
        if 0 < length <= META_SIZE - 19:
            try:
                meta = CardMeta.from_bytes(self.applet.read(FID_META, 19 + length)[19:])
            except ValueError:
                meta = None
        if meta is not None and meta.enrolment_id != eid.hex():
            meta = None
        if state == STATE_COMMITTED and meta is not None:
            return "enrolled", meta
        return "pending", meta

    def status(self) -> CardStatus:
        with self._reporting():
            state, meta = self._meta()
        return CardStatus(
            identity=self.identity(),
            location=self.location(),
            state=state,
            meta=meta,
            pin=self.pin_status(),
            keys=None,
        )

    # -- content key slots -----------------------------------------------------------------

    def _read_keyfile(self) -> bytes:
        data = self.applet.read(FID_KEY, KEY_LEN)
        if not data.startswith(KEY_MAGIC):
            raise NotEnrolled(f"{self.identity().describe()} holds no content key")
        return data

    @staticmethod
    def _wrap(secret: SecretBuffer, card_random: bytes, eid: bytes, ck: bytearray) -> bytes:
        salt = random_bytes(SALT_LEN)
        kek = pin_key(secret, salt, card_random, b"tcr-kit iso slot v1" + eid)
        try:
            return salt + seal(kek, ck, b"slot" + eid)
        finally:
            wipe(kek)

    @staticmethod
    def _unwrap(secret: SecretBuffer, card_random: bytes, eid: bytes, slot: bytes) -> SecretBuffer:
        if not any(slot):
            raise CredentialCorrupt("empty key slot")
        kek = pin_key(secret, slot[:SALT_LEN], card_random, b"tcr-kit iso slot v1" + eid)
        try:
            return unseal(kek, slot[SALT_LEN:], b"slot" + eid, "content key slot")
        finally:
            wipe(kek)

    def _content_key(
        self, data: bytes, secret: SecretBuffer, slots: tuple[int, ...]
    ) -> SecretBuffer:
        """Unwrap the content key from the first of ``slots`` that ``secret`` opens."""
        eid, card_random = data[5:21], data[21:53]
        for slot in slots:
            at = _slot_offset(slot)
            try:
                return self._unwrap(secret, card_random, eid, data[at : at + SLOT_LEN])
            except CredentialCorrupt:
                continue
        raise CredentialCorrupt("no key slot on the card opens with this PIN / PUK")

    def _write_slot(
        self, data: bytes, slot: int, secret: SecretBuffer | None, ck: SecretBuffer
    ) -> None:
        """Wrap ``ck`` under ``secret`` into ``slot`` (or clear the slot for ``None``)."""
        eid, card_random = data[5:21], data[21:53]
        value = bytes(SLOT_LEN) if secret is None else self._wrap(secret, card_random, eid, ck.raw)
        self.applet.update(FID_KEY, value, _slot_offset(slot))

    # -- PIN management ------------------------------------------------------------------

    def change_pin(self, old: SecretBuffer, new: SecretBuffer) -> None:
        """Change the PIN. The new PIN's key slot is written first (pending), so the share
        is readable with either PIN whatever happens next. If the card goes away once
        CHANGE REFERENCE DATA was sent, the outcome is unknown and
        :class:`PinOutcomeUnknown` says so (never "nothing was committed")."""
        check_new_pin(new)
        self._hint = CHANGED_PIN_HINT
        with self._reporting():
            self._login(old)
            state, _meta = self._meta()
            if state == "blank":
                self._change_reference_data(old, new)
                return
            keyfile = self._read_keyfile()
            with self._content_key(keyfile, old, (SLOT_PIN, SLOT_PENDING)) as ck:
                changed = self.applet.changed
                try:
                    self._write_slot(keyfile, SLOT_PENDING, new, ck)
                finally:
                    # The pending slot is scratch (no PIN opens the share through it until
                    # the PIN changes): writing it is not a change a failure must report.
                    self.applet.changed = changed
                self._change_reference_data(old, new)
                try:
                    self._write_slot(keyfile, SLOT_PIN, new, ck)
                    self._write_slot(keyfile, SLOT_PENDING, None, ck)
                except CardError as exc:
                    raise PinOutcomeUnknown(str(exc), changed=True) from None

    def _change_reference_data(self, old: SecretBuffer, new: SecretBuffer) -> None:
        """CHANGE REFERENCE DATA; a status word is a definite answer, a lost card is not."""
        try:
            self.applet.change_reference_data(old, new)
        except (ApduError, PinIncorrect, PinBlocked, LastTryRefused):
            raise
        except CardError:
            raise PinOutcomeUnknown(
                "the card went away while changing the PIN, after the command was sent"
            ) from None

    def unblock(self, puk: SecretBuffer, new_pin: SecretBuffer) -> None:
        """RESET RETRY COUNTER with the PUK, then re-wrap the content key for the new PIN
        from the PUK slot. Interrupted after the reset was sent, the PIN may be the new one
        while the PIN slot is still the old one's: a re-run (the PUK still works) finishes."""
        check_new_pin(new_pin)
        self._hint = UNBLOCK_HINT
        with self._reporting():
            self.applet.reset_retry_counter(puk, new_pin)
            self._verified = False
            self._login(new_pin)
            state, _meta = self._meta()
            if state == "blank":
                return
            keyfile = self._read_keyfile()
            at = _slot_offset(SLOT_PUK)
            if not any(keyfile[at : at + SLOT_LEN]):
                raise CredentialCorrupt(
                    "the PIN is reset, but this card was enrolled without a PUK slot: its share"
                    " cannot be recovered; wipe and re-enrol it"
                )
            with self._content_key(keyfile, puk, (SLOT_PUK,)) as ck:
                self._write_slot(keyfile, SLOT_PIN, new_pin, ck)
                self._write_slot(keyfile, SLOT_PENDING, None, ck)

    # -- enrolment -------------------------------------------------------------------------

    def begin_enrolment(
        self, pin: SecretBuffer, puk: SecretBuffer | None, enrolment_id: str
    ) -> CardKeys | None:
        self._hint = ENROL_HINT
        with self._reporting():
            self._login(pin)
            state, meta = self._meta()
            if state == "enrolled":
                raise AlreadyEnrolled(
                    f"{self.identity().describe()} is already enrolled"
                    f" (enrolment {meta.enrolment_id if meta else '?'}); wipe it first"
                )
            if puk is not None:
                self.applet.reset_retry_counter(puk, None)  # checks the PUK; keeps the PIN
            eid = bytes.fromhex(enrolment_id)
            self.applet.update(FID_META, bytes([STATE_PENDING]) + eid + b"\x00\x00")
            card_random = random_bytes(32)
            ck = SecretBuffer(bytearray(random_bytes(32)))
            try:
                keyfile = bytearray(KEY_MAGIC + eid + card_random)
                keyfile += self._wrap(pin, card_random, eid, ck.raw)
                keyfile += bytes(SLOT_LEN)
                keyfile += self._wrap(puk, card_random, eid, ck.raw) if puk else bytes(SLOT_LEN)
                self.applet.update(FID_KEY, bytes(keyfile))
            finally:
                ck.wipe()
        return None

    def write_credential(self, pin: SecretBuffer, share: bytes, meta: CardMeta) -> None:
        self._hint = ENROL_HINT
        with self._reporting():
            self._login(pin)
            eid = bytes.fromhex(meta.enrolment_id)
            with self._content_key(self._read_keyfile(), pin, (SLOT_PIN,)) as ck:
                header = CRED_MAGIC + eid
                sealed = seal(ck.raw, share, header)
            blob = header + struct.pack(">H", len(sealed)) + sealed
            if len(blob) > CRED_SIZE:
                raise ValueError("share too large for EF.CRED")
            self.applet.update(FID_CRED, blob)
            meta_raw = meta.to_bytes()
            if len(meta_raw) > META_SIZE - 19:
                raise ValueError("metadata too large for EF.META")
            self.applet.update(
                FID_META,
                bytes([STATE_PENDING]) + eid + struct.pack(">H", len(meta_raw)) + meta_raw,
            )

    def read_credential(self, pin: SecretBuffer) -> SecretBuffer:
        with self._reporting():
            return self._read_credential(pin)

    def _read_credential(self, pin: SecretBuffer) -> SecretBuffer:
        _state, meta = self._meta()
        if meta is None:
            raise NotEnrolled(f"{self.identity().describe()} holds no enrolment")
        self._login(pin)
        eid = bytes.fromhex(meta.enrolment_id)
        head = self.applet.read(FID_CRED, 23)
        if head[:5] != CRED_MAGIC or head[5:21] != eid:
            raise CredentialCorrupt("the encrypted share does not belong to this enrolment")
        length = struct.unpack(">H", head[21:23])[0]
        if length > CRED_SIZE - 23:
            raise CredentialCorrupt("EF.CRED length out of range")
        sealed = self.applet.read(FID_CRED, 23 + length)[23:]
        with self._content_key(self._read_keyfile(), pin, (SLOT_PIN, SLOT_PENDING)) as ck:
            out = unseal(ck.raw, sealed, head[:21], "share on the card")
        if not hmac.compare_digest(hashlib.sha256(out.view()).hexdigest(), meta.share.digest):
            out.wipe()
            raise CredentialCorrupt("the share on the card does not match its digest")
        return out

    def verify_keys(self, pin: SecretBuffer, meta: CardMeta) -> None:
        """This profile holds no key pairs: nothing to check."""

    def commit(self, pin: SecretBuffer, meta: CardMeta) -> None:
        self._hint = ENROL_HINT
        with self._reporting():
            self._login(pin)
            self.applet.update(FID_META, bytes([STATE_COMMITTED]))

    def wipe(self, pin: SecretBuffer) -> None:
        """Clear the content key first (the share is unreadable from then on), then the
        encrypted share, the metadata, and the state byte last: an interrupted wipe leaves a
        card that is not blank, so wiping it again finishes the job."""
        self._hint = WIPE_HINT
        with self._reporting():
            self._login(pin)
            self.applet.update(FID_KEY, bytes(KEY_LEN))
            head = self.applet.read(FID_CRED, 23)
            length = struct.unpack(">H", head[21:23])[0] if head[:4] == CRED_MAGIC[:4] else 0
            self.applet.update(FID_CRED, bytes(min(CRED_SIZE, 23 + length)))
            self.applet.update(FID_META, bytes(META_SIZE - 1), 1)
            self.applet.update(FID_META, bytes([STATE_BLANK]))

    def close(self) -> None:
        self._verified = False
        self.conn.close()
