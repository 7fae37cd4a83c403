#!/usr/bin/env bash
# Long fuzzing runs (the normal test run does a short bounded one) of the share parsers:
# native text and compact shares, share files through detection and `inspect`, damaged
# native shares in a combine (never a wrong secret), ssss, Vault, SLIP-39 and gfshare;
# and of the record parsers (tests/fuzz): enrolment records, attestations, transcripts,
# HSM configs, policy files, checkpoint notes and bodies, the history CSV, rekey state.
#
#   scripts/fuzz.sh            100000 examples per parser
#   scripts/fuzz.sh 5000       5000 examples per parser
#   scripts/fuzz.sh 100000 -k slip39   extra pytest arguments select parsers
#
# An example is one input to one parser (each parser has its own test). With
# TCR_FUZZ_PROGRESS=FILE each test appends "<time> <test> <inputs so far>" to FILE every
# 5000 inputs (tests/fuzz/progress.py), so a run stopped early says how far it got.
# A failure prints hypothesis's smallest failing input; see docs/threat-model.md.
#
#   scripts/fuzz.sh --atheris [RUNS [TARGET...]]
#
# runs the same checks coverage-guided with atheris (libFuzzer; installed into .venv on
# first use): RUNS inputs (default 100000) per target, one process per target, every
# target unless some are named (`python -m tests.fuzz.atheris_driver --list`). Failing
# inputs are saved as crash-* under $TCR_FUZZ_ARTIFACTS (default /tmp/tcr-fuzz-artifacts).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--atheris" ]; then
  shift
  runs=${1:-100000}
  shift || true
  case "$runs" in
    '' | *[!0-9]*) echo "fuzz: usage: scripts/fuzz.sh --atheris [RUNS [TARGET...]]" >&2; exit 2 ;;
  esac
  PYTHON=.venv/bin/python
  [ -x "$PYTHON" ] || scripts/setup.sh
  "$PYTHON" -c 'import atheris' 2>/dev/null || "$PYTHON" -m pip install -q 'atheris>=2.3'
  export TCR_FUZZ_ARTIFACTS=${TCR_FUZZ_ARTIFACTS:-/tmp/tcr-fuzz-artifacts}
  mkdir -p "$TCR_FUZZ_ARTIFACTS"
  known=$("$PYTHON" -m tests.fuzz.atheris_driver --list 2>/dev/null)
  if [ "$#" -eq 0 ]; then
    set -- $known
  fi
  for target in "$@"; do
    printf '%s\n' "$known" | grep -qxF -- "$target" || {
      echo "fuzz: unknown target $target (python -m tests.fuzz.atheris_driver --list)" >&2
      exit 2
    }
  done
  failed=0
  for target in "$@"; do
    start=$(date +%s)
    if "$PYTHON" -m tests.fuzz.atheris_driver "$target" "$runs" >"$TCR_FUZZ_ARTIFACTS/$target.log" 2>&1; then
      verdict=ok
    else
      verdict="FAILED (see $TCR_FUZZ_ARTIFACTS/$target.log)"
      failed=1
    fi
    done_runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$TCR_FUZZ_ARTIFACTS/$target.log")
    echo "fuzz: $target: ${done_runs:-?} inputs in $(( $(date +%s) - start )) s: $verdict"
  done
  exit "$failed"
fi
examples=${1:-100000}
shift || true
case "$examples" in
  '' | *[!0-9]*) echo "fuzz: usage: scripts/fuzz.sh [EXAMPLES_PER_PARSER] [PYTEST_ARGS...]" >&2; exit 2 ;;
esac
if [ -x .venv/bin/python ]; then
  PYTHON=.venv/bin/python
else
  PYTHON=${PYTHON:-python3}
fi
echo "fuzz: $examples examples per parser" >&2
TCR_FUZZ_EXAMPLES=$examples exec "$PYTHON" -m pytest -q -p no:cacheprovider \
  tests/unit/test_share_parsers_fuzz.py tests/fuzz/test_fuzz_records.py "$@"
