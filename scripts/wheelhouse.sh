#!/usr/bin/env bash
# Gather wheels of tcr-kit (this checkout) and of every dependency into DIR, with their
# SHA-256 sums in DIR/SHA256SUMS, for `scripts/setup.sh --offline DIR` on the air-gapped
# ceremony laptop. This side may use the network (and pip's cache); the install never does.
# Build it with the laptop's Python version and architecture (wheels are platform-specific):
# PYTHON (default .venv/bin/python of this checkout, made by scripts/setup.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 1 ] || { echo "usage: scripts/wheelhouse.sh DIR" >&2; exit 2; }
mkdir -p -- "$1"
out=$(cd -- "$1" && pwd)
if [ -n "$(ls -A -- "$out")" ]; then
  echo "wheelhouse: $out is not empty" >&2
  exit 1
fi
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PYTHON" ] || { echo "wheelhouse: no $PYTHON; run scripts/setup.sh first" >&2; exit 1; }
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  echo "wheelhouse: warning: $ROOT has uncommitted changes; they go into the wheel" >&2
fi

# pip builds tcr-kit from a clean copy of what goes into the wheel: no stale build/ folder
# can add files, and none is left behind. Dependencies without a wheel are built here.
src=$(mktemp -d)
trap 'rm -rf -- "$src"' EXIT
cp -R -- "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/tcr_kit" "$ROOT/cli" "$src"/
find "$src" -name __pycache__ -prune -exec rm -rf -- {} +
"$PYTHON" -m pip wheel -q --disable-pip-version-check --wheel-dir "$out" "$src" >&2

(cd "$out" && sha256sum -- *.whl) >"$out/SHA256SUMS.tmp"
mv -- "$out/SHA256SUMS.tmp" "$out/SHA256SUMS"
echo "wheelhouse: $(grep -c . "$out/SHA256SUMS") wheels in $out (manifest: SHA256SUMS)" >&2
