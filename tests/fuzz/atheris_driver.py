"""Coverage-guided fuzzing of every parser with atheris (libFuzzer), for the long runs.

The hypothesis harnesses (``tests/unit/test_share_parsers_fuzz.py``,
``tests/fuzz/test_fuzz_records.py``) draw structured inputs and run in CI for a few
seconds; at 10^5 inputs per parser hypothesis slows down (tens of minutes per parser on
the shared machine). This driver feeds libFuzzer's mutated bytes to the *same test bodies*
(``test.hypothesis.inner_test``) and to the same record check, so the property checked is
identical (only the project's own one-line errors, never a wrong secret), at libFuzzer's
speed and guided by coverage. One target per process:

    python -m tests.fuzz.atheris_driver TARGET RUNS [LIBFUZZER_ARGS...]
    python -m tests.fuzz.atheris_driver --list

Seeds (valid shares and documents) are written to a temporary corpus first. A failing input
is saved as ``crash-*`` under ``$TCR_FUZZ_ARTIFACTS`` (default: the current folder) and
the process exits non-zero; ``scripts/fuzz.sh --atheris N`` runs every target.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

Target = Callable[[bytes], None]


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _targets(scratch: Path) -> tuple[dict[str, Target], dict[str, list[bytes]]]:
    from tests.fuzz import test_fuzz_records as records
    from tests.unit import test_canonical_fast as canonical
    from tests.unit import test_share_parsers_fuzz as shares

    def inner(test: Any) -> Any:
        return test.hypothesis.inner_test

    def last(data: bytes, choices: int) -> int:
        return data[-1] % choices if data else 0

    def gfshare(data: bytes) -> None:
        name, _, content = data.partition(b"\0")
        inner(shares.test_gfshare_names_and_files)(scratch, _text(name[:40]), content[:64])

    targets: dict[str, Target] = {
        "native-compact": lambda d: inner(shares.test_native_compact_parser)(d),
        "native-text": lambda d: inner(shares.test_native_text_parser)(_text(d)),
        "text-codec": lambda d: inner(shares.test_text_codec_raises_only_its_decode_error)(
            _text(d)
        ),
        "native-share-files": lambda d: inner(shares.test_native_share_files_and_inspect)(
            scratch, d
        ),
        "native-damaged-combine": lambda d: inner(
            shares.test_a_damaged_native_share_never_gives_a_wrong_secret
        )(d, last(d, 3)),
        "ssss": lambda d: inner(shares.test_ssss_parser_and_combine)(_text(d), 2 + last(d, 2)),
        "vault": lambda d: inner(shares.test_vault_parser_and_combine)(_text(d)),
        "slip39": lambda d: inner(shares.test_slip39_parser_and_combine)(_text(d)),
        "gfshare": gfshare,
        "peer-share-files": lambda d: inner(
            shares.test_peer_share_files_through_detection_and_inspect
        )(scratch, d),
        # The orjson fast path of the canonical parser against the stdlib reference.
        "canonical-fast": canonical._assert_same,
    }
    seeds: dict[str, list[bytes]] = {
        "native-compact": list(shares.COMPACT),
        "native-text": [t.encode() for t in shares.TEXT],
        "text-codec": [t.encode() for t in shares.TEXT],
        "native-share-files": [*shares.COMPACT, *(t.encode() for t in shares.TEXT)],
        "native-damaged-combine": list(shares.COMPACT),
        "ssss": [s.encode() for s in shares.SSSS],
        "vault": [s.encode() for s in [*shares.VAULT, *shares.VAULT_HEX]],
        "slip39": [s.encode() for s in shares.SLIP39],
        "gfshare": [b"s.001\0" + bytes(range(16))],
        "peer-share-files": [s.encode() for s in [*shares.SSSS, *shares.VAULT, *shares.SLIP39]],
        "canonical-fast": [e for e in canonical.EDGES if 0 < len(e) < 200],
    }
    for name in records.PARSERS:
        targets[f"record-{name}"] = lambda d, name=name: records._check(name, d)  # type: ignore[misc]
        seeds[f"record-{name}"] = [records._seeds()[name]]
    return targets, seeds


def main(argv: list[str]) -> int:
    import os

    import atheris  # type: ignore[import-untyped, import-not-found, unused-ignore]

    artifacts = os.path.abspath(os.environ.get("TCR_FUZZ_ARTIFACTS", ".")) + "/"
    os.chdir(Path(__file__).resolve().parents[2])  # the seeds read files of the tree
    with tempfile.TemporaryDirectory(prefix="tcr-atheris-") as folder:
        scratch = Path(folder) / "scratch"
        scratch.mkdir()
        # Coverage from tcr-kit's own code only: instrumenting everything loaded (hypothesis,
        # pytest...) took minutes per target.
        with atheris.instrument_imports(include=["tcr_kit"]):
            targets, seeds = _targets(scratch)
        if argv[1:2] == ["--list"]:
            print("\n".join(targets))
            return 0
        if len(argv) < 3 or argv[1] not in targets or not argv[2].isdigit():
            print(
                "usage: python -m tests.fuzz.atheris_driver TARGET RUNS [ARGS...] | --list",
                file=sys.stderr,
            )
            return 2
        name, runs = argv[1], int(argv[2])
        corpus = Path(folder) / "corpus"
        corpus.mkdir()
        for i, seed in enumerate(seeds[name]):
            (corpus / f"seed-{i}").write_bytes(seed)
        longest = max(len(s) for s in seeds[name])
        target = targets[name]
        atheris.Setup(
            [
                argv[0],
                f"-runs={runs}",
                f"-max_len={max(4096, 2 * longest)}",
                f"-artifact_prefix={artifacts}",
                "-timeout=60",
                "-print_final_stats=1",
                *argv[3:],
                # Files named after the options are replayed (one run each) instead.
                *([] if any(os.path.isfile(a) for a in argv[3:]) else [str(corpus)]),
            ],
            target,
        )
        atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
