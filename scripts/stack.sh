#!/usr/bin/env bash
# Bring up the smartcard test stack by hand (the test suite's fixtures do this themselves):
#   scripts/stack.sh new-card DIR [--serial HEX16]     a blank virtual TCR card (state file)
#   scripts/stack.sh insert DIR [--serial HEX16] [--slot 0|1]
#                                                      start pcscd if needed, insert the card;
#                                                      prints the reader and the card's pid
#                                                      (kill that pid to pull the card)
#   scripts/stack.sh new-token DIR --label L            a SoftHSM2 token under DIR; prints the
#                                                      SOFTHSM2_CONF to export
# Test cards and tokens use the fixed test PINs printed here: never use them for real.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m tests.fixtures.stack "$@"
