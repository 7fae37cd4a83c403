"""The one-method contract to a card, and its PC/SC (pyscard) adapter.

:class:`ApduConnection` is the whole interface the ISO 7816 profile needs:
``send_and_receive(apdu) -> (data, sw)``. :class:`PcscConnection` is the only code that
talks to pyscard; it turns PC/SC result codes into the card errors of this package.
pyscard is imported inside functions so that importing this module costs nothing.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from tcr_kit.cards.errors import CardError, CardRemoved, MiddlewareMissing, NoCard, ReaderNotFound

SCARD_E_TIMEOUT = 0x8010000A
SCARD_E_SHARING_VIOLATION = 0x8010000B
SCARD_E_UNKNOWN_READER = 0x80100009
SCARD_E_NO_SMARTCARD = 0x8010000C
SCARD_E_READER_UNAVAILABLE = 0x80100017
SCARD_E_NO_SERVICE = 0x8010001D
SCARD_E_SERVICE_STOPPED = 0x8010001E
SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
SCARD_W_RESET_CARD = 0x80100068
SCARD_W_REMOVED_CARD = 0x80100069
SCARD_W_UNPOWERED_CARD = 0x80100067
SCARD_STATE_PRESENT = 0x0020


class ApduConnection(Protocol):
    """A channel to one card: send a command APDU, get the response data and status word."""

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]: ...

    def atr(self) -> bytes: ...

    def close(self) -> None: ...


def _rc(value: Any) -> int:
    return int(value) & 0xFFFFFFFF


def _check(rc: Any, what: str, reader: str = "") -> None:
    code = _rc(rc)
    if code == 0:
        return
    where = f"reader '{reader}'" if reader else "PC/SC"
    if code in (SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED):
        raise MiddlewareMissing("pcscd is not running (PC/SC service unavailable)")
    if code == SCARD_E_NO_READERS_AVAILABLE:
        raise ReaderNotFound("no smartcard reader is connected")
    if code in (SCARD_E_UNKNOWN_READER, SCARD_E_READER_UNAVAILABLE):
        raise ReaderNotFound(f"{where}: no such reader")
    if code == SCARD_E_SHARING_VIOLATION:
        raise CardError(f"{where}: the card is in use by another program")
    if code == SCARD_E_NO_SMARTCARD:
        raise NoCard(f"{where}: no card in the reader")
    if code in (SCARD_W_REMOVED_CARD, SCARD_W_RESET_CARD, SCARD_W_UNPOWERED_CARD):
        raise CardRemoved(f"the card in {where}")
    raise CardError(f"{where}: {what} failed (PC/SC error {code:#010x})")


class _Context:
    def __init__(self) -> None:
        from smartcard import scard

        self.scard = scard
        rc, self.handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(rc, "establishing a context")

    def readers(self) -> list[str]:
        rc, readers = self.scard.SCardListReaders(self.handle, [])
        if _rc(rc) == SCARD_E_NO_READERS_AVAILABLE:
            return []
        _check(rc, "listing readers")
        return [str(r) for r in readers]

    def reader_state(self, reader: str, timeout_ms: int = 0, known: int = 0) -> tuple[int, bytes]:
        rc, states = self.scard.SCardGetStatusChange(self.handle, timeout_ms, [(reader, known)])
        if _rc(rc) == SCARD_E_TIMEOUT:
            return known, b""
        _check(rc, "reading the reader state", reader)
        _name, event, atr = states[0]
        return int(event), bytes(atr)

    def close(self) -> None:
        self.scard.SCardReleaseContext(self.handle)


def list_readers() -> list[str]:
    """The names of all PC/SC readers (raises MiddlewareMissing when pcscd is down)."""
    ctx = _Context()
    try:
        return ctx.readers()
    finally:
        ctx.close()


def reader_has_card(reader: str) -> bool:
    """Whether a card is present in ``reader`` right now."""
    ctx = _Context()
    try:
        if reader not in ctx.readers():
            raise ReaderNotFound(f"reader '{reader}': no such reader")
        event, _atr = ctx.reader_state(reader)
        return bool(event & SCARD_STATE_PRESENT)
    finally:
        ctx.close()


def wait_for_card(reader: str, timeout: float, present: bool = True) -> None:
    """Wait until a card is inserted into (``present``) or removed from ``reader``."""
    ctx = _Context()
    try:
        if reader not in ctx.readers():
            raise ReaderNotFound(f"reader '{reader}': no such reader")
        deadline = time.monotonic() + timeout
        known = 0
        while True:
            left = deadline - time.monotonic()
            event, _atr = ctx.reader_state(reader, max(0, int(left * 1000)), known)
            if bool(event & SCARD_STATE_PRESENT) == present:
                return
            if time.monotonic() >= deadline:
                what = "inserted" if present else "removed"
                raise NoCard(f"reader '{reader}': no card was {what} within {timeout:g} s")
            known = event & ~0x0002  # drop SCARD_STATE_CHANGED
    finally:
        ctx.close()


class PcscConnection:
    """An exclusive connection to the card in one PC/SC reader."""

    def __init__(self, reader: str) -> None:
        self.reader = reader
        self._ctx = _Context()
        try:
            if reader not in self._ctx.readers():
                raise ReaderNotFound(f"reader '{reader}': no such reader")
            s = self._ctx.scard
            rc, self._card, self._proto = s.SCardConnect(
                self._ctx.handle,
                reader,
                s.SCARD_SHARE_EXCLUSIVE,
                s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1,
            )
            _check(rc, "connecting to the card", reader)
            rc, _name, _state, _proto, atr = s.SCardStatus(self._card)
            _check(rc, "reading the ATR", reader)
            self._atr = bytes(atr)
        except BaseException:
            self._ctx.close()
            raise

    def atr(self) -> bytes:
        return self._atr

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        rc, response = self._ctx.scard.SCardTransmit(self._card, self._proto, list(apdu))
        _check(rc, "sending a command", self.reader)
        resp = bytes(response)
        if len(resp) < 2:
            raise CardError(f"reader '{self.reader}': short response from the card")
        return resp[:-2], (resp[-2] << 8) | resp[-1]

    def close(self) -> None:
        s = self._ctx.scard
        try:
            s.SCardDisconnect(self._card, s.SCARD_RESET_CARD)
        finally:
            self._ctx.close()
