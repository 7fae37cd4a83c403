"""Witnesses: C2SP ``tlog-cosignature`` (Ed25519, ``cosignature/v1``) on checkpoint notes,
a witness's state (the last checkpoint it cosigned per origin) and the rules it cosigns by,
and the check that a head carries at least K known witnesses' cosignatures.

A cosignature is a note signature line ``— <witness name> base64(key id || timestamp ||
signature)`` where ``key id = SHA-256(name || 0x0A || 0x04 || public key)[:4]``,
``timestamp`` is a big-endian u64 (POSIX seconds) and ``signature`` is Ed25519 over::

    cosignature/v1\\n
    time <timestamp>\\n
    <the checkpoint text, final newline included>

A witness's verifier key is ``<name>+<hex key id>+base64(0x04 || public key)``.

A witness cosigns a checkpoint (signed by a log key it was told) only if it is the first it
sees for that origin, the same head as the last one it cosigned, or a larger tree with a
consistency proof from the last one; it refuses (exit 3) a smaller tree (rolled back) or a
different root for the same size (forked).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcr_kit.audit.merkle import LogTree, ProofInvalid, verify_consistency
from tcr_kit.audit.note import (
    SIG_PREFIX,
    Checkpoint,
    Note,
    NoteInvalid,
    NoteVerifier,
    check_name,
    key_hash,
    open_checkpoint,
    parse,
)
from tcr_kit.audit.signing import (
    ED25519,
    Signer,
    SoftwareEd25519Signer,
    make_verifier,
)
from tcr_kit.errors import InputError, IntegrityError, OperationalError, QuorumError
from tcr_kit.fileio import write_new_file

ALG_COSIGNATURE_V1 = 0x04
COSIGNATURE_HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1


class WitnessRefused(IntegrityError):
    """The checkpoint is not a consistent extension of what this witness saw."""


class TooFewCosignatures(QuorumError):
    """A head is cosigned by fewer known witnesses than required (exit 4)."""


def cosignature_key_hash(name: str, public_key: bytes) -> int:
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{text}".encode()


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's public key (cosignature/v1, Ed25519)."""

    name: str
    key_id: int
    public_key: bytes

    def verifier_key(self) -> str:
        blob = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{blob}"

    @classmethod
    def parse(cls, vkey: str) -> CosignatureVerifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise InputError("malformed witness key: expected name+keyid+base64")
        name, hexid, blob = parts
        check_name(name)
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("malformed witness key: key is not base64") from None
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise InputError(
                "malformed witness key: not an Ed25519 cosignature/v1 key (0x04 + 32 bytes)"
            )
        if cosignature_key_hash(name, raw[1:]) != int(hexid, 16):
            raise InputError("malformed witness key: key id does not match name and key")
        return cls(name, int(hexid, 16), raw[1:])

    def timestamp_of(self, note: Note) -> int | None:
        """The timestamp of this witness's valid cosignature on ``note``, None if it has
        none; :class:`NoteInvalid` if it has one that does not verify."""
        for sig in note.signatures:
            if (sig.name, sig.key_id) != (self.name, self.key_id):
                continue
            blob = sig.blob
            if len(blob) != 8 + 64:
                raise NoteInvalid(f"cosignature by {self.name} is malformed")
            timestamp = int.from_bytes(blob[:8], "big")
            ok = timestamp <= MAX_TIMESTAMP and make_verifier(ED25519, self.public_key)(
                cosigned_message(note.text, timestamp), blob[8:]
            )
            if not ok:
                raise NoteInvalid(f"cosignature by {self.name} does not verify")
            return timestamp
        return None


@dataclass(frozen=True)
class Cosigner:
    name: str
    signer: Signer

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.signer.algorithm != ED25519:
            raise InputError("a witness key must be Ed25519")

    @property
    def verifier(self) -> CosignatureVerifier:
        pub = self.signer.public_key_bytes()
        return CosignatureVerifier(self.name, cosignature_key_hash(self.name, pub), pub)

    def cosign(self, note_data: str, timestamp: int | None = None) -> str:
        """``note_data`` with this witness's cosignature line (replacing an older one)."""
        note = parse(note_data)
        ts = int(time.time()) if timestamp is None else timestamp
        sig = self.signer.sign(cosigned_message(note.text, ts))
        blob = self.verifier.key_id.to_bytes(4, "big") + ts.to_bytes(8, "big") + sig
        line = f"{SIG_PREFIX}{self.name} {base64.b64encode(blob).decode('ascii')}\n"
        me = (self.name, self.verifier.key_id)
        others = [s.line for s in note.signatures if (s.name, s.key_id) != me]
        return note.text + "\n" + "".join(others) + line


def witnessed_by(note_data: str | Note, witnesses: Sequence[CosignatureVerifier]) -> list[str]:
    """Names of the known witnesses whose cosignature on the note verifies."""
    note = parse(note_data) if not isinstance(note_data, Note) else note_data
    return [w.name for w in witnesses if w.timestamp_of(note) is not None]


def require_cosignatures(
    note_data: str | Note, witnesses: Sequence[CosignatureVerifier], need: int
) -> list[str]:
    """Raise :class:`TooFewCosignatures` unless at least ``need`` distinct known witnesses
    cosigned the note; a known witness's cosignature that fails is an integrity error."""
    unique = list({(w.name, w.key_id, w.public_key): w for w in witnesses}.values())
    names = witnessed_by(note_data, unique)
    if len(names) < need:
        got = ", ".join(names) or "none"
        raise TooFewCosignatures(
            f"checkpoint is cosigned by {len(names)} of the {need} witnesses needed "
            f"(known witnesses that cosigned: {got})"
        )
    return names


# -- a witness's state directory -------------------------------------------------------------
KEY_FILE = "witness.pem"
CONFIG_FILE = "witness.json"


@dataclass(frozen=True)
class Seen:
    origin: str
    size: int
    root: bytes
    note: str


class WitnessState:
    """``DIR/witness.json`` (name), ``DIR/witness.pem`` (0600 key), ``DIR/logs/<id>.json``
    (the last checkpoint cosigned per origin), ``DIR/lock``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)

    @classmethod
    def create(cls, directory: str | os.PathLike[str], name: str) -> WitnessState:
        check_name(name)
        state = cls(directory)
        if (state.dir / CONFIG_FILE).exists():
            raise InputError(f"{state.dir}: a witness already lives here")
        try:
            state.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            (state.dir / "logs").mkdir(exist_ok=True, mode=0o700)
        except OSError as exc:
            raise OperationalError(f"{state.dir}: cannot create: {exc.strerror}") from None
        SoftwareEd25519Signer.generate().save(state.dir / KEY_FILE)
        config = json.dumps({"name": name, "format": "tcr-kit/witness", "version": 1})
        write_new_file(state.dir / CONFIG_FILE, (config + "\n").encode(), mode=0o600)
        return state

    def cosigner(self) -> Cosigner:
        try:
            config = json.loads((self.dir / CONFIG_FILE).read_text())
            name = str(config["name"])
        except FileNotFoundError:
            raise InputError(f"{self.dir}: no witness here (run 'tcr witness init')") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OperationalError(f"{self.dir}: cannot read the witness config: {exc}") from None
        return Cosigner(name, SoftwareEd25519Signer.load(self.dir / KEY_FILE))

    def _path(self, origin: str) -> Path:
        return self.dir / "logs" / (hashlib.sha256(origin.encode()).hexdigest()[:32] + ".json")

    def seen(self, origin: str) -> Seen | None:
        path = self._path(origin)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise OperationalError(f"{path}: cannot read witness state: {exc}") from None
        try:
            seen = Seen(
                str(doc["origin"]), int(doc["size"]), base64.b64decode(doc["root"]), doc["note"]
            )
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise OperationalError(f"{path}: witness state is malformed") from None
        if seen.origin != origin:
            raise OperationalError(f"{path}: witness state is for another origin")
        return seen

    def record(self, cp: Checkpoint, note: str) -> None:
        doc = {
            "origin": cp.origin,
            "size": cp.size,
            "root": base64.b64encode(cp.root).decode("ascii"),
            "note": note,
        }
        data = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
        write_new_file(self._path(cp.origin), data, mode=0o600, force=True)

    def all_seen(self) -> list[Seen]:
        out = []
        for path in sorted((self.dir / "logs").glob("*.json")):
            with contextlib.suppress(OSError, ValueError, KeyError):
                origin = json.loads(path.read_text())["origin"]
                found = self.seen(str(origin))
                if found is not None:
                    out.append(found)
        return out

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        try:
            fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise OperationalError(f"{self.dir}: cannot lock: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def parse_proof(doc: Any) -> tuple[int, int, list[bytes]]:
    """A consistency proof as ``tcr audit prove --json`` prints it: (from, to, hashes)."""
    try:
        first = int(doc["from"]["size"])
        second = int(doc["to"]["size"])
        hashes = [base64.b64decode(h, validate=True) for h in doc["proof"]]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise InputError(
            "malformed consistency proof (expected 'tcr audit prove --json')"
        ) from None
    return first, second, hashes


@dataclass(frozen=True)
class CosignResult:
    checkpoint: Checkpoint
    note: str
    previous: Seen | None


def cosign_checkpoint(
    state: WitnessState,
    note_data: str,
    log_keys: Sequence[NoteVerifier],
    proof: Any | None = None,
    *,
    timestamp: int | None = None,
) -> CosignResult:
    """Check ``note_data`` against what this witness saw and cosign it (module docstring)."""
    cosigner = state.cosigner()
    try:
        cp, _, _ = open_checkpoint(note_data, log_keys)
    except NoteInvalid as exc:
        raise WitnessRefused(f"checkpoint: {exc}") from None
    with state.locked():
        prev = state.seen(cp.origin)
        if prev is not None:
            if cp.size < prev.size:
                raise WitnessRefused(
                    f"{cp.origin}: tree size {cp.size} is smaller than the size {prev.size} "
                    "this witness already cosigned (rolled back?)"
                )
            if cp.size == prev.size and not hmac.compare_digest(cp.root, prev.root):
                raise WitnessRefused(
                    f"{cp.origin}: a different root for tree size {cp.size} than the one this "
                    "witness cosigned (forked log)"
                )
            if cp.size > prev.size:
                if proof is None:
                    raise InputError(
                        f"{cp.origin}: a consistency proof from size {prev.size} is needed "
                        f"('tcr audit prove --from {prev.size} --to {cp.size} --json' from the "
                        f"ledger, or 'tcr report prove SITE --from {prev.size} --json' from a "
                        "published site)"
                    )
                first, second, hashes = parse_proof(proof)
                if (first, second) != (prev.size, cp.size):
                    raise InputError(
                        f"the proof is from size {first} to {second}; needed from {prev.size} "
                        f"to {cp.size}"
                    )
                try:
                    verify_consistency(prev.size, cp.size, prev.root, cp.root, hashes)
                except ProofInvalid as exc:
                    raise WitnessRefused(
                        f"{cp.origin}: tree size {cp.size} is not a consistent extension of "
                        f"size {prev.size} that this witness cosigned: {exc}"
                    ) from None
        cosigned = cosigner.cosign(note_data, timestamp)
        state.record(cp, cosigned)
    return CosignResult(cp, cosigned, prev)


@dataclass(frozen=True)
class WitnessedHead:
    checkpoint: Checkpoint
    log_signers: list[str]
    witnesses: list[str]


def check_witnessed_head(
    note_data: str,
    tree: LogTree,
    log_keys: Sequence[NoteVerifier],
    witnesses: Sequence[CosignatureVerifier],
    need: int,
) -> WitnessedHead:
    """A checkpoint note checked against a recomputed tree: signed by a log key, its root
    is the tree's at its size, and at least ``need`` known witnesses cosigned it."""
    cp, note, signers = open_checkpoint(note_data, log_keys)
    if cp.size > tree.size:
        raise IntegrityError(
            f"checkpoint covers {cp.size} events but the log has {tree.size} (rolled back?)"
        )
    if not hmac.compare_digest(tree.root(cp.size), cp.root):
        raise IntegrityError(
            f"checkpoint root is not the log's tree at size {cp.size} (forked or rewritten)"
        )
    names = require_cosignatures(note, witnesses, need) if need > 0 else []
    return WitnessedHead(cp, signers, names)


def note_verifiers(public_keys: Iterable[bytes], names: Iterable[str]) -> list[NoteVerifier]:
    """Ed25519 note verifiers for each key under each name."""
    keys = list(public_keys)
    return [NoteVerifier(n, key_hash(n, pub), pub) for n in set(names) for pub in keys]
