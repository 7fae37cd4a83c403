#!/usr/bin/env bash
# The main job on embedded defaults: an end-to-end demo. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m tcr_cli.demo "$@"
