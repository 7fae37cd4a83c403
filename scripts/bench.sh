#!/usr/bin/env bash
# Benchmarks, apart from the tests: compare tcr with the peer tools in one run, print ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
for b in bench/bench_*.py; do
  echo "== $b"
  .venv/bin/python "$b" "$@"
done
