#!/usr/bin/env bash
# Write the tcr(1) man page, generated from the click definitions (`tcr help --man`), to
# MANDIR/man1/tcr.1 (default /usr/local/share/man, where `man tcr` finds it). TCR is the
# command to ask (default: .venv/bin/tcr of this checkout). Prints the page's path.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mandir=${1:-/usr/local/share/man}
tcr=${2:-$ROOT/.venv/bin/tcr}
[ -x "$tcr" ] || { echo "manpage: no $tcr; run scripts/setup.sh first" >&2; exit 1; }
mkdir -p "$mandir/man1"
page=$mandir/man1/tcr.1
tmp=$(mktemp "$mandir/man1/.tcr.1.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
"$tcr" help --man >"$tmp"
chmod 0644 "$tmp"
mv -f -- "$tmp" "$page"
echo "$page"
