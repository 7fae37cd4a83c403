"""``tcr shares split --force`` over an existing set, killed (SIGKILL) before each file system
call that writes or publishes its outputs (issue 11, item 3).

Whatever the step: every share file is whole (its old content or a new share, never a
half-written or missing file); while any file still holds an old share, every file already
replaced keeps its old share in its ``.old`` backup link (a person can put the old set
back); a set that is all new combines. Then the same command run again completes: a whole
new set that combines, and no hidden temporaries of the killed run are left.
CI runs a spread of steps; ``TCR_KILL_EVERY_STEP=1`` runs every one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tcr_kit.sharing.native import combine_shares, decode_share
from tests.cli_runner import CHILD

KILLER = Path(__file__).with_name("split_killer.py")
ROOT = Path(__file__).resolve().parents[2]


def _split(step: int, secret: Path, out: Path) -> subprocess.CompletedProcess[str]:
    args = ["shares", "split", "-m", "2", "-n", "3", "-i", str(secret), "-o", str(out),
            "--force", "--encoding", "compact", "-q"]  # fmt: skip
    return subprocess.run(
        [sys.executable, str(KILLER), str(step), *args], capture_output=True, text=True,
        timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False, **CHILD,
    )  # fmt: skip


def _steps(total: int) -> list[int]:
    if os.environ.get("TCR_KILL_EVERY_STEP") == "1":
        return list(range(1, total + 1))
    stride = max(1, total // 6)
    return sorted({1, *range(1, total + 1, stride), *range(max(1, total - 2), total + 1)})


def _shares(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}


def _backups(out: Path) -> dict[str, bytes]:
    """The ``.old`` backup links by the name of the file they back up."""
    found: dict[str, bytes] = {}
    for p in out.glob(".*.old"):
        found[p.name[1:].split(".tcr-")[0]] = p.read_bytes()
    return found


def _combine(files: dict[str, bytes], secret: bytes) -> None:
    shares = [decode_share(data, name) for name, data in files.items() if _is_share(name)]
    with combine_shares(shares[:2]).secret as got:
        assert bytes(got.view()) == secret


def _is_share(name: str) -> bool:
    return ".share-" in name


def test_a_forced_split_killed_at_any_step_never_loses_the_old_set(tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"  # one name: the outputs are named after it
    old_secret, new_secret = os.urandom(64), os.urandom(64)

    def use(value: bytes) -> None:
        secret.write_bytes(value)
        secret.chmod(0o600)

    out, probe = tmp_path / "shares", tmp_path / "probe"
    out.mkdir()
    probe.mkdir()
    use(old_secret)
    assert _split(0, secret, out).returncode == 0
    old = _shares(out)
    assert sum(map(_is_share, old)) == 3 and len(old) == 4, sorted(old)
    for name, data in old.items():
        (probe / name).write_bytes(data)
    use(new_secret)
    counted = _split(0, secret, probe)  # how many calls a clean forced split makes
    assert counted.returncode == 0, counted.stderr
    total = int(counted.stderr.split()[-1])
    assert total > 6
    for step in _steps(total):
        for p in out.iterdir():
            p.unlink()
        for name, data in old.items():
            (out / name).write_bytes(data)
        killed = _split(step, secret, out)
        assert killed.returncode == -signal.SIGKILL, (step, killed.stderr)
        now, backups = _shares(out), _backups(out)
        assert sorted(now) == sorted(old), f"step {step}: a file is missing"
        replaced = [n for n in now if now[n] != old[n]]
        for name in replaced:  # whole: a new share, or the new manifest
            if _is_share(name):
                decode_share(now[name], name)
            else:
                json.loads(now[name])
        if len(replaced) < len(now):  # the old set is not wholly gone: it can be put back
            for name in replaced:
                assert backups.get(name) == old[name], f"step {step}: the old {name} is lost"
        else:
            _combine(now, new_secret)
        again = _split(0, secret, out)
        assert again.returncode == 0, (step, again.stderr)
        final = _shares(out)
        assert all(final[n] != old[n] for n in final)
        _combine(final, new_secret)
        assert not list(out.glob(".*.partial")), f"step {step}: temporaries are left"
