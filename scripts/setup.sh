#!/usr/bin/env bash
# Install everything tcr-kit needs on a Debian machine (run as root), idempotently:
# the Debian packages of the real components the tests and the demo use, and a virtual
# environment in .venv with tcr-kit and its Python dependencies. As root it then puts `tcr`
# on PATH (/usr/local/bin/tcr -> .venv/bin/tcr) with its man page; otherwise it prints the
# line that does.
#
#   scripts/setup.sh                 online: Debian packages, then an editable install + tests
#   scripts/setup.sh --offline DIR   air-gapped: tcr-kit and its dependencies from a wheelhouse
#                                    made by scripts/wheelhouse.sh, checked against DIR/SHA256SUMS
#                                    first; never touches the network
#
# Environment: PYTHON (default python3), TCR_VENV (default .venv), TCR_PREFIX (where bin/tcr
# and share/man/man1/tcr.1 go; default /usr/local as root, none otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "setup: $*" >&2
  exit 1
}

offline=""
case "${1:-}" in
  "") ;;
  --offline)
    [ $# -eq 2 ] || die "usage: scripts/setup.sh [--offline WHEELHOUSE_DIR]"
    offline=$2
    [ -d "$offline" ] || die "no wheelhouse folder $offline"
    ;;
  *) die "usage: scripts/setup.sh [--offline WHEELHOUSE_DIR]" ;;
esac

# A wheelhouse is trusted only as its manifest says: one line "<sha256>  <wheel>" per file,
# every file listed, every sum right. It is copied to a private folder first, so what pip
# installs is exactly what was checked.
verify_wheelhouse() {
  local src=$1 dst=$2 listed present missing extra
  [ -f "$src/SHA256SUMS" ] || die "offline: no manifest $src/SHA256SUMS"
  if grep -Evq '^[0-9a-f]{64}  [A-Za-z0-9_.+-]+\.whl$' "$src/SHA256SUMS"; then
    die "offline: $src/SHA256SUMS has a line that is not '<sha256>  <name>.whl'"
  fi
  cp -pR -- "$src"/. "$dst"/ || die "offline: cannot copy $src"
  listed=$(cut -c67- "$dst/SHA256SUMS" | sort)
  present=$(cd "$dst" && find . -mindepth 1 -maxdepth 1 ! -name SHA256SUMS -printf '%P\n' | sort)
  missing=$(comm -23 <(echo "$listed") <(echo "$present") | paste -sd " " -)
  extra=$(comm -13 <(echo "$listed") <(echo "$present") | paste -sd " " -)
  if [ -n "$missing$extra" ]; then
    die "offline: $src does not match its manifest:${missing:+ missing: $missing;}${extra:+ not in the manifest: $extra}"
  fi
  (cd "$dst" && sha256sum --check --strict --quiet SHA256SUMS >&2) \
    || die "offline: a wheel in $src does not match its SHA-256 in the manifest"
}

if [ -n "$offline" ]; then
  house=$(mktemp -d)
  trap 'rm -rf -- "$house"' EXIT
  verify_wheelhouse "$offline" "$house"
fi

DEB_PACKAGES=(
  ssss libgfshare-bin                      # peer Shamir tools we interoperate with
  libisal2                                 # Intel ISA-L: SIMD GF(2^8) kernels (numpy if absent)
  softhsm2 opensc                          # PKCS#11 tokens standing in for cards and HSMs
  pcscd libpcsclite-dev swig               # PC/SC stack (dev + swig only if pyscard builds)
  vsmartcard-vpcd vsmartcard-vpicc         # virtual readers and virtual cards
  python3-virtualsmartcard                 # the library our test card fixture builds on
  python3-venv
  groff-base                               # renders the man page (tcr help --man)
  golang-go golang-golang-x-mod-dev        # Go's sumdb note/tlog: reference for audit notes and proofs
  chromium                                 # the report's browser test (headless screenshot)
  poppler-utils                            # pdftoppm/pdftotext: the printable forms' tests
)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ -n "$offline" ]; then
    echo "setup: offline: not installing Debian packages (bring them on the laptop's image):" \
      "${missing[*]}" >&2
  elif [ "$(id -u)" -ne 0 ]; then
    die "need root to install: ${missing[*]}"
  else
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  die "Python >= 3.11 is required ($PYTHON is $("$PYTHON" --version 2>&1))"
fi
VENV=${TCR_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
VENV=$(cd "$VENV" && pwd)
stamp=$VENV/.tcr-installed
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

if [ -n "$offline" ]; then
  echo "setup: installing tcr-kit into $VENV from the wheelhouse $offline (no network)" >&2
  rm -f -- "$stamp" # the venv no longer holds the editable install of an online set-up
  # --isolated and no configuration file: the verified wheels are the only source.
  PIP_CONFIG_FILE=/dev/null "${PIP[@]}" --isolated install -q --no-index --find-links "$house" \
    --only-binary :all: --force-reinstall tcr-kit \
    || die "offline: install failed; was the wheelhouse built for this Python" \
      "($("$VENV/bin/python" -c 'import platform; print(platform.python_version(), platform.machine())'))?"
elif [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python dependencies into $VENV" >&2
  "${PIP[@]}" install -q --upgrade pip >/dev/null
  "${PIP[@]}" install -q -e '.[test]'
  touch "$stamp"
fi

# tcr on PATH, and its man page.
prefix=${TCR_PREFIX:-}
if [ -z "$prefix" ] && [ "$(id -u)" -eq 0 ]; then
  prefix=/usr/local
fi
if [ -z "$prefix" ]; then
  echo "setup: to run tcr from anywhere: export PATH=\"$VENV/bin:\$PATH\"" >&2
  exit 0
fi
link=$prefix/bin/tcr
mkdir -p "$prefix/bin" "$prefix/share/man/man1"
if [ -e "$link" ] && [ ! -L "$link" ]; then
  echo "setup: $link is not ours (not a link); left alone: tcr is $VENV/bin/tcr" >&2
elif [ "$(readlink "$link" 2>/dev/null)" != "$VENV/bin/tcr" ]; then
  ln -sfn "$VENV/bin/tcr" "$link"
  echo "setup: $link -> $VENV/bin/tcr" >&2
fi
scripts/manpage.sh "$prefix/share/man" "$VENV/bin/tcr" >/dev/null
