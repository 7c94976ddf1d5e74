#!/usr/bin/env bash
# The lint gates CI runs (issue 24): ruff (rules in pyproject.toml) and mypy (strict on the domain and the
# reconciler, default elsewhere). Both must report nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV="${MCP_VENV:-.venv}"
status=0
echo "[lint] ruff check"; "$VENV/bin/ruff" check . || status=1
echo "[lint] mypy"; "$VENV/bin/mypy" || status=1
exit "$status"
