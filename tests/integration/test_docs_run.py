"""Docs that run: every ```sh block of README.md and docs/guide-*.md is executed, in order,
against the real stack (SoftHSM2, the virtual cards), so a documented command that fails
fails CI.

How a document is run:
* one fresh folder per document; the blocks run one after the other in ``bash -e``, and
  the shell's exported variables and working folder carry over from block to block;
* ``.venv`` in that folder points at the Python running the tests (``source
  .venv/bin/activate`` works as the guides say);
* a placeholder is filled from the output of the blocks before it: ``<head>`` with the last
  head printed (``SHA-256: <64 hex>`` after "head"), ``<public key>`` with the last
  ``public key: <hex>``;
* a block whose first line is ``# docs-run: skip (REASON)`` is not run; the marker must give
  a reason, and no block of the README or the guides uses it today.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("guide-*.md"))]
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.M | re.S)
SKIP = re.compile(r"^# docs-run: skip \((.+)\)")
FILLERS = {
    "<head>": re.compile(r"head[^\n]*SHA-256: ([0-9a-f]{64})"),
    "<public key>": re.compile(r"public key: ([0-9a-f]{64})"),
}

pytestmark = pytest.mark.integration


def blocks(doc: Path) -> list[str]:
    return [m.group(1) for m in BLOCK.finditer(doc.read_text(encoding="utf-8"))]


def fill(block: str, seen: str) -> str:
    for placeholder, pattern in FILLERS.items():
        if placeholder in block:
            found = pattern.findall(seen)
            assert found, f"{placeholder}: nothing printed before to fill it from"
            block = block.replace(placeholder, found[-1])
    return block


def run_document(doc: Path, folder: Path) -> str:
    """Run the document's blocks in ``folder``; returns everything they printed."""
    (folder / ".venv").symlink_to(Path(sys.prefix))
    state = folder / ".docs-run-state.sh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCR_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(folder)
    env["XDG_DATA_HOME"] = str(folder / ".local")
    env.pop("SOFTHSM2_CONF", None)
    seen = ""
    for number, block in enumerate(blocks(doc), 1):
        first = block.splitlines()[0] if block.strip() else ""
        if first.startswith("# docs-run:"):
            assert SKIP.match(first), f"{doc.name} block {number}: malformed marker {first!r}"
            continue
        script = (
            f"cd {folder}\n[ -f {state} ] && . {state}\nset -e\n{fill(block, seen)}\n"
            f"export -p > {state}\necho \"cd '$PWD'\" >> {state}\n"
        )
        proc = subprocess.run(
            ["bash", "-c", script],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        seen += proc.stdout + proc.stderr
        assert proc.returncode == 0, (
            f"{doc.relative_to(ROOT)} block {number} failed (exit {proc.returncode}):\n"
            f"{block}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        )
        assert "Traceback" not in proc.stderr, proc.stderr
    return seen


JOURNEY = ROOT / "docs" / "guide-ceremony.md"
"""Run (with its checks) by the journey test below, not a second time by the generic one."""


@pytest.mark.parametrize("doc", [d for d in DOCS if d != JOURNEY], ids=lambda d: d.name)
def test_every_shell_block_of_the_document_runs(
    doc: Path, tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("softhsm2-util")
    run_document(doc, tmp_path)


def test_the_ceremony_guide_walks_the_staff_and_the_tcr_journey(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    """Done when: roster, 3-of-7, seven cards enrolled and registered, the set registered,
    remote seal, ship, receive, inspect, a discrepancy and its override, a card rotation in
    the ledger, activation, close, the published head verified; then the TCR's own view from
    the transcript alone. Only the guide's commands are run; this test only looks."""
    import json

    from tcr_kit.audit.timeline import read_timeline
    from tcr_kit.custody.ledger import Ledger

    require_tool("softhsm2-util")
    printed = run_document(JOURNEY, tmp_path)
    with Ledger.open(tmp_path / "ledger.sqlite", create=False) as led:
        cards = {c.id: c for c in led.credentials()}
        assert {f"card-{i}" for i in range(1, 8)} | {"card-1b"} <= set(cards)
        assert cards["card-1"].state.value == "destroyed"
        assert cards["card-1b"].holder == "tcr-1" and cards["card-1b"].share_index == 1
        assert (led.share_set("hsm-e-activation").m, led.share_set("hsm-e-activation").n) == (3, 7)
        (ceremony,) = led.ceremonies()
        assert ceremony.status == "closed" and ceremony.config_sha256 is not None
        assert {a.person for a in ceremony.attendance if a.remote} == {"tcr-7"}
    head = re.findall(r"head[^\n]*SHA-256: ([0-9a-f]{64})", printed)[0]
    timeline, _ = read_timeline(tmp_path / "ksk-55.json", expect_head=head)
    actions = [e.action for e in timeline.entries if e.selected]
    for kind in ("ceremony.open", "ceremony.step", "bag.receive", "bag.inspect", "bag.open",
                 "credential.add", "credential.destroy", "ceremony.close"):  # fmt: skip
        assert kind in actions, (kind, actions)
    assert any(a.startswith("hsm.") for a in actions), actions
    (opened,) = [e for e in timeline.entries if e.action == "bag.open"]
    assert opened.overrides == ("D-0001 overridden by iw-1",)
    # card 7 (its bag failed inspection) activated only under the two-staff emergency override
    (activated,) = [e for e in timeline.entries if e.outcome == "activated"]
    assert activated.overrides[0].startswith("custody of card-7 overridden by iw-1, ca-1: ")
    assert json.loads((tmp_path / "ksk-55.json").read_text())["head"]["sha256"] == head
    # the TCR's view, printed by the guide's last block from the transcript alone
    tcr_view = printed.split("verified through event")[-1]
    assert "card-7" in tcr_view and "D-0001 overridden by iw-1" in tcr_view
    assert "tamper evidence: seal-intact" in tcr_view
