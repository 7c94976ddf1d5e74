#!/bin/sh
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -v kc_password="$KC_DB_PASSWORD" -v mcp_password="$MCP_DB_PASSWORD" \
  -f /docker-entrypoint-initdb.d/postgres-init.sql.in
