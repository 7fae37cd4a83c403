"""The ``tcr-iso7816-v1`` storage profile on an :class:`ApduConnection` (docs/card-profiles.md).

Only ISO 7816-4 inter-industry commands are used: SELECT (by AID, then by FID, P2=0C: no
response data), READ BINARY, UPDATE BINARY, VERIFY (with data, and empty to read the retry
counter), CHANGE REFERENCE DATA and RESET RETRY COUNTER. PINs are padded to 16 bytes with
FF.
"""

from __future__ import annotations

from tcr_kit.cards.apdu import ApduConnection
from tcr_kit.cards.errors import ApduError, CardError, NoCard, PinBlocked, PinIncorrect
from tcr_kit.secrets import SecretBuffer, wipe

AID = bytes.fromhex("F0544352 4B495401".replace(" ", ""))
"""Proprietary AID of the TCR application DF ('F0' + 'TCRKIT' + version 01)."""
FID_ID = 0x0101
"""EF.ID: card serial; read always, never updated."""
FID_META = 0x0102
"""EF.META: enrolment state and public metadata; read always, update after PIN."""
FID_KEY = 0x0103
"""EF.KEY: card-held random and wrapped content key slots; read and update after PIN."""
FID_CRED = 0x0104
"""EF.CRED: the encrypted share; read and update after PIN."""
PIN_REF = 0x81
"""Reference of the TCR PIN (specific, local to the application DF)."""
PIN_BLOCK = 16
"""PINs and PUKs are sent padded to this many bytes with 0xFF."""
CHUNK = 0xE0
"""Bytes per READ/UPDATE BINARY command."""

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY = 0x6982
SW_BLOCKED = 0x6983
SW_NOT_FOUND = 0x6A82


def pad_pin(pin: SecretBuffer) -> bytearray:
    raw = pin.view()
    if len(raw) > PIN_BLOCK:
        raise ValueError("PIN longer than 16 bytes")
    out = bytearray(raw)
    out.extend(b"\xff" * (PIN_BLOCK - len(raw)))
    return out


def _apdu(ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    cmd = bytes([0x00, ins, p1, p2])
    if data:
        if len(data) > 255:
            raise ValueError("short APDUs only")
        cmd += bytes([len(data)]) + data
    if le is not None:
        cmd += bytes([le & 0xFF])
    return cmd


class TcrApplet:
    """Commands of the TCR application on one card."""

    def __init__(self, conn: ApduConnection) -> None:
        self.conn = conn
        self.changed = False
        """Whether a command that changes the card (UPDATE BINARY, CHANGE REFERENCE DATA,
        RESET RETRY COUNTER) was acknowledged, or sent and never answered, since the caller
        last cleared it. A command answered with an error status word had no effect (ISO
        7816-4) and does not count."""

    def _send(self, apdu: bytes | bytearray, *, changes: bool = False) -> tuple[bytes, int]:
        try:
            data, sw = self.conn.send_and_receive(bytes(apdu))
        except BaseException:
            self.changed = self.changed or changes
            raise
        self.changed = self.changed or (changes and sw == SW_OK)
        if sw >> 8 == 0x61:  # more data: GET RESPONSE
            more, sw = self.conn.send_and_receive(_apdu(0xC0, 0, 0, le=sw & 0xFF))
            data += more
        return data, sw

    def select_application(self) -> None:
        _data, sw = self._send(_apdu(0xA4, 0x04, 0x0C, AID))
        if sw == SW_NOT_FOUND:
            raise NoCard("the card in the reader has no TCR application (not a TCR card)")
        if sw != SW_OK:
            raise ApduError(sw, "SELECT application")

    def _select(self, fid: int) -> None:
        _data, sw = self._send(_apdu(0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")))
        if sw != SW_OK:
            raise ApduError(sw, f"SELECT EF {fid:04X}")

    def read(self, fid: int, length: int) -> bytes:
        self._select(fid)
        out = bytearray()
        while len(out) < length:
            n = min(CHUNK, length - len(out))
            data, sw = self._send(_apdu(0xB0, len(out) >> 8, len(out) & 0xFF, le=n))
            if sw == SW_SECURITY:
                raise CardError(f"EF {fid:04X}: the card requires the PIN to read it")
            if sw != SW_OK or not data:
                raise ApduError(sw, f"READ BINARY EF {fid:04X} at {len(out)}")
            out += data
        return bytes(out[:length])

    def update(self, fid: int, data: bytes, offset: int = 0) -> None:
        self._select(fid)
        pos = 0
        while pos < len(data):
            chunk = data[pos : pos + CHUNK]
            at = offset + pos
            _resp, sw = self._send(_apdu(0xD6, at >> 8, at & 0xFF, chunk), changes=True)
            if sw != SW_OK:
                raise ApduError(sw, f"UPDATE BINARY EF {fid:04X} at {at}")
            pos += len(chunk)

    def pin_tries_left(self) -> int | None:
        """Tries left without spending one (empty VERIFY); ``None`` if already verified."""
        _data, sw = self._send(_apdu(0x20, 0x00, PIN_REF))
        if sw == SW_OK:
            return None
        if sw >> 4 == 0x63C:
            return sw & 0x0F
        if sw == SW_BLOCKED:
            return 0
        raise ApduError(sw, "VERIFY (retry counter)")

    @staticmethod
    def _pin_result(sw: int, what: str, context: str) -> None:
        if sw == SW_OK:
            return
        if sw >> 4 == 0x63C:
            left = sw & 0x0F
            if left == 0:
                raise PinBlocked(what)
            raise PinIncorrect(left, what)
        if sw == SW_BLOCKED:
            raise PinBlocked(what)
        if sw == SW_WRONG_LENGTH:
            raise ApduError(sw, f"{context} (PIN too long?)")
        raise ApduError(sw, context)

    def verify(self, pin: SecretBuffer) -> None:
        block = pad_pin(pin)
        try:
            cmd = bytearray(_apdu(0x20, 0x00, PIN_REF, bytes(block)))
            _data, sw = self._send(cmd)
            wipe(cmd)
        finally:
            wipe(block)
        self._pin_result(sw, "PIN", "VERIFY")

    def change_reference_data(self, old: SecretBuffer, new: SecretBuffer) -> None:
        block = pad_pin(old) + pad_pin(new)
        try:
            cmd = bytearray(_apdu(0x24, 0x00, PIN_REF, bytes(block)))
            _data, sw = self._send(cmd, changes=True)
            wipe(cmd)
        finally:
            wipe(block)
        self._pin_result(sw, "PIN", "CHANGE REFERENCE DATA")

    def reset_retry_counter(self, puk: SecretBuffer, new: SecretBuffer | None) -> None:
        """P1=00: PUK and new PIN; P1=01: PUK only (resets the counter, keeps the PIN)."""
        block = pad_pin(puk) + (pad_pin(new) if new is not None else bytearray())
        try:
            cmd = bytearray(_apdu(0x2C, 0x00 if new is not None else 0x01, PIN_REF, bytes(block)))
            _data, sw = self._send(cmd, changes=True)
            wipe(cmd)
        finally:
            wipe(block)
        self._pin_result(sw, "PUK", "RESET RETRY COUNTER")
