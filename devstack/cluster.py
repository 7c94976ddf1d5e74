"""Issue 14: the production topology on one machine, without Docker (`./scripts/up.sh --cluster`).

    HAProxy (TLS, certificate made at start)
      :8443 Keycloak   -> kc1, kc2      `kc.sh start --optimized`, PostgreSQL, Infinispan cluster (jdbc-ping)
      :8444 portail    -> 2 × gunicorn  sessions in PostgreSQL (sso_demo.sessions.SqlSessionStore)
      :8445 cdap       -> 2 × gunicorn
      :8446 afas       -> 2 × gunicorn
      :8447 API        -> 2 × gunicorn
    2 × reconcile worker, 2 × daily job: one active each (leases in the registry's database)
    PostgreSQL (as the unprivileged `postgres` user when we are root; data under .run/<cluster>/)
    SMTP sink (mails of Keycloak and of the provisioning service)

Every port is `base + offset` (PORTS), all on 127.0.0.1; the test run uses another base than the demo so both
can be up at once. Secrets are drawn once per cluster into `<dir>/secrets.json` (outside git), and every
Python process runs with MCP_ENV=production, so each refuses demo secrets, insecure cookies and Werkzeug.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from devstack import keycloak as kc
from devstack.jdk import find_jdk
from devstack.paths import REPO_ROOT, STATE_DIR

APPS = ("portail", "cdap", "afas")
SERVICES = (*APPS, "api")  # the gunicorn services, in the order of their load-balancer ports
DATABASES = ("keycloak", "mcp", "sessions", "afas", "cdap")
# offsets from the cluster's base port
PORTS = {"lb_keycloak": 0, "lb_portail": 1, "lb_cdap": 2, "lb_afas": 3, "lb_api": 4, "lb_stats": 5,
         "postgres": 10, "kc_http": 20, "kc_management": 30, "kc_cluster": 40, "instances": 50, "smtp": 60,
         "mail_web": 61}
WSGI = {"portail": "sso_demo.wsgi:portail", "cdap": "sso_demo.wsgi:cdap", "afas": "sso_demo.wsgi:afas",
        "api": "provisioning.api.wsgi:app"}
HEALTH = {"api": "/health"}  # the apps answer /healthz


class ClusterError(RuntimeError):
    """A part of the topology could not be installed, started or stopped; the message says which and why."""


@dataclass(frozen=True)
class Cluster:
    name: str = "cluster"
    base: int = 8443
    nodes: int = 2          # Keycloak nodes
    instances: int = 2      # gunicorn instances of each service
    lease_seconds: float = 15.0

    # --- where things are ---------------------------------------------------------------------------
    @property
    def dir(self) -> Path:
        return STATE_DIR / self.name

    def port(self, what: str, index: int = 0) -> int:
        return self.base + PORTS[what] + index

    def url(self, service: str) -> str:
        """What browsers and other services use: the load balancer."""
        return f"https://localhost:{self.port('lb_' + service)}"

    @property
    def issuer(self) -> str:
        return f"{self.url('keycloak')}/realms/{kc.REALM}"

    @property
    def ca_file(self) -> Path:
        return self.dir / "tls" / "cert.pem"

    def instance_port(self, service: str, i: int) -> int:
        return self.port("instances", SERVICES.index(service) * self.instances + i)

    def db_url(self, db: str) -> str:
        s = self.secrets()
        return f"postgresql+psycopg://{db}:{s['db_' + db]}@127.0.0.1:{self.port('postgres')}/{db}"

    # --- secrets: drawn once, kept outside git ------------------------------------------------------
    def secrets(self) -> dict[str, str]:
        path = self.dir / "secrets.json"
        kept = json.loads(path.read_text()) if path.exists() else {}
        values = {"keycloak_admin_password": secrets.token_urlsafe(18)}
        values.update({f"db_{db}": secrets.token_urlsafe(18) for db in DATABASES})
        values.update({f"client_{c}": secrets.token_urlsafe(32)
                       for c in (*APPS, "provisioning", "provisioning_api", "scim", "caf_services", "service_tiers",
                                 "proconnect")})
        values.update({f"session_key_{a}": secrets.token_hex(32) for a in APPS})
        if kept and set(values) <= set(kept):
            return kept
        values.update(kept)  # a cluster made before a new client keeps its secrets and gets the new ones
        self.dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=1))
        path.chmod(0o600)
        return values

    # --- the environment every process shares ---------------------------------------------------------
    def env(self) -> dict[str, str]:
        s = self.secrets()
        e = {
            "MCP_ENV": "production",
            "KEYCLOAK_URL": self.url("keycloak"), "MCP_PUBLIC_KEYCLOAK_URL": self.url("keycloak"),
            **{f"MCP_{a.upper()}_URL": self.url(a) for a in APPS},
            "MCP_API_URL": self.url("api"),
            "MCP_SERVICE_TIERS_URL": "https://localhost:18448",  # the claims contract's service (not run here)
            **{f"MCP_{a.upper()}_CLIENT_SECRET": s[f"client_{a}"] for a in APPS},
            **{f"MCP_{a.upper()}_SESSION_KEY": s[f"session_key_{a}"] for a in APPS},
            "MCP_PROVISIONING_CLIENT_SECRET": s["client_provisioning"],
            "MCP_PROVISIONING_API_CLIENT_SECRET": s["client_provisioning_api"],
            "MCP_SCIM_CLIENT_SECRET": s["client_scim"], "MCP_CAF_SERVICES_CLIENT_SECRET": s["client_caf_services"],
            "MCP_SERVICE_TIERS_CLIENT_SECRET": s["client_service_tiers"],
            # issue 32: ProConnect's stand-in realm on these very nodes (a production sets ProConnect's own)
            **kc.proconnect_standin_env(self.url("keycloak")),
            "MCP_PROCONNECT_CLIENT_ID": "mon-compte-partenaire", "MCP_PROCONNECT_CLIENT_SECRET": s["client_proconnect"],
            "MCP_DATABASE_URL": self.db_url("mcp"), "MCP_SESSION_URL": self.db_url("sessions"),
            "MCP_AFAS_DATABASE_URL": self.db_url("afas"), "MCP_CDAP_DATABASE_URL": self.db_url("cdap"),
            "MCP_SMTP_HOST": "127.0.0.1", "MCP_SMTP_PORT": str(self.port("smtp")),
            "MCP_STATE_DIR": str(self.dir), "MCP_WORKER_LEASE_SECONDS": str(self.lease_seconds),
            "MCP_RECONCILE_CLAIM_SECONDS": str(int(self.lease_seconds * 1.5)),
            # the self-signed certificate of the load balancer is the only authority these processes trust
            "REQUESTS_CA_BUNDLE": str(self.ca_file), "SSL_CERT_FILE": str(self.ca_file),
        }
        return e

    # --- PostgreSQL -------------------------------------------------------------------------------
    @property
    def pg_dir(self) -> Path:
        return self.dir / "postgres"

    def _pg(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        full = [pg_bin(cmd[0]), *cmd[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            full = ["runuser", "-u", "postgres", "--", *full]
        done = subprocess.run(full, capture_output=True, text=True, timeout=180)
        if check and done.returncode != 0:
            raise ClusterError(f"{' '.join(cmd)}:\n{done.stdout}{done.stderr}")
        return done

    def postgres_running(self) -> bool:
        return self._pg("pg_ctl", "-D", str(self.pg_dir / "data"), "status", check=False).returncode == 0

    def start_postgres(self) -> str:
        data = self.pg_dir / "data"
        fresh = not (data / "PG_VERSION").exists()
        if fresh:
            self.pg_dir.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                pw = pwd.getpwnam("postgres")
                os.chown(self.pg_dir, pw.pw_uid, pw.pw_gid)
                _traversable(self.pg_dir)
            self._pg("initdb", "-D", str(data), "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
                     "--auth-local=trust", "--auth-host=scram-sha-256")
        if self.postgres_running():
            return "reused"
        self._pg("pg_ctl", "-D", str(data), "-l", str(self.pg_dir / "log"), "-w", "-t", "60", "start",
                 "-o", f"-p {self.port('postgres')} -k {self.pg_dir} -c listen_addresses=127.0.0.1 "
                       f"-c max_connections=200")
        if fresh:
            s = self.secrets()
            for db in DATABASES:  # one role and one database per consumer: least privilege
                self._psql(f"CREATE ROLE \"{db}\" LOGIN PASSWORD '{s['db_' + db]}'")
                self._psql(f"CREATE DATABASE \"{db}\" OWNER \"{db}\"")
        return "started"

    def stop_postgres(self, mode: str = "fast") -> None:
        if (self.pg_dir / "data").exists() and self.postgres_running():
            self._pg("pg_ctl", "-D", str(self.pg_dir / "data"), "-m", mode, "-w", "stop")

    def _psql(self, sql: str) -> None:
        self._pg("psql", "-h", str(self.pg_dir), "-p", str(self.port("postgres")), "-U", "postgres",
                 "-v", "ON_ERROR_STOP=1", "-c", sql)

    # --- Keycloak -----------------------------------------------------------------------------------
    @property
    def kc_build(self) -> Path:
        """One production build of Keycloak for every topology of this machine (the demo's, the tests', the
        benchmarks'): beside the cached distribution, outside any topology's directory, so `down --reset` and a
        test run's fresh topology keep it. Rebuilt when the extension or the build options change."""
        return kc.CACHE_DIR / "builds" / f"keycloak-{kc.KEYCLOAK_VERSION}-production"

    def build_keycloak(self) -> None:
        """Install the distribution, our extension, theme and realm file, then `kc.sh build` (once per change);
        two topologies starting at once build it once (a lock)."""
        home = self.kc_build
        home.parent.mkdir(parents=True, exist_ok=True)
        with open(home.parent / f"{home.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (home / "bin" / "kc.sh").exists():
                shutil.copytree(kc.pristine_distribution(), home, symlinks=True)
            kc.install_extension(home)
            kc.install_theme(home)
            options = ["--db=postgres", "--health-enabled=true", "--metrics-enabled=true", "--cache=ispn",
                       "--cache-stack=jdbc-ping"]
            jar = home / "providers" / "mcp-keycloak-extension.jar"
            stamp, want = home / ".mcp-build", f"{options} {jar.stat().st_mtime}"
            if stamp.exists() and stamp.read_text() == want:
                return
            done = subprocess.run([str(home / "bin" / "kc.sh"), "build", *options], cwd=home, capture_output=True,
                                  text=True, env={**os.environ, "JAVA_HOME": str(find_jdk().home)}, timeout=600)
            if done.returncode != 0:
                raise ClusterError(f"kc.sh build failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
            stamp.write_text(want)

    def node_home(self, i: int) -> Path:
        return self.dir / f"keycloak-node{i + 1}"

    def _node_prepare(self, i: int) -> Path:
        """Each node its own directory (its data/ and transaction log), hard links to the one build."""
        home = self.node_home(i)
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(self.kc_build, home, symlinks=True, copy_function=_link_or_copy,
                        ignore=shutil.ignore_patterns("data", ".mcp-build"))
        (home / "data" / "import").mkdir(parents=True)
        for realm_file in [*(REPO_ROOT / "realm-config").glob("*.json"), kc.PROCONNECT_STANDIN]:
            shutil.copy2(realm_file, home / "data" / "import" / realm_file.name)
        return home

    def node_proc(self, i: int) -> Proc:
        return Proc(self, f"keycloak-node{i + 1}", self.port("kc_management", i), "/health/ready")

    def start_node(self, i: int, *, import_realm: bool) -> str:
        proc = self.node_proc(i)
        if proc.running():
            return "reused"
        home = self._node_prepare(i)
        s = self.secrets()
        cmd = [str(home / "bin" / "kc.sh"), "start", "--optimized",
               f"--db-url=jdbc:postgresql://127.0.0.1:{self.port('postgres')}/keycloak",
               "--db-username=keycloak", f"--db-password={s['db_keycloak']}",
               f"--hostname={self.url('keycloak')}", "--proxy-headers=xforwarded",
               "--http-enabled=true", "--http-host=127.0.0.1", f"--http-port={self.port('kc_http', i)}",
               "--http-management-host=127.0.0.1", f"--http-management-port={self.port('kc_management', i)}",
               "--cache-embedded-network-bind-address=127.0.0.1",
               f"--cache-embedded-network-bind-port={self.port('kc_cluster', i)}",
               # a stopping node says « not ready » first, long enough for the load balancer's checks (1 s, fall 2)
               # to take it out, then finishes the requests it holds (issue 30 §4: rolling restarts)
               "--shutdown-delay=4s", "--shutdown-timeout=20s",
               *(["--import-realm"] if import_realm else [])]
        env = {**self.env(), "JAVA_HOME": str(find_jdk().home),
               "JAVA_OPTS_KC_HEAP": "-Xms256m -Xmx768m",
               "KC_BOOTSTRAP_ADMIN_USERNAME": "admin", "KC_BOOTSTRAP_ADMIN_PASSWORD": s["keycloak_admin_password"],
               "MCP_SSL_REQUIRED": "external"}
        return proc.start(cmd, env, cwd=home, timeout=300)

    # --- the load balancer --------------------------------------------------------------------------
    def make_certificate(self) -> None:
        tls = self.dir / "tls"
        tls.mkdir(parents=True, exist_ok=True)
        if (tls / "haproxy.pem").exists() and self.ca_file.exists():
            return
        done = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
                               "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                               "-keyout", str(tls / "key.pem"), "-out", str(self.ca_file)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise ClusterError(f"openssl could not make the certificate:\n{done.stderr}")
        (tls / "haproxy.pem").write_text(self.ca_file.read_text() + (tls / "key.pem").read_text())
        (tls / "key.pem").chmod(0o600)
        (tls / "haproxy.pem").chmod(0o600)

    def haproxy_config(self) -> str:
        pem, lines = self.dir / "tls" / "haproxy.pem", []
        lines += ["global", "  log stderr format raw local0 warning", "  maxconn 2000",
                  "defaults", "  mode http", "  log global", "  option httplog", "  timeout connect 2s",
                  "  timeout client 60s", "  timeout server 60s", "  timeout http-request 10s",
                  # a request whose server died is sent to the other one (connection refused, reset, empty)
                  "  retries 3", "  option redispatch 1", "  retry-on conn-failure empty-response response-timeout",
                  f"  errorfile 503 {self.dir / 'haproxy-503.http'}",
                  "  default-server inter 1s fall 2 rise 2",
                  "listen stats", f"  bind 127.0.0.1:{self.port('lb_stats')}", "  stats enable", "  stats uri /"]
        for service in ("keycloak", *SERVICES):
            lines += [f"frontend fe_{service}", f"  bind 127.0.0.1:{self.port('lb_' + service)} ssl crt {pem}",
                      "  http-request set-header X-Forwarded-Proto https",
                      "  http-request set-header X-Forwarded-Port %[dst_port]",
                      "  http-request set-header X-Forwarded-Host %[req.hdr(host)]",
                      "  http-response set-header Strict-Transport-Security max-age=31536000",
                      f"  default_backend be_{service}", f"backend be_{service}", "  balance roundrobin",
                      "  option forwardfor"]
            if service == "keycloak":
                # logins stick to a node (cookie), so a login's steps stay where its authentication session is;
                # a dead node's users are sent to the other, where the persistent sessions are read from the database
                lines.insert(lines.index(f"  default_backend be_{service}"),
                             "  use_backend be_keycloak_degraded if { nbsrv(be_keycloak) eq 0 }")
                lines += self._keycloak_servers("/health/ready")
                # No node ready. Keycloak's partition guard keeps the survivor "not ready" for about a minute
                # after the loss of the cluster's coordinator (its JGroups entry is still in the database), though
                # it serves well: the live nodes answer then. If they fail (their database down), people get
                # our 503 page, not an error trace.
                lines += ["backend be_keycloak_degraded", "  balance roundrobin", "  option forwardfor",
                          *self._keycloak_servers("/health/live"),
                          "  http-response return status 503 content-type \"text/html; charset=utf-8\" "
                          f"file {self.dir / 'haproxy-503.html'} hdr Retry-After 5 if {{ status ge 500 }}"]
            else:  # no stickiness: each request may land on either instance (sessions are shared)
                lines += [f"  option httpchk GET {HEALTH.get(service, '/healthz')}"]
                lines += [f"  server {service}{i + 1} 127.0.0.1:{self.instance_port(service, i)} check"
                          for i in range(self.instances)]
        return "\n".join(lines) + "\n"

    def _keycloak_servers(self, health: str) -> list[str]:
        return ["  cookie MCP_KC_NODE insert indirect nocache secure httponly", f"  option httpchk GET {health}",
                *[f"  server kc{i + 1} 127.0.0.1:{self.port('kc_http', i)} cookie kc{i + 1} check "
                  f"port {self.port('kc_management', i)}" for i in range(self.nodes)]]

    def start_haproxy(self) -> str:
        self.make_certificate()
        page = (REPO_ROOT / "deploy" / "503.html").read_text()  # the same page as docker-compose's HAProxy
        (self.dir / "haproxy-503.html").write_text(page)
        (self.dir / "haproxy-503.http").write_text(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html; charset=utf-8\r\nRetry-After: 5\r\n"
            f"Cache-Control: no-store\r\nConnection: close\r\nContent-Length: {len(page.encode())}\r\n\r\n{page}")
        cfg = self.dir / "haproxy.cfg"
        cfg.write_text(self.haproxy_config())
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        check = subprocess.run([haproxy, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise ClusterError(f"haproxy refuses its configuration:\n{check.stdout}{check.stderr}")
        return Proc(self, "haproxy", self.port("lb_stats"), "/").start([haproxy, "-db", "-f", str(cfg)], {})

    # --- Python services ---------------------------------------------------------------------------
    def instance_proc(self, service: str, i: int) -> Proc:
        return Proc(self, f"{service}-{i + 1}", self.instance_port(service, i), HEALTH.get(service, "/healthz"))

    def start_instance(self, service: str, i: int) -> str:
        cmd = [sys.executable, "-m", "gunicorn", "-c", "python:provisioning.gunicorn_conf",
               "--bind", f"127.0.0.1:{self.instance_port(service, i)}", "--workers", "1", "--threads", "8",
               "--access-logfile", "-", "--forwarded-allow-ips", "127.0.0.1", WSGI[service]]
        return self.instance_proc(service, i).start(cmd, self.env(), cwd=REPO_ROOT)

    def background_proc(self, kind: str, i: int) -> Proc:
        return Proc(self, f"{kind}-{i + 1}", None, None)

    def start_background(self, kind: str, i: int) -> str:
        cmd = [sys.executable, "-m", "provisioning.cli", kind]
        return self.background_proc(kind, i).start(cmd, self.env(), cwd=REPO_ROOT)

    def smtp_proc(self) -> Proc:
        return Proc(self, "smtp-sink", self.port("mail_web"), "/")

    def all_procs(self) -> list[Proc]:
        return ([self.background_proc(k, i) for k in ("worker", "daily") for i in range(2)]
                + [self.instance_proc(s, i) for s in SERVICES for i in range(self.instances)]
                + [Proc(self, "haproxy", None, None)]
                + [self.node_proc(i) for i in range(self.nodes)] + [self.smtp_proc()])

    # --- the whole ---------------------------------------------------------------------------------
    def up(self, *, seed: bool = True, resync: bool = False, say=print) -> None:
        t0 = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.secrets()
        say(f"[postgres] {self.start_postgres()}: 127.0.0.1:{self.port('postgres')}")
        say(f"[smtp-sink] {self.smtp_proc().start([sys.executable, '-m', 'devstack.smtp_sink', '--smtp-port', str(self.port('smtp')), '--web-port', str(self.port('mail_web')), '--store', str(self.dir / 'mails.jsonl')], {}, cwd=REPO_ROOT)}")
        self.build_keycloak()
        say(f"[haproxy] {self.start_haproxy()}: TLS on 127.0.0.1:{self.port('lb_keycloak')}…{self.port('lb_api')}")
        say(f"[keycloak-node1] {self.start_node(0, import_realm=True)} ({time.monotonic() - t0:.0f} s)")
        with ThreadPoolExecutor(max_workers=8) as pool:
            # the other nodes join while the deployment steps run through the first (they need only one node)
            nodes = [pool.submit(self.start_node, i, import_realm=False) for i in range(1, self.nodes)]
            self.wait_lb("keycloak", f"/realms/{kc.REALM}/.well-known/openid-configuration")
            say(f"[migrate] {self.migrate()}")  # a deployment step, before any process that uses the registry
            say(f"[realm] {self.realm()}")  # a deployment step too: the realm follows realm-config/ (issue 28 §3)
            if seed:
                say(f"[seed] {self.seed()} change(s) applied")
            if resync:  # after a restore: the workers compare every partner with Keycloak once they start
                say(f"[resync] {self.provisioning('resync')}")
            started = {(service, i): pool.submit(self.start_instance, service, i)
                       for service in SERVICES for i in range(self.instances)}
            background = {(kind, i): pool.submit(self.start_background, kind, i)
                          for kind in ("worker", "daily") for i in range(2)}
            for i, node in enumerate(nodes, start=2):
                say(f"[keycloak-node{i}] {node.result()} ({time.monotonic() - t0:.0f} s)")
            for (service, i), done in started.items():
                say(f"[{service}-{i + 1}] {done.result()}: 127.0.0.1:{self.instance_port(service, i)}")
            for (kind, i), done in background.items():
                say(f"[{kind}-{i + 1}] {done.result()}")
        for service in SERVICES:
            self.wait_lb(service, HEALTH.get(service, "/healthz"))
        say(f"[cluster] up in {time.monotonic() - t0:.0f} s")

    def migrate(self) -> str:
        return self.provisioning("migrate")

    def provisioning(self, *args: str) -> str:
        """`mcp-provisioning ARGS` as a deployment step of this topology (production mode); its last line."""
        done = subprocess.run([sys.executable, "-m", "provisioning.cli", *args], cwd=REPO_ROOT,
                              env={**os.environ, **self.env()}, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise ClusterError(f"mcp-provisioning {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
        return done.stdout.strip().splitlines()[-1]

    def realm(self) -> str:
        """`mcp-provisioning realm apply` in production mode, with Keycloak's own environment and its admin."""
        env = {**os.environ, **self.env(), "MCP_SSL_REQUIRED": "external", "MCP_KEYCLOAK_REALM_ADMIN": "admin",
               "MCP_KEYCLOAK_REALM_ADMIN_PASSWORD": self.secrets()["keycloak_admin_password"]}
        done = subprocess.run([sys.executable, "-m", "provisioning.cli", "realm", "apply"], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise ClusterError(f"the realm's configuration was not applied:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
        return done.stdout.strip().splitlines()[-1]

    def seed(self) -> int:
        """The demo partner, through the provisioning service (as `mcp-dev up` does)."""
        env = {**self.env(), "MCP_ENV": ""}  # the seeding is the demo's, not a production process
        done = subprocess.run([sys.executable, "-c", "from devstack.seed import seed_demo; "
                               "from provisioning.app_factory import build; print(seed_demo(build()).applied or 0)"],
                              cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise ClusterError(f"seeding failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
        return int(done.stdout.strip().splitlines()[-1])

    def wait_lb(self, service: str, path: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.url(service) + path, verify=str(self.ca_file), timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise ClusterError(f"{service} does not answer through the load balancer ({self.url(service)}{path})")
            time.sleep(0.5)

    def down(self, *, reset: bool = False) -> list[str]:
        procs = self.all_procs()
        with ThreadPoolExecutor(max_workers=len(procs)) as pool:  # Keycloak's nodes take their shutdown delay together
            stopped = [p.name for p, was in zip(procs, pool.map(lambda p: p.stop(), procs), strict=True) if was]
        self.stop_postgres()
        if reset:
            shutil.rmtree(self.dir, ignore_errors=True)
        return stopped

    def status(self) -> dict[str, bool]:
        out = {p.name: p.running() for p in self.all_procs()}
        out["postgres"] = (self.pg_dir / "data").exists() and self.postgres_running()
        return out


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link to the shared build (no copy of 200 MB per node); a copy where the cache is on another disk."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def pg_bin(name: str) -> str:
    """Debian's postgresql keeps its programs out of PATH (psql excepted)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise ClusterError(f"{name} not found: install Debian's postgresql package (scripts/up.sh --cluster does)")


def _traversable(path: Path) -> None:
    """The `postgres` user must reach its data directory through ours (search permission only)."""
    for parent in [path, *path.parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


@dataclass
class Proc:
    """One process of the cluster: its PID file and log under the cluster's directory, its process group
    (stopped or killed whole), and how to know it is ready (a port and an HTTP path, or alive for a second)."""
    cluster: Cluster
    name: str
    port: int | None
    path: str | None

    @property
    def pid_file(self) -> Path:
        return self.cluster.dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.cluster.dir / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return None
        return pid if state != "Z" and str(self.cluster.dir).encode() in cmd + _env_marker(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    def ready(self) -> bool:
        if self.port is None:
            return self.running()
        try:
            return requests.get(f"http://127.0.0.1:{self.port}{self.path}", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def start(self, cmd: list[str], env: dict[str, str], *, cwd: Path | None = None, timeout: float = 60) -> str:
        if self.running():
            return "reused"
        if self.port is not None and _listening(self.port):
            raise ClusterError(f"port {self.port} is already used by another process ({self.name})")
        self.cluster.dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            log.write(f"\n=== {time.strftime('%F %T')} {' '.join(cmd[:3])}\n".encode())
            log.flush()
            proc = subprocess.Popen(cmd, cwd=cwd or self.cluster.dir,
                                    env={**os.environ, **env, "MCP_CLUSTER_DIR": str(self.cluster.dir)},
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if self.port is None:
                time.sleep(1.0)
                if proc.poll() is None:
                    return "started"
                break
            if self.ready():
                return "started"
            time.sleep(0.3)
        self.stop()
        tail = self.log_file.read_text(errors="replace").splitlines()[-40:]
        raise ClusterError(f"{self.name} did not start:\n" + "\n".join(tail))

    def kill(self) -> int:
        """SIGKILL the whole process group (the failover tests): no clean shutdown, no lease handed over."""
        pid = self.pid()
        if pid is None:
            raise ClusterError(f"{self.name} is not running")
        os.killpg(pid, signal.SIGKILL)
        _reap(pid)
        return pid

    def stop(self, timeout: float = 40) -> bool:
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pid):
            _reap(pid)
            time.sleep(0.2)
        if _group_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        _reap(pid)
        return True


def _env_marker(pid: int) -> bytes:
    """Our processes carry MCP_CLUSTER_DIR in their environment (a guard against a reused PID)."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def _group_alive(pgid: int) -> bool:
    return bool(kc._group_members(pgid))


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
