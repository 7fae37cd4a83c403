"""The peer-format registry: every format behind one protocol, imported only when used."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tcr_kit.sharing
from tcr_kit.errors import ExitCode, InputError
from tcr_kit.sharing import formats
from tcr_kit.sharing.errors import UnknownFormatError
from tcr_kit.sharing.formats import (
    PEER_FORMATS,
    TEXT_FORMATS,
    ForeignOptions,
    detect_peer_format,
    gfshare,
    peer_format,
    slip39,
    ssss,
    vault,
)

PROTOCOL_METHODS = ("share_name", "detect", "parse", "split", "combine", "describe")


def test_registry_lists_the_four_peer_formats_in_cli_order() -> None:
    assert PEER_FORMATS == ("ssss", "vault", "slip39", "gfshare")
    assert TEXT_FORMATS == ("ssss", "vault", "slip39")


@pytest.mark.parametrize("name", PEER_FORMATS)
def test_each_format_module_provides_its_peer_format_object(name: str) -> None:
    fmt = peer_format(name)
    assert fmt.name == name
    assert fmt.in_memory is (name in TEXT_FORMATS)
    for method in PROTOCOL_METHODS:
        assert callable(getattr(fmt, method))
    module = {"ssss": ssss, "vault": vault, "slip39": slip39, "gfshare": gfshare}[name]
    assert fmt is module.FORMAT


@pytest.mark.parametrize("name", PEER_FORMATS)
def test_every_format_refuses_a_split_into_a_missing_folder_with_exit_2(
    name: str, tmp_path: Path
) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(
        InputError, match=f"^{re.escape(str(missing))}: no such directory$"
    ) as caught:
        peer_format(name).split(io.BytesIO(b"s" * 32), 2, 3, missing, "k", ForeignOptions())
    assert caught.value.exit_code == ExitCode.USAGE
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", PEER_FORMATS)
def test_every_format_names_itself_when_it_refuses_split_parameters(
    name: str, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match=f"^{name}: .*threshold <= count") as caught:
        peer_format(name).split(io.BytesIO(b"s" * 32), 4, 3, tmp_path, "k", ForeignOptions())
    assert caught.value.exit_code == ExitCode.USAGE
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_format_name_is_refused() -> None:
    with pytest.raises(UnknownFormatError, match="'nope'"):
        peer_format("nope")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.ssss-001.txt", "1-" + "ab" * 16, "ssss"),
        ("a.vault-001.txt", "q83v", "vault"),
        ("k.001", "\x89\x00binary", "gfshare"),
        ("k.txt", "hello there", None),
    ],
)
def test_detection_judges_content_first_and_gfshare_by_name_last(
    tmp_path: Path, name: str, text: str, expected: str | None
) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert detect_peer_format(path, path.read_bytes()) == expected


def test_a_text_share_named_like_gfshare_is_taken_for_its_text_format(tmp_path: Path) -> None:
    path = tmp_path / "secret.001"
    path.write_text("1-" + "ab" * 16)
    assert detect_peer_format(path, path.read_bytes()) == "ssss"


def test_registry_and_detection_of_a_native_share_import_no_peer_format_module(
    tmp_path: Path,
) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tcr_kit.sharing import files, formats\n"
        "from tcr_kit.sharing.native import split_bytes\n"
        "share = split_bytes(b'x', 1, 1)[0]\n"
        "p = Path(sys.argv[1]); p.write_bytes(share.encode_compact())\n"
        "assert files.detect_format(p) == 'native'\n"
        "assert formats.PEER_FORMATS\n"
        "mods = ('ssss', 'vault', 'slip39', 'gfshare')\n"
        "print(sorted(m for m in mods if 'tcr_kit.sharing.formats.' + m in sys.modules))\n"
    )
    probe = tmp_path / "share.tcrs"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(probe)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_importing_the_sharing_package_imports_neither_numpy_nor_peer_formats() -> None:
    code = (
        "import sys, tcr_kit.sharing, tcr_kit.sharing.errors\n"
        "heavy = [m for m in sys.modules if m == 'numpy' or m.startswith('tcr_kit.sharing.')]\n"
        "print(sorted(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "['tcr_kit.sharing.errors']"


@pytest.mark.parametrize("package", [tcr_kit.sharing, formats])
def test_every_public_name_resolves(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    assert names and len(set(names)) == len(names)
    for name in names:
        assert getattr(package, name) is not None
