#!/usr/bin/env bash
# README command 1: install what is missing, bring the whole system up on embedded defaults, seed the demo.
# With --cluster: the production topology on this machine (issue 14; docs/operations.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bootstrap_runtime
case " $* " in *" --cluster "*) bootstrap_cluster ;; esac
exec "$VENV/bin/python" -m devstack up "$@"
