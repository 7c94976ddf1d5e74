"""mcp-provisioning: validate | plan | apply | status | notify — the Caf operator's command line.

Exit codes: 0 ok; 1 refused (validation, rights); 2 plan not empty with --detailed-exitcode; 3 Keycloak,
database or SMTP unavailable.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections import Counter
from datetime import date

from provisioning.desired_file import load_file
from provisioning.errors import ProvisioningError, Transient, ValidationFailed
from provisioning.reconcile.desired import desired_state
from provisioning.reconcile.plan import Change, plan
from provisioning.services import Actor


def _actor() -> Actor:
    return Actor(f"cli:{getpass.getuser()}", system=True)


def _print_plan(changes: list[Change], as_json: bool) -> None:
    if as_json:
        print(json.dumps([c.as_dict() for c in changes], ensure_ascii=False, indent=2))
        return
    if not changes:
        print("Aucun changement : Keycloak est conforme au registre.")
        return
    for c in changes:
        print(str(c))
    counts = Counter(c.action for c in changes)
    print("\nPlan : " + ", ".join(f"{n} {a}" for a, n in sorted(counts.items())))


def _service():
    from provisioning.app_factory import build  # noqa: PLC0415 (keeps `validate` free of DB and Keycloak)
    return build()


def cmd_validate(args) -> int:
    reg = load_file(args.file, date.today())
    if args.json:
        print(json.dumps({"valid": True, "partners": len(reg.partners)}))
    else:
        print(f"{args.file} : valide ({len(reg.partners)} partenaire(s), "
              f"{sum(len(p.users) for p in reg.partners)} utilisateur(s)).")
    return 0


def cmd_plan(args) -> int:
    svc = _service()
    if args.file:
        reg = load_file(args.file, date.today())
        changes = plan(desired_state(reg, svc.today()), svc.gateway().observe())
    else:
        changes = svc.plan()
    _print_plan(changes, args.json)
    return 2 if (changes and args.detailed_exitcode) else 0


def cmd_apply(args) -> int:
    svc = _service()
    reg = load_file(args.file, date.today()) if args.file else svc.registry()
    changes = plan(desired_state(reg, svc.today()), svc.gateway().observe())
    _print_plan(changes, False)
    if not changes and not args.file:
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print("Refusé : confirmez avec --yes (pas de terminal pour demander).", file=sys.stderr)
            return 1
        if input("Appliquer ces changements ? [oui/non] ").strip().lower() not in ("o", "oui", "y", "yes"):
            print("Abandon : rien n'a été modifié.")
            return 1
    actor = _actor()
    if args.file:
        svc.import_registry(actor, reg)

    def progress(i: int, n: int, ch: Change) -> None:
        print(f"[{i}/{n}] {ch}", flush=True)

    report = svc.reconcile(actor, progress=progress)
    print(f"Appliqué : {len(report.applied)} changement(s).")
    if report.created_users:
        print(f"{len(report.created_users)} utilisateur(s) créé(s) : identifiant et mot de passe provisoire "
              "envoyés dans deux courriels distincts.")
    return 0


def cmd_status(args) -> int:
    svc = _service()
    reg = svc.registry()
    changes = svc.plan()
    status = {"cafs": len(reg.cafs), "partners": len(reg.partners),
              "users": sum(len(p.users) for p in reg.partners),
              "active_conventions": sum(1 for p in reg.partners for c in p.conventions if c.status.value == "active"),
              "pending_changes": len(changes)}
    if args.json:
        print(json.dumps(status))
    else:
        for k, v in status.items():
            print(f"{k:<20} {v}")
        print("Keycloak conforme." if not changes else "Dérive ou changements en attente : lancez `mcp-provisioning plan`.")
    return 0


def cmd_suspend_inactive(args) -> int:
    names = _service().suspend_inactive(_actor(), args.days)
    print(f"{len(names)} utilisateur(s) suspendu(s) après {args.days} jours sans connexion"
          + (" : " + ", ".join(names) if names else "."))
    return 0


def cmd_usage_rules(args) -> int:
    svc = _service()
    if args.action == "publish":
        from provisioning.config import Config, secret  # noqa: PLC0415
        from provisioning.keycloak.gateway import UsageRulesPublisher  # noqa: PLC0415
        cfg = Config.from_env()
        password = secret("MCP_KEYCLOAK_REALM_ADMIN_PASSWORD")
        if not password or not args.version:
            print("[configuration] publish VERSION needs a realm administrator: MCP_KEYCLOAK_REALM_ADMIN and "
                  "MCP_KEYCLOAK_REALM_ADMIN_PASSWORD (or _FILE).", file=sys.stderr)
            return 1
        publisher = UsageRulesPublisher(cfg.keycloak.server_url, cfg.keycloak.realm,
                                        os.environ.get("MCP_KEYCLOAK_REALM_ADMIN", "admin"), password)
        at = svc.publish_usage_rules(_actor(), args.version, publisher)
        print(f"Version {args.version} publiée le {at:%d/%m/%Y à %H:%M} UTC : chaque utilisateur l'acceptera à sa "
              "prochaine connexion.")
        return 0
    rows = svc.usage_rules_acceptances(_actor())
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for r in rows:
            print(f"{r['partner']}  {r['identifiant']:<20} {r['version'] or 'non acceptées':<14} {r['accepted_at'] or ''}")
    return 0


def cmd_reissue(args) -> int:
    svc = _service()
    partner = svc.registry().partner_of(args.identifiant)
    if partner is None:
        print(f"[not_found] « {args.identifiant} » n'est l'utilisateur d'aucun partenaire du registre.", file=sys.stderr)
        return 1
    svc.reissue_credentials(_actor(), partner.siret, args.identifiant)
    print(f"Nouveaux codes envoyés à {args.identifiant} (deux courriels ; mot de passe provisoire valable 24 heures).")
    return 0


def cmd_notify(args) -> int:
    print(f"{_service().deliver_notifications()} notification(s) envoyée(s).")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mcp-provisioning", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="check a desired-state file: schema and every rule, with line numbers")
    v.add_argument("file")
    v.add_argument("--json", action="store_true")
    pl = sub.add_parser("plan", help="what apply would change in Keycloak, and why")
    pl.add_argument("--file", help="desired-state file (default: the registry in the database)")
    pl.add_argument("--json", action="store_true")
    pl.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when the plan is not empty")
    a = sub.add_parser("apply", help="store the desired state (with --file) and reconcile Keycloak")
    a.add_argument("--file")
    a.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s = sub.add_parser("status", help="registry counts and whether Keycloak has drifted")
    s.add_argument("--json", action="store_true")
    sub.add_parser("notify", help="send pending change reports (R9) to the Caf mailboxes")
    ri = sub.add_parser("reissue", help="send a user a new identifiant mail and provisional password (24 h)")
    ri.add_argument("identifiant")
    ur = sub.add_parser("usage-rules", help="publish a version of the usage rules, or list acceptances")
    ur.add_argument("action", choices=["publish", "acceptances"])
    ur.add_argument("version", nargs="?")
    ur.add_argument("--json", action="store_true")
    si = sub.add_parser("suspend-inactive", help="suspend users without login for N days (R18; run it daily)")
    si.add_argument("--days", type=int, default=int(os.environ.get("MCP_INACTIVITY_DAYS", "90")))
    args = p.parse_args(argv)
    handlers = {"validate": cmd_validate, "plan": cmd_plan, "apply": cmd_apply, "status": cmd_status,
                "notify": cmd_notify, "suspend-inactive": cmd_suspend_inactive,
                "usage-rules": cmd_usage_rules, "reissue": cmd_reissue}
    try:
        return handlers[args.cmd](args)
    except ValidationFailed as e:
        if getattr(args, "json", False):
            print(json.dumps(e.as_dict(), ensure_ascii=False, indent=2))
        else:
            print(str(e), file=sys.stderr)
        return 1
    except Transient as e:
        print(str(e), file=sys.stderr)
        return 3
    except ProvisioningError as e:
        print(str(e), file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"[fichier_introuvable] {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
