#!/usr/bin/env bash
# The lint gates CI runs (issue 24): ruff (rules in pyproject.toml) and mypy (strict on the domain and the
# reconciler, default elsewhere), and every test module must import (a broken import in one Keycloak test
# would otherwise surface only minutes into the run). All must report nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV="${MCP_VENV:-.venv}"
status=0
echo "[lint] ruff check"; "$VENV/bin/ruff" check . || status=1
echo "[lint] mypy"; "$VENV/bin/mypy" || status=1
echo "[lint] every test module imports"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --collect-only tests >/dev/null || {
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider --collect-only tests | tail -20; status=1; }
exit "$status"
