"""`mcp-dev up | down | status`: the whole local stack on embedded defaults, without Docker.

Keycloak (dev-file H2) on 8080, SMTP sink on 1025 with its web page on 8025, provisioning API on 8090,
registry in .run/provisioning.sqlite, demo partner seeded through the provisioning service.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from devstack import keycloak as kc
from devstack import processes
from devstack.paths import STATE_DIR
from provisioning.production import require

SMTP_PORT = int(os.environ.get("MCP_SMTP_PORT", "1025"))
MAIL_WEB_PORT = int(os.environ.get("MCP_MAIL_WEB_PORT", "8025"))
API_PORT = int(os.environ.get("MCP_API_PORT", "8090"))

SMTP_SINK = processes.Helper("smtp-sink", "devstack.smtp_sink",
                             ("--smtp-port", str(SMTP_PORT), "--web-port", str(MAIL_WEB_PORT),
                              "--store", str(STATE_DIR / "mails.jsonl")), MAIL_WEB_PORT)
API = processes.Helper("provisioning-api", "provisioning.api.serve", (), API_PORT)
APPS = processes.Helper("sso-demo", "sso_demo", (), int(os.environ.get("MCP_PORTAIL_PORT", "8081")))
WORKER = processes.Helper("reconcile-worker", "provisioning.cli", ("worker",), None)
HELPERS = (SMTP_SINK, API, WORKER, APPS)


def _stack_env(inst: kc.Instance) -> dict[str, str]:
    """The provisioning settings the demo stack uses (environment wins where set)."""
    defaults = {"KEYCLOAK_URL": inst.url, "MCP_SMTP_HOST": "127.0.0.1", "MCP_SMTP_PORT": str(SMTP_PORT),
                "MCP_DATABASE_URL": f"sqlite:///{STATE_DIR / 'provisioning.sqlite'}", "MCP_API_PORT": str(API_PORT)}
    return {k: os.environ.get(k, v) for k, v in defaults.items()}


def _realm(inst: kc.Instance, svc) -> str:
    """An existing realm (a second `up`) gets what realm-config/ says now; a new one was just imported."""
    from provisioning.keycloak.realm_admin import RealmAdmin
    from provisioning.usecases.realm import desired_realm, realm_apply
    admin = RealmAdmin(inst.url, kc.REALM, inst.admin_user, inst.admin_password)
    applied, left = realm_apply(admin, desired_realm(env={**os.environ, **inst.extra_env}), actor="devstack:up",
                                journal=svc.uow())
    said = f"{len(applied)} change(s) applied from realm-config/" if applied else "conforms to realm-config/"
    return said + (f"; {len(left)} still differ: " + "; ".join(c.line() for c in left) if left else "")


def _up(args) -> int:
    if args.cluster:
        return _up_cluster()
    inst = kc.demo_instance()
    env = _stack_env(inst)
    os.environ.update(env)  # Keycloak's import reads the same settings (its mail server) as the stack
    t0 = time.monotonic()
    how = kc.start(inst)
    print(f"[keycloak] {how} in {time.monotonic() - t0:.0f} s: {inst.url}", flush=True)
    print(f"[smtp-sink] {processes.start(SMTP_SINK)}: smtp://127.0.0.1:{SMTP_PORT}, http://localhost:{MAIL_WEB_PORT}/")
    from devstack.seed import seed_demo
    from provisioning.app_factory import build
    print(f"[migrate] {_migrate()}")  # a deployment step: the processes below refuse an older schema
    svc = build()
    print(f"[realm] {_realm(inst, svc)}")  # a deployment step too: the realm follows realm-config/ (issue 28 §3)
    seeded = seed_demo(svc)
    if seeded.stored:
        print(f"[seed] demo partner stored; Keycloak followed ({seeded.applied or 0} change(s))")
    else:
        print(f"[seed] the registry already holds {seeded.partners} partner(s): kept as they are "
              "(./scripts/down.sh --reset to start again from the example)")
    print(f"[api] {processes.start(API, env)}: http://localhost:{API_PORT}/openapi.json")
    print(f"[worker] {processes.start(WORKER, env)}: reconcile requests, partner by partner")
    apps_env = {**env, "MCP_API_URL": f"http://localhost:{API_PORT}", "MCP_STATE_DIR": str(STATE_DIR)}
    print(f"[apps] {processes.start(APPS, apps_env)}: portail http://localhost:8081/, cdap :8082, afas :8083")
    print()
    print("Mon Compte Partenaire est prêt :")
    print("  Portail (connexion unique, puis CDAP et AFAS)                http://localhost:8081/")
    print(f"  Courriels reçus (identifiants et mots de passe provisoires)  http://localhost:{MAIL_WEB_PORT}/")
    print(f"  Connexion (compte utilisateur Keycloak)                      {inst.url}/realms/{kc.REALM}/account/")
    print(f"  Console d'administration Keycloak                            {inst.url}/admin/  "
          f"({inst.admin_user} / {inst.admin_password}, démo seulement)")
    print(f"  API de provisionnement                                       http://localhost:{API_PORT}/openapi.json")
    print("Comptes de démonstration (partenaire « Centre de loisirs Les Hirondelles », Caf de Paris) :")
    for ident, role in (("caf.admin", "administratrice Caf"), ("jeanne.dupont", "administratrice partenaire"),
                        ("marc.martin", "responsable des habilitations, approbateur AFAS"),
                        ("lea.petit", "fournisseuse de données d'activité AFAS, CDAP"),
                        ("paul.bernard", "fournisseur de données financières AFAS")):
        print(f"  {ident:<14} {role}")
    print("  Mot de passe provisoire de chacun : dans le second courriel reçu (page des courriels ci-dessus).")
    print("Arrêt : ./scripts/down.sh    Remise à zéro : ./scripts/down.sh --reset")
    return 0


def _migrate() -> str:
    from provisioning.config import Config
    from provisioning.store.uow import make_engine, migrate
    before, after = migrate(make_engine(Config.from_env().database_url))
    return f"registry schema already at {after}" if before == after else f"registry schema {before or 'empty'} → {after}"


def _up_cluster() -> int:
    from devstack.cluster import Cluster
    c = Cluster()
    c.up()
    s = c.secrets()
    print()
    print("Mon Compte Partenaire, topologie de production (2 nœuds Keycloak, 2 instances de chaque service) :")
    print(f"  Portail                      {c.url('portail')}/")
    print(f"  API de provisionnement       {c.url('api')}/openapi.json")
    print(f"  Console Keycloak             {c.url('keycloak')}/admin/  (admin / {c.dir / 'secrets.json'}: "
          "keycloak_admin_password)")
    print(f"  État du répartiteur          http://127.0.0.1:{c.port('lb_stats')}/")
    print(f"  Courriels reçus              http://127.0.0.1:{c.port('mail_web')}/")
    print(f"  Certificat TLS à approuver   {c.ca_file}")
    print(f"  Secrets (hors git)           {c.dir / 'secrets.json'} ({len(s)} valeurs tirées au hasard)")
    print("Arrêt : ./scripts/down.sh --cluster    Remise à zéro : ./scripts/down.sh --cluster --reset")
    return 0


def _down(args) -> int:
    if args.cluster:
        from devstack.cluster import Cluster
        for name in Cluster().down(reset=args.reset):
            print(f"[{name}] stopped")
        print("[postgres] stopped" + (" and the cluster's data deleted" if args.reset else ""))
        return 0
    inst = kc.demo_instance()
    for h in HELPERS:
        if processes.stop(h):
            print(f"[{h.name}] stopped")
    if args.reset:
        kc.reset(inst)
        # the registry (and its migration lock), the applications' journals (their rows name the old registry's
        # people) and the mails: the next up.sh starts again from the example
        for name in ("provisioning.sqlite", "provisioning.sqlite.migrate-lock", "cdap.sqlite", "afas.sqlite",
                     "mails.jsonl"):
            (STATE_DIR / name).unlink(missing_ok=True)
        print("[keycloak] stopped and reset (Keycloak database, registry, journals of CDAP and AFAS and mails "
              "deleted)")
    else:
        print("[keycloak] stopped" if kc.stop(inst) else "[keycloak] was not running")
    return 0


def _build_extension(_args) -> int:
    """For Docker users: build/mcp-keycloak-extension.jar, mounted by docker-compose.yml."""
    from devstack.paths import REPO_ROOT
    jar = kc.install_extension(kc.pristine_distribution(), REPO_ROOT / "build" / "mcp-keycloak-extension.jar")
    print(f"[keycloak-extension] {jar}")
    return 0


def _backup(args) -> int:
    from pathlib import Path

    from devstack import backup
    from devstack.cluster import Cluster
    made = backup.backup(Cluster(), Path(args.dir))
    took = made.finished - made.started
    print(f"[backup] {len(made.sizes)} databases, {sum(made.sizes.values())} bytes in {took:.1f} s into {args.dir} "
          f"(registry at {made.registry_revision}, Keycloak {made.keycloak_version})")
    return 0


def _restore(args) -> int:
    from pathlib import Path

    from devstack import backup
    from devstack.cluster import Cluster
    done = backup.restore(Cluster(), Path(args.dir))
    print(f"[restore] databases loaded in {done.restore_seconds} s, topology serving {done.start_seconds} s later; "
          "the workers now compare every partner with Keycloak")
    return 0


def _status(args) -> int:
    if args.cluster:
        from devstack.cluster import Cluster
        states = Cluster().status()
        for name, up in states.items():
            print(f"{name}: {'running' if up else 'stopped'}")
        return 0 if all(states.values()) else 1
    inst = kc.demo_instance()
    ready = kc.is_ready(inst)
    print(f"keycloak: {'ready' if ready else 'not ready'} at {inst.url}")
    for h in HELPERS:
        print(f"{h.name}: {'running' if processes.running_pid(h) else 'stopped'}")
    return 0 if ready else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mcp-dev", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start everything on embedded defaults and seed the demo partner")
    d = sub.add_parser("down", help="stop the local stack")
    d.add_argument("--reset", action="store_true", help="also delete local data (Keycloak H2, registry, CDAP and AFAS journals, mails)")
    st = sub.add_parser("status", help="is the local stack up?")
    for p_ in (u, d, st):
        p_.add_argument("--cluster", action="store_true",
                        help="the production topology (issue 14): PostgreSQL, 2 Keycloak nodes, HAProxy, gunicorn")
    b = sub.add_parser("backup", help="dump the production topology's databases into DIR (issue 30 §3)")
    b.add_argument("dir")
    r = sub.add_parser("restore", help="load a backup into the production topology, whose databases are gone, and "
                                       "start it")
    r.add_argument("dir")
    sub.add_parser("build-extension", help="build the Keycloak extension jar into build/ (for Docker users)")
    args = p.parse_args(argv)
    if args.cmd == "up" and not args.cluster:
        require("mcp-dev up", [(True, "la pile de démonstration (start-dev sur H2, admin/admin, secrets "
                                      "demo-only, SQLite, serveurs de développement) n'est pas une installation de "
                                      "production : voir docs/operations.md")])
    try:
        return {"up": _up, "down": _down, "status": _status, "build-extension": _build_extension,
                "backup": _backup, "restore": _restore}[args.cmd](args)
    except (kc.KeycloakError, RuntimeError) as e:  # ClusterError is a RuntimeError
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
