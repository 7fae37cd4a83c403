"""The end-to-end demo behind ``scripts/demo.sh``: secret sharing with the peer tools, then a
full ceremony (an HSM and seven TCR cards on SoftHSM2, custody with remote participation,
activation by 3 of 7 cards, readiness, a verified transcript), run for real with the ``tcr``
command and printed as a transcript a reviewer can follow. Every step states what it
expects; the demo stops with exit 1 if reality differs.

Outputs go to one folder (``--out``, default ``demo-out/<UTC time>``), which the demo names
at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tcr_kit.clock import utcnow
from tcr_kit.fileio import atomic_output, sha256_file
from tcr_kit.secrets import random_bytes

TCR = [sys.executable, "-m", "tcr_cli.main"]


class DemoFailed(Exception):
    pass


class Demo:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.step_no = 0

    def step(self, title: str) -> None:
        self.step_no += 1
        print(f"\n== step {self.step_no}: {title}")

    def run(
        self,
        args: Sequence[str | Path | int],
        *,
        expect: int = 0,
        tcr: bool = True,
        stdin: bytes | None = None,
        show_stdout: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        shown = ["tcr", *map(str, args)] if tcr else list(map(str, args))
        print("$ " + " ".join(shlex.quote(str(a)).replace(str(self.out) + "/", "") for a in shown))
        cmd = [*TCR, *map(str, args)] if tcr else list(map(str, args))
        proc = subprocess.run(cmd, cwd=self.out, input=stdin, capture_output=True, check=False)
        if show_stdout and proc.stdout:
            sys.stdout.write(proc.stdout.decode(errors="replace"))
        if proc.stderr:
            sys.stdout.write(
                "".join(
                    f"  [stderr] {line}\n"
                    for line in proc.stderr.decode(errors="replace").splitlines()
                )
            )
        print(
            f"  -> exit {proc.returncode}"
            + ("" if proc.returncode == expect else f" (expected {expect})")
        )
        if proc.returncode != expect:
            raise DemoFailed(f"step {self.step_no}: exit {proc.returncode}, expected {expect}")
        return proc

    def expect_same(self, a: Path, b: Path) -> None:
        da, db = sha256(a), sha256(b)
        print(f"  sha256 {a.name}: {da}\n  sha256 {b.name}: {db}")
        if da != db:
            raise DemoFailed(f"step {self.step_no}: {a.name} and {b.name} differ")
        print("  identical: ok")


def sha256(path: Path) -> str:
    return sha256_file(path).hex()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="tcr-kit end-to-end demo")
    parser.add_argument("--out", type=Path, default=None, help="output folder (must not exist)")
    args = parser.parse_args(argv)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    out = (args.out or Path("demo-out") / stamp).resolve()
    try:
        out.mkdir(parents=True)
    except FileExistsError:
        print(f"error: {out} already exists; choose another --out", file=sys.stderr)
        return 2
    demo = Demo(out)
    print(f"tcr-kit demo, {utcnow().isoformat()} — all outputs in {out}")
    try:
        run_demo(demo)
    except DemoFailed as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"\nDemo complete: every step behaved as expected. Outputs: {out}")
    return 0


def _split_3_of_5(demo: Demo, secret: Path, folder: str, *options: str) -> Path:
    """``tcr shares split`` of the demo's secret, 3 of 5, into a new ``folder`` of the output
    (``options``: the format's); returns that folder."""
    (demo.out / folder).mkdir()
    demo.run(
        [
            "shares",
            "split",
            "--threshold",
            "3",
            "--count",
            "5",
            "--input",
            secret.name,
            "--output-dir",
            folder,
            *options,
        ]
    )
    return demo.out / folder


def _combine(
    demo: Demo,
    output: str,
    shares: Sequence[str],
    *,
    expect: int = 0,
    options: Sequence[str] = (),
) -> None:
    """``tcr shares combine [options] --output OUTPUT SHARE...``, expecting exit ``expect``."""
    demo.run(["shares", "combine", *options, "--output", output, *shares], expect=expect)


def run_demo(demo: Demo) -> None:
    out = demo.out
    for tool in ("ssss-split", "ssss-combine", "gfsplit", "gfcombine", "softhsm2-util"):
        if not shutil.which(tool):
            raise DemoFailed(f"{tool} is not installed (scripts/setup.sh installs it)")

    demo.step("generate a 32-byte activation secret (0600 file)")
    secret = out / "activation-secret.bin"
    with atomic_output(secret) as fh:
        fh.write(random_bytes(32))
    print(f"  wrote {secret.name}, sha256 {sha256(secret)}")

    demo.step("split it 3-of-5 into native text shares")
    shares_dir = _split_3_of_5(demo, secret, "split", "--label", "demo HSM activation")
    shares = sorted(shares_dir.glob("*.share-*"))
    print(
        "  share 1 reads:\n"
        + "".join(f"    {line}\n" for line in shares[0].read_text().splitlines())
    )

    demo.step("inspect the shares (metadata and checksums, never the secret)")
    demo.run(["shares", "inspect", *[f"split/{p.name}" for p in shares]])

    demo.step("combine any 3 shares (1, 3, 5)")
    _combine(demo, "recovered.bin", [f"split/{shares[i].name}" for i in (0, 2, 4)])
    demo.expect_same(secret, out / "recovered.bin")

    demo.step("two shares are not enough: exit 4, no output")
    _combine(demo, "never.bin", [f"split/{shares[i].name}" for i in (0, 1)], expect=4)

    demo.step("a mistyped share is caught and named: exit 3")
    typo_dir = out / "typo"
    typo_dir.mkdir()
    text = shares[1].read_text()
    pos = 14
    wrong = "7" if text[pos] != "7" else "8"
    typo = typo_dir / shares[1].name
    typo.write_text(text[:pos] + wrong + text[pos + 1 :])
    typo.chmod(0o600)
    print(f"  changed symbol {pos + 1} of share 2 from {text[pos]!r} to {wrong!r}")
    _combine(
        demo,
        "never.bin",
        [f"split/{shares[0].name}", f"typo/{typo.name}", f"split/{shares[3].name}"],
        expect=3,
    )

    demo.step("with a spare share, the bad one is named and the secret still recovered")
    _combine(
        demo,
        "recovered-with-spare.bin",
        [
            f"split/{shares[0].name}",
            f"typo/{typo.name}",
            f"split/{shares[3].name}",
            f"split/{shares[4].name}",
        ],
    )
    demo.expect_same(secret, out / "recovered-with-spare.bin")
    if (out / "never.bin").exists():
        raise DemoFailed("a failed combine left an output file")

    demo.step("a forged share (valid checksum, altered data) is refused, never a wrong secret")
    forged = forge_share(shares[2], out / "forged")
    _combine(
        demo,
        "never.bin",
        [f"split/{shares[0].name}", f"split/{shares[1].name}", f"forged/{forged.name}"],
        expect=3,
    )

    _peer_round_trips(demo, secret)

    from .demo_ceremony import run_ceremony
    from .demo_report import run_report

    run_ceremony(demo)
    (demo.out / "forms").mkdir()
    run_report(demo)


def forge_share(path: Path, folder: Path) -> Path:
    """Re-encode a share with one payload bit flipped and its CRC recomputed."""
    from tcr_kit.sharing import native

    share = native.open_share_file(path)
    body = bytearray(share.body())
    payload_at = len(share.header.head_bytes()) + native.KEY_SIZE
    body[payload_at] ^= 0x01
    import struct
    import zlib

    body[-4:] = struct.pack(">I", zlib.crc32(bytes(body[:-4])))
    forged = native.decode_share(native.MAGIC + bytes(body), "forged")
    folder.mkdir()
    target = folder / path.name
    with atomic_output(target) as fh:
        fh.write(forged.encode_text().encode() + b"\n")
    print(f"  flipped one payload bit of share 3 and fixed its CRC -> {target.name}")
    return target


def _peer_round_trips(demo: Demo, secret: Path) -> None:
    """Round trips through ssss and gfshare, the peer tools, in both directions."""
    out = demo.out
    secret_hex = secret.read_bytes().hex()

    demo.step("export to ssss; the real ssss-combine recovers the secret")
    _split_3_of_5(demo, secret, "ssss", "--format", "ssss", "--ssss-token", "demo")
    ssss_files = sorted((out / "ssss").iterdir())
    lines = b"".join(ssss_files[i].read_bytes() for i in (0, 2, 4))
    proc = demo.run(
        ["ssss-combine", "-t", "3", "-x", "-q"], tcr=False, stdin=lines, show_stdout=False
    )
    if proc.stderr.decode().strip().splitlines()[-1] != secret_hex:
        raise DemoFailed("ssss-combine did not give back the secret")
    print("  ssss-combine printed the secret's hex: ok")

    demo.step("import from ssss: ssss-split's shares combined by tcr (threshold given)")
    proc = demo.run(
        ["ssss-split", "-t", "2", "-n", "3", "-x", "-q", "-w", "peer"],
        tcr=False,
        stdin=secret_hex.encode() + b"\n",
        show_stdout=False,
    )
    peer = out / "ssss-peer"
    peer.mkdir()
    for i, line in enumerate(proc.stdout.decode().split(), 1):
        (peer / f"peer.ssss-{i:03d}.txt").write_text(line + "\n")
    _combine(
        demo,
        "from-ssss.bin",
        ["ssss-peer/peer.ssss-001.txt", "ssss-peer/peer.ssss-003.txt"],
        options=("--threshold", "2"),
    )
    demo.expect_same(secret, out / "from-ssss.bin")

    demo.step("export to gfshare; the real gfcombine recovers the secret")
    _split_3_of_5(demo, secret, "gfshare", "--format", "gfshare")
    demo.run(
        [
            "gfcombine",
            "-o",
            "from-gfcombine.bin",
            f"gfshare/{secret.name}.002",
            f"gfshare/{secret.name}.004",
            f"gfshare/{secret.name}.005",
        ],
        tcr=False,
    )
    demo.expect_same(secret, out / "from-gfcombine.bin")

    demo.step("import from gfshare: gfsplit's files combined by tcr")
    peer = out / "gfshare-peer"
    peer.mkdir()
    copy = peer / "peer.bin"
    shutil.copyfile(secret, copy)
    demo.run(["gfsplit", "-n", "2", "-m", "4", str(copy)], tcr=False)
    copy.unlink()
    peer_files = sorted(peer.iterdir())
    _combine(demo, "from-gfsplit.bin", [f"gfshare-peer/{p.name}" for p in peer_files[1:3]])
    demo.expect_same(secret, out / "from-gfsplit.bin")


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main())
