#!/usr/bin/env bash
# Stop the local stack (--reset also deletes its data).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
exec "$VENV/bin/python" -m devstack down "$@"
