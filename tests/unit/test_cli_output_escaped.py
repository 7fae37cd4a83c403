"""What ``tcr`` prints of names it did not choose (file names, labels, person ids, reasons
a log gives) stays on its line: a line break or a terminal escape in a name is printed as
its escape, in errors, warnings and human tables alike, while printable Unicode (a UTF-8
label) is printed as it is. ``--json`` output is JSON's own escaping, unchanged."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cli._output import one_line
from tests.cli_runner import run_tcr

FORGED = "evil\nok: the secret was combined\x1b[2K"
"""A name that would print a convincing second line, then erase the line it is on."""
SHOWN = "evil\\nok: the secret was combined\\x1b[2K"


def tcr(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_tcr(*args)


def test_one_line_escapes_what_a_terminal_acts_on_and_keeps_printable_unicode() -> None:
    assert one_line(FORGED) == SHOWN
    assert one_line("Zoë ✓ 鍵 👩\u200d🔬 a\u00a0b") == "Zoë ✓ 鍵 👩\u200d🔬 a\u00a0b"
    assert one_line("tcr-1\u202e3-rct") == "tcr-1\\u202e3-rct"  # bidi override
    assert one_line("a\r\tb\x85c\u2028d\x7f") == "a\\r\\tb\\x85c\\u2028d\\x7f"
    assert one_line("bad-\udcff.share") == "bad-\\udcff.share"  # a file name not UTF-8


@pytest.fixture
def shares(tmp_path: Path) -> tuple[list[Path], Path]:
    secret = tmp_path / "pin.txt"
    secret.write_bytes(b"activation-pin-271828")
    secret.chmod(0o600)
    out = tmp_path / "shares"
    out.mkdir()
    proc = tcr("shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", out,
               "--label", "Zoë ✓ 鍵", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    return [Path(s["file"]) for s in report["shares"]], Path(report["manifest"])


def _lines_on_stderr_are_ours(stderr: str) -> list[str]:
    """The warning and error lines of ``stderr``; any other line is the progress line."""
    assert "\x1b" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("secret recovered")]
    assert all(line.startswith(("warning: ", "error: ")) for line in lines), stderr
    return lines


def test_a_forged_file_name_in_a_warning_stays_on_its_line(
    shares: tuple[list[Path], Path], tmp_path: Path
) -> None:
    """``tcr shares combine`` warns about a manifest given as a share and about a share it
    rejected, naming each file: a name holding a line break and an ESC sequence is printed
    escaped, each warning one line."""
    paths, manifest = shares
    bad = paths[0].with_name(f"{FORGED}.share")
    text = paths[0].read_text()
    i = 12 if text[12] != "Z" else 13
    bad.write_text(text[:i] + "Z" + text[i + 1 :])  # its checksum fails: rejected
    posing = manifest.with_name(f"{FORGED}.manifest")
    posing.write_bytes(manifest.read_bytes())
    proc = tcr("shares", "combine", "-o", "-", bad, posing, paths[1], paths[2])
    assert proc.returncode == 0, proc.stderr
    lines = _lines_on_stderr_are_ours(proc.stderr)
    assert len(lines) == 2, proc.stderr
    assert any(f"{SHOWN}.share rejected: " in line for line in lines), lines
    assert any(f"{SHOWN}.manifest is a share-set manifest" in line for line in lines), lines


def test_a_forged_file_name_in_a_table_keeps_its_row_and_a_utf8_label_is_shown_as_is(
    shares: tuple[list[Path], Path],
) -> None:
    paths, _ = shares
    forged = paths[0].rename(paths[0].with_name(f"{FORGED}.share"))
    proc = tcr("shares", "inspect", forged, paths[1])
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout
    header, first, second = proc.stdout.splitlines()
    assert header.startswith("FILE") and SHOWN in first and "Zoë ✓ 鍵" in first
    assert str(paths[1]) in second
    # --json carries the name as JSON escapes it, nothing more.
    data = json.loads(tcr("shares", "inspect", "--json", forged).stdout)
    assert data["shares"][0]["file"] == str(forged)


def test_a_forged_file_name_in_an_error_stays_on_its_line(tmp_path: Path) -> None:
    junk = tmp_path / f"{FORGED}.share"
    junk.write_bytes(b"not a share at all")
    proc = tcr("shares", "combine", "-o", "-", junk, junk.with_name("missing"))
    assert proc.returncode != 0
    (line,) = _lines_on_stderr_are_ours(proc.stderr)
    assert line.startswith("error: ")


def test_every_cli_module_prints_through_the_escape() -> None:
    """What a command prints for people goes through :mod:`cli._output` (``say``,
    ``say_lines``, ``warn``, ``progress``) or a :func:`cli.app.table` (whose cells are
    escaped); a bare ``click.echo`` of anything else, or a table handed to ``say`` (its
    row breaks would be escaped), is refused here. The exceptions print what is not a
    name from outside: the JSON document, the manual, a signed note as it is signed."""
    import ast

    root = Path(__file__).resolve().parents[2] / "cli"
    allowed = {"app.py", "_output.py", "manual.py"}
    wrong: list[str] = []
    for path in sorted(root.glob("*.py")):
        if path.name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func, first = ast.unparse(node.func), ast.unparse(node.args[0])
            if func == "click.echo" and not first.startswith("table(") and first != "result.note":
                wrong.append(f"{path.name}:{node.lineno}: click.echo({first})")
            if func == "say" and first.startswith("table("):
                wrong.append(f"{path.name}:{node.lineno}: say(table(...))")
    assert wrong == []
