#!/usr/bin/env bash
# README command 2: install what is missing, then run every test (unit, integration, browser, production
# topology). Integration tests start their own Keycloak (ports 8180/9100) unless KEYCLOAK_URL is set.
#
# Two pytest processes side by side (issue 24): one runs the tests that share the test Keycloak — integration
# and browser, in their usual order, since they share its data and the applications' fixed ports —, the other
# the production topology's tests (their own Keycloak nodes, PostgreSQL and ports) and the unit tests. Not
# pytest-xdist: its workers tear package fixtures down whenever their queue runs dry, and the browser stack is
# one. Given test paths (or MCP_TEST_PARALLEL=0), one process runs what was asked. Coverage of the whole run is
# printed at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bootstrap_tests
cd "$ROOT"
PY="$VENV/bin/python"

paths=0
for arg in "$@"; do [[ "$arg" != -* && -e "${arg%%::*}" ]] && paths=1; done
if [ "$paths" = 1 ] || [ "${MCP_TEST_PARALLEL:-1}" = 0 ]; then
  exec "$PY" -m pytest --cov=provisioning --cov=sso_demo --cov-report=term:skip-covered "$@"
fi

mkdir -p .run
rm -f .coverage .coverage.side .coverage.main
side_log=.run/tests-topology-and-unit.log
echo "[test] production topology and unit tests beside the others: $side_log (printed at the end)"
# the store's tests rerun on PostgreSQL need no Keycloak: they run beside, which balances the two (~30 s)
pg_only=(tests/integration/test_usecases_on_postgresql_*.py tests/integration/test_sessions_on_postgresql.py)
COVERAGE_FILE=.coverage.side "$PY" -m pytest --cov=provisioning --cov=sso_demo --cov-report= \
  tests/cluster tests/unit tests/store "${pg_only[@]}" tests/processes tests/simulation tests/setup "$@" \
  >"$side_log" 2>&1 &
side=$!
main_status=0
COVERAGE_FILE=.coverage.main "$PY" -m pytest --cov=provisioning --cov=sso_demo --cov-report= \
  tests/browser tests/integration --ignore-glob='tests/integration/test_usecases_on_postgresql_*.py' \
  --ignore=tests/integration/test_sessions_on_postgresql.py "$@" || main_status=$?
side_status=0
wait "$side" || side_status=$?
echo; echo "[test] ===== production topology and unit tests ($side_log) ====="
cat "$side_log"
"$PY" -m coverage combine .coverage.side .coverage.main >/dev/null
"$PY" -m coverage report --skip-covered
echo "[test] Keycloak-sharing tests: exit $main_status; production topology and unit tests: exit $side_status"
[ "$main_status" = 0 ] && [ "$side_status" = 0 ]
