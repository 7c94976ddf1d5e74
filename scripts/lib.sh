# Shared bootstrap for scripts/up.sh and scripts/test.sh: system packages, then the Python venv.
# Idempotent: a second run installs nothing and takes a second or two.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MCP_VENV:-$ROOT/.venv}"

log() { printf '[setup] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: need root (or sudo) to run: $*" >&2; return 1; fi
}

# ensure_packages CMD:PKG ... installs the Debian package PKG when command CMD is missing.
ensure_packages() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "error: please install: ${missing[*]}" >&2; return 1
  fi
  log "installing ${missing[*]} (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_debs PKG ... installs the Debian packages that dpkg does not list as installed.
ensure_debs() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_java() {
  # Keycloak 26.7 runs on JDK 17, 21 or 25 (devstack/jdk.py prefers 25); a JDK, not a JRE, because
  # keycloak-extension/ is compiled at start.
  if ! ls /usr/lib/jvm/*/bin/javac >/dev/null 2>&1 && ! command -v javac >/dev/null; then
    ensure_debs openjdk-17-jdk-headless
  fi
}

ensure_python() {
  local py="${MCP_PYTHON:-python3}"
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python >= 3.11 is needed (set MCP_PYTHON to its path)" >&2; return 1
  fi
  "$py" -c 'import venv, ensurepip' 2>/dev/null || ensure_debs python3-venv
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment $VENV"
    "$py" -m venv "$VENV"
  fi
  local stamp="$VENV/.mcp-installed" want
  want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python dependencies into $VENV"
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$VENV/bin/pip" install -q -e "$ROOT[test]"
    echo "$want" > "$stamp"
  fi
}

bootstrap_runtime() {
  ensure_packages "mvn:maven" "curl:curl" "unzip:unzip"
  ensure_java
  ensure_python
}

bootstrap_cluster() {
  # issue 14: the load balancer and the database of the production topology (Debian packages)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ensure_debs postgresql
  ensure_debs haproxy
  ensure_packages "openssl:openssl"
}

bootstrap_tests() {
  bootstrap_runtime
  ensure_packages "chromium:chromium" "chromedriver:chromium-driver" "npm:npm"
  ensure_debs fonts-dejavu-core  # the visual references were drawn with it (tests/browser/visual.py)
  if [ ! -f "$ROOT/node_modules/axe-core/axe.min.js" ]; then
    log "installing axe-core (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ensure_debs postgresql
  bootstrap_cluster  # the failover tests bring the production topology up
}
