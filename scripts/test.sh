#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, lint, type check, tests.
# Integration tests against real components must run here, never skip: TCR_REQUIRE_STACK=1
# turns a missing component into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export TCR_REQUIRE_STACK=1

echo "== ruff" >&2
ruff check .
ruff format --check .
echo "== mypy" >&2
mypy
echo "== pytest" >&2
set +e
pytest -q "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test: pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
