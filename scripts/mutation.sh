#!/usr/bin/env bash
# A mutation run (mutmut 3) over one security-critical module, with a bounded test selection
# chosen for it, so that a run is feasible on a small shared machine (docs/threat-model.md,
# "Mutation testing", holds the scores and the reasons for every surviving mutant).
#
#   scripts/mutation.sh MODULE [JOBS [MUTANT...]]   one module (JOBS parallel mutants,
#                                        default 1); named mutants only (e.g. to re-check
#                                        the survivors of an earlier run after new tests)
#   scripts/mutation.sh --list           the modules and their tests
#
# The run happens in a scratch copy (under $TMPDIR, default /dev/shm), never in the
# worktree: mutmut rewrites the sources it mutates. Results are printed (every survivor
# with its diff) and the copy is removed. Needs the dev extra: pip install -e '.[mutation]'.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# module key | source file | the fast tests that cover it (pytest selection)
modules=(
  "native-header|tcr_kit/sharing/native_header.py|tests/unit/test_native.py tests/unit/test_vectors_native.py tests/unit/test_mutation_survivors.py"
  "native-share|tcr_kit/sharing/native_share.py|tests/unit/test_native.py tests/unit/test_vectors_native.py tests/unit/test_textcode.py"
  "audit-verify|tcr_kit/audit/verify.py|tests/unit/test_audit_chain.py tests/unit/test_audit_hardening.py tests/unit/test_audit_verify_parallel.py tests/unit/test_mutation_survivors.py"
  "fileio|tcr_kit/fileio.py|tests/unit/test_fileio.py tests/unit/test_mutation_survivors.py"
  "card-pin|tcr_kit/cards/base.py|tests/unit/test_cards_model.py tests/unit/test_mutation_survivors.py"
  "custody-lifecycle|tcr_kit/custody/lifecycle.py|tests/custody/test_records_and_lifecycle.py tests/custody/test_policy.py tests/unit/test_mutation_survivors.py"
  "activation|tcr_kit/hsm/activation.py|tests/integration/test_hsm_activation.py tests/integration/test_activation_custody.py tests/integration/test_cli_hsm.py tests/integration/test_remote_approval.py tests/integration/test_hsm_library_flows.py tests/integration/test_activation_sources_and_quorum_error.py"
)

usage() {
  echo "mutation: usage: scripts/mutation.sh MODULE [JOBS [MUTANT...]] | --list" >&2
  exit 2
}
[ $# -ge 1 ] || usage
if [ "$1" = --list ]; then
  for m in "${modules[@]}"; do
    IFS='|' read -r key src tests <<<"$m"
    printf '%-18s %s  <- %s\n' "$key" "$src" "$tests"
  done
  exit 0
fi
jobs=${2:-1}
case "$jobs" in '' | *[!0-9]*) usage ;; esac
only=("${@:3}")
entry=
for m in "${modules[@]}"; do
  [ "${m%%|*}" = "$1" ] && entry=$m
done
[ -n "$entry" ] || { echo "mutation: unknown module '$1' (see --list)" >&2; exit 2; }
IFS='|' read -r key src tests <<<"$entry"

PYTHON=$root/.venv/bin/python
[ -x "$PYTHON" ] || PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import mutmut' 2>/dev/null \
  || { echo "mutation: mutmut is not installed: pip install -e '.[mutation]'" >&2; exit 1; }

scratch=$(mktemp -d "${TMPDIR:-/dev/shm}/tcr-mutation-$key.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# Only what the run needs; the package keeps its layout so imports (tests.*, tcr_kit.*) work.
cp -a tcr_kit cli tests vectors pyproject.toml "$scratch/"
find "$scratch" -name __pycache__ -prune -exec rm -rf {} +
# mutmut reads [mutmut] from setup.cfg when pyproject.toml has no [tool.mutmut].
{
  echo "[mutmut]"
  echo "source_paths = tcr_kit"
  echo "only_mutate = $src"
  printf 'also_copy =\n    cli\n    vectors\n'
  echo "pytest_add_cli_args_test_selection ="
  for t in $tests; do echo "    $t"; done
  printf 'pytest_add_cli_args =\n    -p\n    no:cacheprovider\n'
  echo "mutate_only_covered_lines = true"
} >"$scratch/setup.cfg"

echo "mutation: $key: $src <- $tests ($jobs job(s))" >&2
cd "$scratch"
start=$(date +%s)
# Own session, SIGHUP ignored: some tests open ptys or signal process groups.
PATH=$root/.venv/bin:$PATH setsid nohup "$PYTHON" -m mutmut run --max-children "$jobs" "${only[@]}" >"$scratch/run.log" 2>&1 \
  || { tail -30 "$scratch/run.log" >&2; echo "mutation: mutmut failed" >&2; exit 1; }
end=$(date +%s)
# One Python process reads mutmut's result files (mutants/**/*.meta) and writes what
# `mutmut results --all true` and one `mutmut show NAME` per survivor would print: the
# listing to results.txt, the survivors' diffs to survivors.txt (a start-up per survivor
# took longer than the report). Falls back to those commands if mutmut's API moved.
report() {
  "$PYTHON" - "$scratch/results.txt" "$scratch/survivors.txt" <<'PY'
import sys

from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files

results, survivors = (open(name, "w") for name in sys.argv[1:3])
with results, survivors:
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, code in data.exit_code_by_key.items():
            status = status_by_exit_code[code]
            print(f"    {name}: {status}", file=results)
            if status == "survived":
                print(f"--- survivor {name}", file=survivors)
                print(f"# {name}: {status}", file=survivors)
                print(get_diff_for_mutant(name, path=data.path), file=survivors)
PY
}
if ! report 2>"$scratch/report.log"; then
  "$PYTHON" -m mutmut results --all true >"$scratch/results.txt" 2>&1 || true
  : >"$scratch/survivors.txt"
  for name in $(grep ': survived$' "$scratch/results.txt" | sed 's/: survived$//' | tr -d ' '); do
    { echo "--- survivor $name"; "$PYTHON" -m mutmut show "$name" 2>&1 || true; } >>"$scratch/survivors.txt"
  done
fi
total=$(grep -c ': ' "$scratch/results.txt" || true)
killed=$(grep -c ': killed$' "$scratch/results.txt" || true)
echo "mutation: $key: $killed of $total mutants killed in $((end - start)) s" >&2
grep -v ': killed$' "$scratch/results.txt" | sed 's/^/  /' >&2 || true
cat "$scratch/survivors.txt" >&2
