#!/usr/bin/env bash
# README command 2: install what is missing, then run every test (unit, integration, browser).
# Integration tests start their own Keycloak (ports 8180/9100) unless KEYCLOAK_URL is set.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bootstrap_tests
cd "$ROOT"
# coverage of the whole run (unit, integration, browser) is printed at the end. Two pytest workers (issue 24):
# the tests that share the test Keycloak in one, the production topology's and the unit tests in the other
# (groups in tests/conftest.py); MCP_TEST_WORKERS=0 runs everything in this process.
exec "$VENV/bin/python" -m pytest --cov=provisioning --cov=sso_demo --cov-report=term:skip-covered \
  -n "${MCP_TEST_WORKERS:-2}" --dist loadgroup "$@"
