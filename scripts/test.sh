#!/usr/bin/env bash
# README command 2: install what is missing, then run every test (unit, integration, browser).
# Integration tests start their own Keycloak (ports 8180/9100) unless KEYCLOAK_URL is set.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bootstrap_tests
cd "$ROOT"
# coverage of the whole run (unit, integration, browser) is printed at the end
exec "$VENV/bin/python" -m pytest --cov=provisioning --cov=sso_demo --cov-report=term:skip-covered "$@"
