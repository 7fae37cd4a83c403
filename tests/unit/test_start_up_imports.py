"""What the interactive commands import (never how long they take: that is bench/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tcr_kit.sharing import native

ROOT = Path(__file__).resolve().parents[2]


def _modules_after(code: str) -> set[str]:
    """Top-level modules loaded by a fresh interpreter running ``code``."""
    probe = (
        code
        + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "TCR_PYCRYPTODOME_CFFI"},
        check=True,
    )
    return set(json.loads(proc.stdout.splitlines()[-1]))


def test_inspecting_a_native_share_imports_no_numpy_pydantic_crypto_or_process_pool(
    tmp_path: Path,
) -> None:
    share = tmp_path / "k.share-001.tcrs"
    share.write_bytes(native.split_bytes(b"secret", 2, 3)[0].encode_compact())
    code = (
        "import sys\nfrom tcr_cli.main import main\n"
        f"sys.argv = ['tcr', 'shares', 'inspect', {str(share)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
    )
    loaded = _modules_after(code)
    assert "tcr_kit" in loaded
    heavy = {"numpy", "pydantic", "Crypto", "nacl", "cryptography", "multiprocessing", "ctypes"}
    assert not loaded & heavy
    assert "concurrent" not in loaded


def test_importing_the_audit_package_for_pgp_words_loads_no_log_or_verifier() -> None:
    loaded_names = _modules_after(
        "import sys\nimport tcr_kit.audit.pgpwords\n"
        "assert 'tcr_kit.audit.chain' not in sys.modules\n"
        "assert 'tcr_kit.audit.verify' not in sys.modules\n"
    )
    assert "sqlite3" not in loaded_names


def test_pycryptodome_runs_on_ctypes_and_cffi_stays_importable() -> None:
    code = (
        "import tcr_kit\nfrom Crypto.Signature import eddsa\n"
        "import Crypto.Util._raw_api as raw\nassert raw.backend == 'ctypes', raw.backend\n"
        "import cffi\nfrom nacl.signing import SigningKey\n"
        "key = SigningKey(bytes(32))\nkey.verify_key.verify(key.sign(b'm'))\n"
    )
    assert "cffi" in _modules_after(code)


def _cli_probe(*argv: str) -> str:
    return (
        "import sys\nfrom tcr_cli.main import main\n"
        f"sys.argv = ['tcr', *{list(argv)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
    )


def test_status_imports_no_pydantic_ledger_facade_crypto_card_middleware_or_process_pool(
    tmp_path: Path,
) -> None:
    from tcr_kit.audit.signing import SoftwareEd25519Signer
    from tcr_kit.custody.ledger import Ledger
    from tcr_kit.custody.models import Person, Role

    signer = SoftwareEd25519Signer.generate()
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    ledger.initialise(
        Person(
            id="sa",
            name="SA",
            roles=(Role.SA,),
            public_key=signer.public_key_bytes().hex(),
            key_algorithm="ed25519",
        ),
        signer,
    )
    ledger.close()
    # The rows are read without the Ledger facade (every mixin) and without building
    # pydantic records; the key check of a person record (libsodium) is not made either.
    loaded = _modules_after(
        _cli_probe("status", "--ledger", str(tmp_path / "ledger.sqlite"), "--as", "sa")
        + "assert 'tcr_kit.custody.ledger' not in sys.modules\n"
        + "assert 'tcr_kit.custody.artifacts' not in sys.modules\n"
        + "assert 'tcr_kit.custody.policy' not in sys.modules\n"
    )
    assert "tcr_kit" in loaded
    heavy = {"numpy", "pydantic", "nacl", "Crypto", "cryptography", "multiprocessing"}
    assert not loaded & (heavy | {"concurrent", "pkcs11", "smartcard", "importlib_metadata"})


def test_split_and_combine_import_no_numpy_pydantic_pycryptodome_or_libsodium(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(os.urandom(1000))
    out = tmp_path / "shares"
    out.mkdir()
    heavy = {"numpy", "pydantic", "Crypto", "nacl", "multiprocessing"}
    argv = ["shares", "split", "-m", "2", "-n", "3", "-i", str(secret), "-o", str(out),
            "--encoding", "compact", "-q"]  # fmt: skip
    split = _modules_after(_cli_probe(*argv))
    assert "tcr_kit" in split
    assert not split & heavy
    shares = sorted(str(p) for p in out.glob("*.tcrs"))[:2]
    # Nor what only splitting, converting, --json or a manifest's PGP words need.
    combined = _modules_after(
        _cli_probe("shares", "combine", "-o", str(tmp_path / "out.bin"), "-q", *shares)
        + "for name in ('tcr_kit.sharing.native_split', 'tcr_kit.sharing.convert',"
        " 'tcr_kit.audit.pgpwords', 'json'):\n"
        "    assert name not in sys.modules, name\n"
    )
    assert (tmp_path / "out.bin").read_bytes() == secret.read_bytes()
    assert not combined & (heavy | {"cryptography"})


def _collection_probe(module: str, command: str, argv: list[str], *, as_process: bool) -> str:
    """Code that runs ``tcr argv`` (as the process entry point, or as a caller passing argv)
    and prints whether garbage collection was on, and how much was frozen, in the command."""
    call = "main()" if as_process else f"main({argv!r})"
    return (
        "import gc, json, sys\n"
        f"import {module} as m\n"
        f"cmd = m.{command}\n"
        "seen = {}\n"
        "original = cmd.callback\n"
        "def callback(*a, **k):\n"
        "    seen.update(enabled=gc.isenabled(), frozen=gc.get_freeze_count())\n"
        "    return original(*a, **k)\n"
        "cmd.callback = callback\n"
        "from tcr_cli.main import main\n"
        f"sys.argv = ['tcr', *{argv!r}]\n"
        f"try:\n    {call}\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print(json.dumps(seen))\n"
    )


@pytest.mark.parametrize("case", ["plain-group", "lazy-group", "lazily-loaded"])
def test_a_tcr_process_collects_garbage_again_once_its_command_runs(
    tmp_path: Path, case: str
) -> None:
    """A tcr process defers collection while its command loads (cli._collection.defer_collection);
    the command itself runs with collection on and start-up's objects frozen, whether its
    group is a plain click group, a lazy one, or it is one of a lazy group's lazy commands.
    A caller that runs a command in its own process is left alone."""
    shares = native.split_bytes(b"secret", 2, 3)
    paths = []
    for n, share in enumerate(shares[:2], 1):
        paths.append(tmp_path / f"k.share-00{n}.tcrs")
        paths[-1].write_bytes(share.encode_compact())
    module, command, argv = {
        "plain-group": ("tcr_cli.policy", "policy_show", ["policy", "show", "--default"]),
        "lazy-group": ("tcr_cli.shares", "inspect", ["shares", "inspect", str(paths[0])]),
        "lazily-loaded": ("tcr_cli.shares_combine", "combine",
                          ["shares", "combine", "-q", "-o", str(tmp_path / "out"),
                           *map(str, paths)]),
    }[case]  # fmt: skip
    for as_process in (True, False):
        (tmp_path / "out").unlink(missing_ok=True)
        proc = subprocess.run(
            [sys.executable, "-c", _collection_probe(module, command, argv, as_process=as_process)],
            capture_output=True, text=True, cwd=ROOT, check=False,
        )  # fmt: skip
        seen = json.loads(proc.stdout.splitlines()[-1]) if proc.stdout.strip() else {}
        assert seen.get("enabled") is True, proc.stdout + proc.stderr
        if as_process:
            assert seen["frozen"] > 10_000
        else:
            assert seen["frozen"] == 0
