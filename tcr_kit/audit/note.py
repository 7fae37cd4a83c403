"""C2SP ``signed-note`` with Ed25519, and ``tlog-checkpoint`` bodies, as Go's
``golang.org/x/mod/sumdb/note`` reads and writes them.

A note is a text ending in a newline, a blank line, then one or more signature lines
``— <key name> <base64(key id || signature)>`` (U+2014 EM DASH, space). For Ed25519 the key
id is the first 4 bytes of ``SHA-256(name || 0x0A || 0x01 || public key)`` (big-endian
uint32) and the signature is pure Ed25519 over the text bytes (final newline included).
A verifier key is published as ``<name>+<8 hex digits of the key id>+base64(0x01 ||
public key)``.

A checkpoint's text is ``<origin>\\n<tree size>\\n<base64 root>\\n`` (plus optional
extension lines, which we do not write and ignore when reading).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tcr_kit.audit.signing import ED25519, Signer, make_verifier
from tcr_kit.errors import InputError, IntegrityError

SIG_PREFIX = "\u2014 "
ALG_ED25519 = 0x01
MAX_SIGNATURES = 100
_NAME_BAD = re.compile(r"[\s+]")
_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,18})")


class NoteInvalid(IntegrityError):
    """A signed note is malformed, unsigned by a known key, or a signature fails."""


def check_name(name: str) -> str:
    """A key name: non-empty, no (Unicode) white space, no ``+``."""
    if not name or _NAME_BAD.search(name) or any(ord(c) < 0x20 for c in name):
        raise InputError(f"invalid key name {name!r}: must be non-empty, no spaces, no '+'")
    return name


def key_hash(name: str, public_key: bytes) -> int:
    """The Ed25519 key id: first 4 bytes of SHA-256(name || 0x0A || 0x01 || pubkey)."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


@dataclass(frozen=True)
class NoteVerifier:
    """A known key: name, key id and the Ed25519 public key."""

    name: str
    key_id: int
    public_key: bytes

    def verifier_key(self) -> str:
        """``name+hex keyid+base64(0x01||pubkey)``: the string to publish."""
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{blob}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            return make_verifier(ED25519, self.public_key)(message, signature)
        except (ValueError, TypeError, IndexError):
            return False

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        """Parse a verifier key string; :class:`InputError` if malformed."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise InputError("malformed verifier key: expected name+keyid+base64")
        name, hexid, blob = parts
        check_name(name)
        if not re.fullmatch(r"[0-9a-f]{8}", hexid):
            raise InputError("malformed verifier key: key id is not 8 lower-case hex digits")
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("malformed verifier key: key is not base64") from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise InputError("malformed verifier key: not an Ed25519 key (0x01 + 32 bytes)")
        public_key = raw[1:]
        if key_hash(name, public_key) != int(hexid, 16):
            raise InputError("malformed verifier key: key id does not match name and key")
        return cls(name, int(hexid, 16), public_key)


@dataclass(frozen=True)
class NoteSigner:
    """Signs notes under ``name`` with an Ed25519 :class:`Signer` (software key or card)."""

    name: str
    signer: Signer

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.signer.algorithm != ED25519:
            raise InputError(
                f"signed notes need an Ed25519 key; this key is {self.signer.algorithm}"
            )

    @property
    def verifier(self) -> NoteVerifier:
        pub = self.signer.public_key_bytes()
        return NoteVerifier(self.name, key_hash(self.name, pub), pub)

    def signature_line(self, text: str) -> str:
        sig = self.signer.sign(text.encode("utf-8"))
        blob = self.verifier.key_id.to_bytes(4, "big") + sig
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(blob).decode('ascii')}\n"


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: int
    blob: bytes  # the signature bytes after the key id
    line: str  # the whole line, with its newline


@dataclass(frozen=True)
class Note:
    text: str
    signatures: tuple[Signature, ...]

    def to_text(self) -> str:
        return self.text + "\n" + "".join(s.line for s in self.signatures)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteInvalid("note text does not end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteInvalid("note contains a control character")
    if "\n\n" in text:
        raise NoteInvalid("note text contains a blank line")


def sign(text: str, signers: Sequence[NoteSigner]) -> str:
    """A signed note of ``text`` (must end in a newline, no blank line, no control chars)."""
    try:
        _check_text(text)
    except NoteInvalid as exc:
        raise InputError(str(exc)) from None
    if not signers:
        raise ValueError("at least one signer is needed")
    return text + "\n" + "".join(s.signature_line(text) for s in signers)


def parse(data: str | bytes) -> Note:
    """Parse a signed note (syntax only); :class:`NoteInvalid` if malformed."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteInvalid("note is not UTF-8") from None
    if any(ord(c) < 0x20 and c != "\n" for c in data):
        raise NoteInvalid("note contains a control character")
    split = data.rfind("\n\n")
    if split < 0:
        raise NoteInvalid("note has no signature block")
    text, block = data[: split + 1], data[split + 2 :]
    if not block.endswith("\n"):
        raise NoteInvalid("note does not end with a newline")
    sigs: list[Signature] = []
    for line in block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteInvalid("malformed signature line (no em dash)")
        rest = line[len(SIG_PREFIX) :]
        name, sep, b64 = rest.partition(" ")
        if not sep or not name or _NAME_BAD.search(name):
            raise NoteInvalid("malformed signature line (key name)")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise NoteInvalid("malformed signature line (not base64)") from None
        if len(raw) < 5:
            raise NoteInvalid("malformed signature line (too short)")
        sigs.append(Signature(name, int.from_bytes(raw[:4], "big"), raw[4:], line + "\n"))
    if len(sigs) > MAX_SIGNATURES:
        raise NoteInvalid(f"note has more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(sigs))


def open_note(data: str | bytes, verifiers: Iterable[NoteVerifier]) -> tuple[Note, list[str]]:
    """Verify a note as Go's ``note.Open`` does: every signature by a known (name, key id)
    must verify, at least one must be present; others are kept unverified. Returns the note
    and the names of the keys whose signatures verified."""
    note = parse(data)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: list[str] = []
    seen: set[tuple[str, int]] = set()
    message = note.text.encode("utf-8")
    for sig in note.signatures:
        ident = (sig.name, sig.key_id)
        v = known.get(ident)
        if v is None:
            continue
        if ident in seen:
            continue
        seen.add(ident)
        if not v.verify(message, sig.blob):
            raise NoteInvalid(f"signature by {sig.name}+{sig.key_id:08x} does not verify")
        verified.append(sig.name)
    if not verified:
        names = ", ".join(sorted({f"{s.name}+{s.key_id:08x}" for s in note.signatures}))
        raise NoteInvalid(f"note is not signed by a known key (signed by: {names})")
    return note, verified


def add_signature(data: str | bytes, signer: NoteSigner) -> str:
    """Append ``signer``'s signature line to a note (replacing an earlier one by the same
    key), keeping the other lines as they are."""
    note = parse(data)
    me = signer.verifier
    others = [s for s in note.signatures if (s.name, s.key_id) != (me.name, me.key_id)]
    return note.text + "\n" + "".join(s.line for s in others) + signer.signature_line(note.text)


@dataclass(frozen=True)
class Checkpoint:
    """A ``tlog-checkpoint`` body: origin, tree size, root hash (and extension lines)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def to_text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteInvalid("checkpoint needs origin, size and root lines")
        origin, size, root = lines[0], lines[1], lines[2]
        if not origin:
            raise NoteInvalid("checkpoint origin is empty")
        if not _DECIMAL.fullmatch(size):
            raise NoteInvalid(f"checkpoint tree size {size!r} is not a decimal number")
        try:
            raw = base64.b64decode(root, validate=True)
        except (binascii.Error, ValueError):
            raise NoteInvalid("checkpoint root is not base64") from None
        if len(raw) != 32:
            raise NoteInvalid("checkpoint root is not 32 bytes")
        extensions = tuple(lines[3:-1])
        if any(not e for e in extensions):
            raise NoteInvalid("checkpoint has an empty extension line")
        return cls(origin, int(size), raw, extensions)

    def same_head(self, other: Checkpoint) -> bool:
        return (
            self.origin == other.origin
            and self.size == other.size
            and hmac.compare_digest(self.root, other.root)
        )


def open_checkpoint(
    data: str | bytes, verifiers: Iterable[NoteVerifier], *, origin: str | None = None
) -> tuple[Checkpoint, Note, list[str]]:
    """Verify a signed checkpoint note and parse its body; with ``origin`` it must match."""
    note, names = open_note(data, verifiers)
    cp = Checkpoint.parse(note.text)
    if origin is not None and cp.origin != origin:
        raise NoteInvalid(f"checkpoint is for log {cp.origin!r}, not {origin!r}")
    return cp, note, names
