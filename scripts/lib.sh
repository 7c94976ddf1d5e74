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

# apt_get ARGS...: apt-get as root, waiting for another apt-get or dpkg (unattended upgrades, a second
# set-up) to let go of its lock, up to MCP_APT_LOCK_TIMEOUT seconds (600), then failing with a clear message.
# Our own loop rather than `-o DPkg::Lock::Timeout`: that option makes `install` wait silently, and `update`
# ignores it (it gives up at once on the lists' lock).
APT_LOCK_TIMEOUT="${MCP_APT_LOCK_TIMEOUT:-600}"
apt_get() {
  local deadline=$(( $(date +%s) + APT_LOCK_TIMEOUT )) out rc waited=""
  while :; do
    rc=0
    out="$(as_root env DEBIAN_FRONTEND=noninteractive apt-get -q "$@" 2>&1)" || rc=$?
    if [ "$rc" -eq 0 ] && ! grep -qE "^E: (Could not get lock|Unable to lock)" <<<"$out"; then
      [ -z "$waited" ] || log "apt-get went ahead once the lock was free"
      return 0
    fi
    if grep -qE "Could not get lock|Unable to lock|Unable to acquire the dpkg frontend lock" <<<"$out"; then
      if [ "$(date +%s)" -lt "$deadline" ]; then
        [ -n "$waited" ] || log "another apt-get or dpkg holds the package lock: waiting (up to ${APT_LOCK_TIMEOUT} s)…"
        waited=1; sleep 3; continue
      fi
      echo "error: another apt-get or dpkg kept the package lock for more than ${APT_LOCK_TIMEOUT} s;" \
           "let it finish (or raise MCP_APT_LOCK_TIMEOUT), then run this command again" >&2
      return 100
    fi
    printf '%s\n' "$out" >&2
    return "$rc"
  done
}

APT_UPDATED=""
apt_install() {  # apt_install WHY PKG...: one line saying what and why, then the install
  local why="$1"; shift
  log "installing ${*} (apt-get): ${why}"
  if [ -z "$APT_UPDATED" ]; then apt_get update -qq; APT_UPDATED=1; fi
  apt_get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ensure_packages WHY CMD:PKG ... installs the Debian package PKG when command CMD is missing.
ensure_packages() {
  local why="$1" missing=() pair; shift
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "error: please install: ${missing[*]} (${why})" >&2; return 1
  fi
  apt_install "$why" "${missing[@]}"
}

# ensure_debs WHY PKG ... installs the Debian packages that dpkg does not list as installed.
ensure_debs() {
  local why="$1" missing=() pkg; shift
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "error: please install: ${missing[*]} (${why})" >&2; return 1
  fi
  apt_install "$why" "${missing[@]}"
}

ensure_java() {
  # Keycloak 26.7 runs on JDK 17, 21 or 25 (devstack/jdk.py prefers 25); a JDK, not a JRE, because
  # keycloak-extension/ is compiled at start.
  if ! ls /usr/lib/jvm/*/bin/javac >/dev/null 2>&1 && ! command -v javac >/dev/null; then
    ensure_debs "a JDK runs Keycloak and compiles keycloak-extension/" openjdk-17-jdk-headless
  fi
}

ensure_python() {
  local py="${MCP_PYTHON:-python3}"
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python >= 3.11 is needed (set MCP_PYTHON to its path)" >&2; return 1
  fi
  "$py" -c 'import venv, ensurepip' 2>/dev/null || ensure_debs "the project's virtual environment" python3-venv
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
  ensure_packages "Maven fetches the Keycloak distribution (org.keycloak:keycloak-quarkus-dist)" "mvn:maven"
  ensure_java
  ensure_debs "WeasyPrint lays out the conventions' documents (issue 31) with Pango and HarfBuzz" \
    libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
  ensure_python
}

bootstrap_cluster() {
  # issue 14: the load balancer and the database of the production topology (Debian packages)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
    ensure_debs "the production topology's database (registry, Keycloak, sessions)" postgresql
  ensure_debs "the production topology's load balancer, terminating TLS" haproxy
  ensure_packages "the load balancer's certificate, made at start" "openssl:openssl"
}

bootstrap_tests() {
  bootstrap_runtime
  ensure_packages "the browser tests drive Debian's headless Chromium" "chromium:chromium"
  ensure_packages "npm installs axe-core, the accessibility checker the browser tests inject" "npm:npm"
  ensure_debs "the test browser's only system fonts (tests/browser/fonts.py)" \
    fonts-dejavu-core
  ensure_debs "the claims contract's relying party, not written by us (docs/claims.md)" \
    apache2-bin libapache2-mod-auth-openidc
  if [ ! -f "$ROOT/node_modules/axe-core/axe.min.js" ]; then
    log "installing axe-core (npm ci): the accessibility checker of the browser tests"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  bootstrap_cluster  # the integration tests run on PostgreSQL too; the failover tests bring the topology up
}
