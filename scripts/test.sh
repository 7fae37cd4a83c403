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
# The tests start hundreds of tcr children; with PYTHONDONTWRITEBYTECODE set (many shells
# and CI images set it) each would compile every module it imports. Compiled once here, they
# load the bytecode (__pycache__ is git-ignored; stale files are ignored by Python). A file
# that does not compile is not hidden: pytest reports it with its error.
python -m compileall -q -j 0 tcr_kit cli tests >/dev/null || true
# Two workers (CI has two cores): the card tests share one worker (xdist group, conftest),
# so they take the virtual readers in turn; TCR_TEST_WORKERS=0 runs in this one process.
set +e
pytest -q -n "${TCR_TEST_WORKERS:-2}" --dist loadgroup "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test: pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
