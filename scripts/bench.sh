#!/usr/bin/env bash
# Benchmarks, apart from the tests: compare tcr with the peer tools in one run, print ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# A benchmark that misses its target (or fails) does not stop the others; the exit status
# says whether all of them ran clean.
status=0
for b in bench/bench_*.py; do
  echo "== $b"
  .venv/bin/python "$b" "$@" || { echo "== $b: exit status $?"; status=1; }
done
exit "$status"
