"""mcp-provisioning: validate | plan | apply | export | status | notify | migrate — the Caf operator's command line.

The operator's mandate (--as, or MCP_OPERATOR): `national`, or `caf:CODE` for a Caf administrator, who
plans, applies and exports only files scoped to that Caf. A desired-state file declares its scope.

Exit codes: 0 ok; 1 refused (validation, rights, destruction not confirmed); 2 plan not empty with
--detailed-exitcode; 3 Keycloak, database or SMTP unavailable; 4 applied, but some changes failed (listed);
5 internal error (MCP_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from provisioning import logs, settings
from provisioning.desired_file import dump, load, load_file
from provisioning.domain.scope import FileScope
from provisioning.errors import ProvisioningError, Transient, ValidationFailed
from provisioning.reconcile.plan import Change
from provisioning.services import CAF_ADMIN, Actor
from provisioning.usecases import desired_state as files


def _actor() -> Actor:
    return Actor(f"cli:{getpass.getuser()}", system=True)


def _operator(args) -> Actor:
    """The mandate the operator declares for file commands. The CLI holds the service account, so this
    guards against mistakes (applying another Caf's file); the API enforces mandates with tokens."""
    raw = (getattr(args, "operator", None) or settings.read().operator).strip()
    who = f"cli:{getpass.getuser()}"
    if raw == "national":
        return Actor(who, system=True)
    if raw.startswith("caf:") and raw[4:]:
        return Actor(f"{who}@caf:{raw[4:]}", frozenset({CAF_ADMIN}), caf=raw[4:])
    raise ProvisioningError("OPERATEUR_NON_DECLARE", "Déclarez votre mandat : --as caf:CODE (administrateur d'une "
                            "Caf) ou --as national (ou la variable MCP_OPERATOR).", 400)


def _print_plan(p: files.StatePlan, as_json: bool) -> None:
    lines = p.lines()
    destructive = p.destructive
    if as_json:
        print(json.dumps({"scope": p.scope.as_data(), "destructive": len(destructive),
                          "changes": [c.as_dict() for c in lines]}, ensure_ascii=False, indent=2))
        return
    print(f"Périmètre : {p.scope.describe()}")
    if not lines:
        print("Aucun changement : le registre et Keycloak sont conformes.")
        return
    if destructive:
        print(f"Changements destructeurs : {len(destructive)}")
    for c in lines:
        print(str(c))
    counts = Counter(c.action for c in lines)
    print("\nPlan : " + ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
          + f" ; dont {len(destructive)} destructeur(s)")


def _service():
    """An operator's command waits for Keycloak: CLI mutations (re-issue, adopt…) reconcile inline,
    whatever MCP_RECONCILE says for the API."""
    from dataclasses import replace

    from provisioning.app_factory import build
    from provisioning.config import Config
    return build(replace(Config.from_env(), reconcile_mode="inline"))


def cmd_validate(args) -> int:
    reg = load_file(args.file, date.today())
    scope = reg.scope
    assert scope is not None  # a desired-state file always has one (its own, or the whole registry)
    if args.json:
        print(json.dumps({"valid": True, "scope": scope.as_data(), "partners": len(reg.partners)}))
    else:
        print(f"{args.file} : valide (périmètre : {scope.describe()} ; {len(reg.partners)} partenaire(s), "
              f"{sum(len(p.users) for p in reg.partners)} utilisateur(s)).")
    return 0


def _plan(args, svc, file_text: str | None = None) -> files.StatePlan:
    if file_text is not None:
        return files.plan_file(svc, _operator(args), load(file_text, svc.today()))
    if args.file:
        return files.plan_file(svc, _operator(args), load_file(args.file, svc.today()))
    if not _operator(args).system:
        raise ProvisioningError("HORS_MANDAT", "Réconcilier tout le registre est réservé à un opérateur national ; "
                                "un administrateur de Caf applique le fichier de sa Caf (--file).", 403)
    return files.plan_stored(svc)


def cmd_plan(args) -> int:
    p = _plan(args, _service())
    _print_plan(p, args.json)
    if args.out:
        text = Path(args.file).read_text(encoding="utf-8") if args.file else None
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(files.saved(p, text), f, ensure_ascii=False, indent=2)
        print(f"Plan enregistré dans {args.out} : `mcp-provisioning apply {args.out}` appliquera exactement "
              "ce plan, ou refusera si Keycloak ou le registre a changé d'ici là.", file=sys.stderr)
    return 2 if (not p.empty and args.detailed_exitcode) else 0


def cmd_apply(args) -> int:
    """Shows the plan, asks, then carries out exactly that plan (never a freshly computed one)."""
    svc = _service()
    saved = None
    if args.plan:
        if args.file:
            raise ProvisioningError("PLAN_ET_FICHIER", "Donnez un plan enregistré ou --file, pas les deux.", 400)
        with open(args.plan, encoding="utf-8") as f:
            try:
                saved = json.load(f)
            except ValueError:
                saved = {}
    p = _plan(args, svc, saved.get("file") if saved else None)
    if saved is not None:
        files.check_saved(saved, p)  # the plan recomputed now must be the one that was shown
    _print_plan(p, False)
    if p.empty:
        return 0
    if args.destroy_threshold is None:
        args.destroy_threshold = settings.read().destroy_threshold
    files.check_destruction(p, args.allow_destroy, args.destroy_threshold)  # before asking anything
    if not args.yes:
        if not sys.stdin.isatty():
            print("Refusé : confirmez avec --yes (pas de terminal pour demander).", file=sys.stderr)
            return 1
        if input("Appliquer ces changements ? [oui/non] ").strip().lower() not in ("o", "oui", "y", "yes"):
            print("Abandon : rien n'a été modifié.")
            return 1

    def progress(i: int, n: int, ch: Change) -> None:
        print(f"[{i}/{n}] {ch}", flush=True)

    report = files.apply_plan(svc, _operator(args), p, allow_destroy=args.allow_destroy,
                              threshold=args.destroy_threshold, progress=progress)
    print(f"Appliqué : {len(p.registry_changes)} changement(s) du registre, {len(report.applied)} dans Keycloak.")
    if report.created_users:
        print(f"{len(report.created_users)} utilisateur(s) créé(s) : identifiant et mot de passe provisoire "
              "en attente d'envoi (deux courriels distincts).")
    if report.failed:
        print(f"{len(report.failed)} changement(s) non appliqué(s) :", file=sys.stderr)
        for ch, why in report.failed:
            print(f"  ! {ch.action} {ch.kind} {ch.target} : {why}", file=sys.stderr)
        return 4
    return 0


def cmd_export(args) -> int:
    scope = (FileScope(everything=True) if args.all else FileScope(cafs=frozenset(args.caf)) if args.caf
             else FileScope(partners=frozenset(args.partner)))
    text = dump(files.export(_service(), _operator(args), scope))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_status(args) -> int:
    svc = _service()
    reg = svc.registry()
    changes = files.plan_stored(svc).changes
    status = {"cafs": len(reg.cafs), "partners": len(reg.partners),
              "users": sum(len(p.users) for p in reg.partners),
              "active_conventions": sum(1 for p in reg.partners for c in p.conventions if c.status.value == "active"),
              "pending_changes": len(changes)}
    with svc.uow() as uow:
        status.update({f"reconcile_{k}": v for k, v in uow.reconcile.counts().items()})
        to_handle = uow.reconcile.to_handle()
    if args.json:
        print(json.dumps({**status, "to_handle": [{"key": h["key"], "reason": h.get("reason")} for h in to_handle]},
                         ensure_ascii=False))
    else:
        for k, v in status.items():
            print(f"{k:<20} {v}")
        for h in to_handle:  # issue 25 §5: not retried until the registry or Keycloak changes
            print(f"À traiter : {'royaume' if h['key'] == '*' else 'partenaire ' + h['key']} — {h.get('reason')}")
        print("Keycloak conforme." if not changes else "Dérive ou changements en attente : lancez `mcp-provisioning plan`.")
    return 0


def cmd_suspend_inactive(args) -> int:
    if args.days is None:
        args.days = settings.read().inactivity_days
    names = _service().suspend_inactive(_actor(), args.days)
    print(f"{len(names)} utilisateur(s) suspendu(s) après {args.days} jours sans connexion"
          + (" : " + ", ".join(names) if names else "."))
    return 0


def cmd_reviews(args) -> int:
    """Issue 16: the reviews' reminders and deadlines now (the daily job does the same every day)."""
    done = _service().tick_reviews()
    print(f"{done['reminders']} rappel(s) envoyé(s) ; {len(done['closed'])} revue(s) close(s), "
          f"{done['suspended']} habilitation(s) suspendue(s) faute de confirmation.")
    return 0


def cmd_usage_rules(args) -> int:
    svc = _service()
    if args.action == "publish":
        from provisioning.config import Config
        from provisioning.keycloak.gateway import UsageRulesPublisher
        st = settings.read()
        cfg = Config.from_env(st)
        password = st.keycloak_realm_admin_password
        if not password or not args.version:
            print("[configuration] publish VERSION needs a realm administrator: MCP_KEYCLOAK_REALM_ADMIN and "
                  "MCP_KEYCLOAK_REALM_ADMIN_PASSWORD (or _FILE).", file=sys.stderr)
            return 1
        publisher = UsageRulesPublisher(cfg.keycloak.server_url, cfg.keycloak.realm,
                                        st.keycloak_realm_admin, password)
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
    with svc.uow() as uow:
        partner = uow.registry.partner_of(args.identifiant)
    if partner is None:
        print(f"[not_found] « {args.identifiant} » n'est l'utilisateur d'aucun partenaire du registre.", file=sys.stderr)
        return 1
    svc.reissue_credentials(_actor(), partner.siret, args.identifiant)
    print(f"Nouveaux codes envoyés à {args.identifiant} (deux courriels ; mot de passe provisoire valable 24 heures).")
    return 0


def cmd_notify(args) -> int:
    print(f"{_service().deliver_notifications()} notification(s) envoyée(s).")
    return 0


def cmd_daily(args) -> int:
    """The daily job as its own process: one active among several (lease `daily-job`)."""
    import threading

    from provisioning.jobs import LEASE, run_daily, run_job, settings
    from provisioning.reconcile.worker import Lease
    svc = _service()
    days, at = settings()
    if days <= 0:  # the access reviews' deadlines and the outbox still need the job
        print("MCP_INACTIVITY_DAYS=0 : suspension automatique désactivée (revues et courriels continuent).")
    if args.once:
        print(f"{len(run_job(svc, days))} utilisateur(s) suspendu(s).")
        return 0
    print(f"Tâche quotidienne : chaque jour à {at.strftime('%H:%M')} (heure de Paris), et dès maintenant si la "
          "dernière exécution prévue a été manquée.", flush=True)
    _serve_metrics(svc)
    with contextlib.suppress(KeyboardInterrupt):
        run_daily(svc, threading.Event(), days=days, at=at, lease=Lease(svc, LEASE, seconds=60.0))
    return 0


def cmd_migrate(args) -> int:
    """A deployment step (issue 25 §6): brings the registry's schema to this version's, under a database lock,
    before any process starts; the processes refuse an older schema rather than race to migrate it."""
    from provisioning.config import Config
    from provisioning.store.uow import make_engine, migrate
    engine = make_engine(Config.from_env().database_url)
    before, after = migrate(engine)
    if before == after:
        print(f"Base du registre déjà à jour (révision {after}).")
    else:
        print(f"Base du registre migrée : {before or 'vide'} → {after}.")
    return 0


def cmd_worker(args) -> int:
    """The reconcile worker: takes the reconcile requests that changes wrote, partner by partner."""
    from provisioning.reconcile.worker import main_loop
    svc = _service()
    if args.full:
        with svc.uow() as uow:
            uow.reconcile.request("*")
            uow.commit()
    if not args.once:
        _serve_metrics(svc)
    handled = main_loop(svc, args.once, args.interval)
    if args.once:
        print(f"{handled} demande(s) de réconciliation traitée(s).")
    return 0


def cmd_resync(args) -> int:
    """After a restore (issue 30 §3) or a hand edit in Keycloak: every partner and the realm are asked again now,
    as the periodic resync would; the workers carry it out and Keycloak follows the registry."""
    svc = _service()
    with svc.uow() as uow:
        asked = uow.reconcile.request_resync()
        uow.commit()
    print(f"{asked} demande(s) de réconciliation ajoutée(s) : les workers comparent chaque partenaire à Keycloak.")
    return 0


def cmd_proconnect_env(args) -> int:
    """Issue 32: the MCP_PROCONNECT_* lines of an environment file, from ProConnect's discovery URL (the client id
    and secret are ProConnect's answer to our registration: set them beside these)."""
    from provisioning.proconnect import env_from_discovery, fetch_discovery
    for name, value in env_from_discovery(fetch_discovery(args.url), acr=args.acr).items():
        print(f"{name}={value}")
    return 0


def _serve_metrics(svc) -> None:
    """Issue 30: a long-running worker or daily job serves its metrics (and the queues') on MCP_METRICS_PORT of
    127.0.0.1, for a local agent; 0 (the default): not served."""
    from provisioning import metrics, settings
    port = int(settings.initial("metrics_port"))
    if port:
        metrics.serve(port, svc.uow)
        print(f"Métriques sur http://127.0.0.1:{port}/metrics", flush=True)


def cmd_adopt(args) -> int:
    r = _service().adopt_account(_operator(args), args.identifiant)
    print(f"Compte « {args.identifiant} » adopté (audité) : il est désormais géré comme les autres"
          + (" et aligné sur le registre." if r.reconciled else f" ; réconciliation : {(r.reconcile_state or {}).get('label', 'inconnue')}."))
    return 0


def cmd_outbox(args) -> int:
    """What waits in the outbox, or the dead letters; `resend ID` puts a dead letter back in the queue."""
    svc = _service()
    if args.resend is not None:
        svc.resend_notification(_actor(), args.resend)
        print(f"Courriel n° {args.resend} remis en file d'envoi.")
        return 0
    rows = svc.notifications(_actor(), dead=args.dead, waiting=not (args.all or args.dead))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return 0
    for r in rows:
        print(f"{r['id']:>6}  {r['state_label']:<20} {r['attempts']} essai(s)  {r['recipient']:<40} {r['subject']}"
              + (f"\n        {r['error']}" if r["error"] else ""))
    print(f"{len(rows)} courriel(s).")
    return 0


def cmd_realm(args) -> int:
    """Issue 28 §3: the realm's configuration (settings, clients, mappers, scopes, roles) kept in step with
    realm-config/ — `plan` shows what differs and why, `apply` makes it so (a realm administrator's act)."""
    from pathlib import Path

    from provisioning.keycloak.realm_admin import RealmAdmin
    from provisioning.usecases.realm import REALM_FILE, desired_realm, realm_apply, realm_plan
    st = settings.read()
    if not st.keycloak_realm_admin_password:
        print("[configuration] the realm's configuration is a realm administrator's: MCP_KEYCLOAK_REALM_ADMIN and "
              "MCP_KEYCLOAK_REALM_ADMIN_PASSWORD (or _FILE).", file=sys.stderr)
        return 1
    kc = RealmAdmin(st.keycloak_url.rstrip("/"), st.realm, st.keycloak_realm_admin, st.keycloak_realm_admin_password)
    desired = desired_realm(Path(args.file) if args.file else REALM_FILE, every_variable_set=st.env == "production")
    if args.action == "plan":
        changes = realm_plan(kc, desired)
        for ch in changes:
            print(ch.line())
        print(f"{len(changes)} changement(s) : " + ("« realm apply » les appliquera." if changes
                                                    else "le royaume est conforme au fichier."))
        return 2 if changes and args.detailed_exitcode else 0
    applied, left = realm_apply(kc, desired, actor=_actor().username, journal=_service().uow())
    for ch in applied:
        print(ch.line())
    if left:
        print(f"{len(left)} changement(s) encore différent(s) après l'application :", file=sys.stderr)
        for ch in left:
            print("  " + ch.line(), file=sys.stderr)
        return 1
    print(f"{len(applied)} changement(s) appliqué(s) ; le royaume est conforme au fichier.")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mcp-provisioning", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="check a desired-state file: schema and every rule, with line numbers")
    v.add_argument("file")
    v.add_argument("--json", action="store_true")
    mandate = argparse.ArgumentParser(add_help=False)
    mandate.add_argument("--as", dest="operator", metavar="MANDAT",
                         help="national | caf:CODE (default: MCP_OPERATOR)")
    pl = sub.add_parser("plan", parents=[mandate], help="what apply would change (registry, then Keycloak), and why")
    pl.add_argument("--file", help="desired-state file (default: the registry in the database)")
    pl.add_argument("--json", action="store_true")
    pl.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when the plan is not empty")
    pl.add_argument("--out", metavar="PLAN", help="save the plan, to apply exactly it later (`apply PLAN`)")
    a = sub.add_parser("apply", parents=[mandate], help="store the desired state (with --file) and reconcile Keycloak")
    a.add_argument("plan", nargs="?", help="a plan saved by `plan --out` (refused if no longer current)")
    a.add_argument("--file")
    a.add_argument("--yes", action="store_true", help="do not ask for confirmation (never enough for destruction)")
    a.add_argument("--allow-destroy", type=int, metavar="N",
                   help="confirm the plan's N destructive changes (N must be the count the plan shows)")
    a.add_argument("--destroy-threshold", type=int, metavar="N",
                   default=None,
                   help="destructive changes allowed without --allow-destroy (never a partner removal; default: MCP_DESTROY_THRESHOLD)")
    ex = sub.add_parser("export", parents=[mandate], help="write the registry of a scope in the file format")
    which = ex.add_mutually_exclusive_group(required=True)
    which.add_argument("--caf", action="append", help="a Caf code (repeatable)")
    which.add_argument("--partner", action="append", help="a partner's SIRET (repeatable)")
    which.add_argument("--all", action="store_true", help="the whole registry (national operator)")
    ex.add_argument("--out", help="file to write (default: standard output)")
    _operations(sub, mandate)
    return p


def _operations(sub: Any, mandate: argparse.ArgumentParser) -> None:
    """The commands of running it: status, migrate, the processes, the outbox, people."""
    s = sub.add_parser("status", help="registry counts and whether Keycloak has drifted")
    s.add_argument("--json", action="store_true")
    sub.add_parser("migrate", help="bring the registry's database schema to this version's (a deployment step; "
                   "the other commands and processes refuse an older schema)")
    sub.add_parser("notify", help="send what waits in the outbox (reports, credentials, suspensions)")
    ad = sub.add_parser("adopt", parents=[mandate], help="explicitly adopt an existing Keycloak account the "
                        "registry lists but Mon Compte Partenaire did not create (audited)")
    ad.add_argument("identifiant")
    dj = sub.add_parser("daily", help="the daily job (inactive users suspended, outbox) as its own process; "
                        "one active among several (lease)")
    dj.add_argument("--once", action="store_true", help="run it now, then exit")
    wk = sub.add_parser("worker", help="reconcile what changes requested, partner by partner (runs until stopped)")
    wk.add_argument("--once", action="store_true", help="what is due now, then exit")
    wk.add_argument("--full", action="store_true", help="also request a reconcile of the whole realm")
    wk.add_argument("--interval", type=float, default=0.5, help="seconds between rounds when idle")
    sub.add_parser("resync", help="ask the workers to compare every partner and the realm with Keycloak now "
                   "(after a restore; the periodic resync does it every MCP_RESYNC_MINUTES)")
    ob = sub.add_parser("outbox", help="mails waiting or dead (attempts exhausted); --resend ID sends one again")
    ob.add_argument("--dead", action="store_true", help="only dead letters")
    ob.add_argument("--all", action="store_true", help="sent ones too")
    ob.add_argument("--resend", type=int, metavar="ID")
    ob.add_argument("--json", action="store_true")
    ri = sub.add_parser("reissue", help="send a user a new identifiant mail and provisional password (24 h)")
    ri.add_argument("identifiant")
    ur = sub.add_parser("usage-rules", help="publish a version of the usage rules, or list acceptances")
    ur.add_argument("action", choices=["publish", "acceptances"])
    ur.add_argument("version", nargs="?")
    ur.add_argument("--json", action="store_true")
    si = sub.add_parser("suspend-inactive", help="suspend users without login for N days (R18; run it daily)")
    si.add_argument("--days", type=int, default=None, help="default: MCP_INACTIVITY_DAYS")
    sub.add_parser("reviews", help="access reviews: send the reminders due, close the reviews whose deadline "
                                   "passed (unconfirmed grants suspended); the daily job runs it too")
    pe = sub.add_parser("proconnect-env", help="the MCP_PROCONNECT_* lines of an environment file, from ProConnect's "
                                               "discovery URL (docs/proconnect.md)")
    pe.add_argument("url", help="e.g. https://PROCONNECT_DOMAIN/api/v2/.well-known/openid-configuration")
    pe.add_argument("--acr", default="eidas1", help="the acr_values the broker sends (default: eidas1)")
    rl = sub.add_parser("realm", help="the realm's configuration (settings, clients, roles) against realm-config/: "
                                      "plan shows, apply makes it so (each deploy)")
    rl.add_argument("action", choices=["plan", "apply"])
    rl.add_argument("--file", help="the realm file (default: realm-config/mon-compte-partenaire-realm.json)")
    rl.add_argument("--detailed-exitcode", action="store_true", help="plan: exit 2 when something differs")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # the long-running commands log their work (JSON lines, issue 30 §2); a command a person types, warnings only
    logs.configure(f"mcp-provisioning {args.cmd}", "INFO" if args.cmd in ("worker", "daily") else "WARNING")
    with logs.bound(None):  # one id for the command: its audit entries, mails and reconcile requests carry it
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    handlers = {"reviews": cmd_reviews, "validate": cmd_validate, "plan": cmd_plan, "apply": cmd_apply, "export": cmd_export,
                "status": cmd_status,
                "notify": cmd_notify, "outbox": cmd_outbox, "worker": cmd_worker, "resync": cmd_resync, "migrate": cmd_migrate, "daily": cmd_daily, "adopt": cmd_adopt, "suspend-inactive": cmd_suspend_inactive,
                "usage-rules": cmd_usage_rules, "reissue": cmd_reissue, "realm": cmd_realm,
                "proconnect-env": cmd_proconnect_env}
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
    except SQLAlchemyError as e:  # missing, locked or read-only registry database
        reason = str(getattr(e, "orig", None) or e).splitlines()[0][:200]
        print(f"[base_indisponible] Base du registre inaccessible ({reason}) ; rien n'a été modifié par cette "
              "commande après l'erreur.", file=sys.stderr)
        return 3
    except OSError as e:
        print(f"[fichier_illisible] {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrompu : relancez la commande, elle reprend là où elle s'est arrêtée.", file=sys.stderr)
        return 130
    except Exception:  # a bug: one line for the operator, the traceback only on request
        if os.environ.get("MCP_DEBUG", "").lower() in ("1", "true", "yes", "on"):  # even when settings are broken
            raise
        logging.getLogger(__name__).debug("internal error", exc_info=True)
        print("[erreur_interne] Erreur inattendue (un défaut du programme) ; relancez avec MCP_DEBUG=1 pour le "
              "détail et signalez-le.", file=sys.stderr)
        return 5


if __name__ == "__main__":
    sys.exit(main())
