#!/usr/bin/env bash
# README command 1: install what is missing, bring the whole system up on embedded defaults, seed the demo.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bootstrap_runtime
exec "$VENV/bin/python" -m devstack up "$@"
