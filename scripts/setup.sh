#!/usr/bin/env bash
# Install everything tcr-kit needs on a Debian machine (run as root), idempotently:
# the Debian packages of the real components the tests and the demo use, and a virtual
# environment in .venv with tcr-kit and its Python dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  ssss libgfshare-bin                      # peer Shamir tools we interoperate with
  softhsm2 opensc                          # PKCS#11 tokens standing in for cards and HSMs
  pcscd libpcsclite-dev swig               # PC/SC stack (dev + swig only if pyscard builds)
  vsmartcard-vpcd vsmartcard-vpicc         # virtual readers and virtual cards
  python3-virtualsmartcard                 # the library our test card fixture builds on
  python3-venv
  golang-go golang-golang-x-mod-dev        # Go's sumdb note/tlog: reference for audit notes and proofs
)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python >= 3.11 is required ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.tcr-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python dependencies into .venv" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  touch "$stamp"
fi
