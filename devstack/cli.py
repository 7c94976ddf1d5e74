"""`mcp-dev up | down | status | reset`: the local stack on embedded defaults, without Docker."""

from __future__ import annotations

import argparse
import sys
import time

from devstack import keycloak as kc
from devstack.seed import DEMO_ACCOUNTS, seed_demo


def _up(_args) -> int:
    inst = kc.demo_instance()
    t0 = time.monotonic()
    how = kc.start(inst)
    print(f"[keycloak] {how} in {time.monotonic() - t0:.0f} s: {inst.url}", flush=True)
    seed_demo(inst)
    print()
    print("Mon Compte Partenaire est prêt / is up:")
    print(f"  Keycloak admin console  {inst.url}/admin/  ({inst.admin_user} / {inst.admin_password}, demo only)")
    print(f"  Realm                   {inst.url}/realms/{kc.REALM}/.well-known/openid-configuration")
    print(f"  Account console (login) {inst.url}/realms/{kc.REALM}/account/")
    print("Demo accounts (demo only):")
    for acc in DEMO_ACCOUNTS:
        print(f"  {acc.username:<24} {acc.password:<24} {acc.note}")
    print(f"Logs: {inst.log_file}   Stop: ./scripts/down.sh   Reset: ./scripts/down.sh --reset")
    return 0


def _down(args) -> int:
    inst = kc.demo_instance()
    if args.reset:
        kc.reset(inst)
        print("[keycloak] stopped and reset (database deleted)")
    else:
        print("[keycloak] stopped" if kc.stop(inst) else "[keycloak] was not running")
    return 0


def _status(_args) -> int:
    inst = kc.demo_instance()
    pid = kc.running_pid(inst)
    ready = kc.is_ready(inst)
    print(f"keycloak: {'running pid ' + str(pid) if pid else 'stopped'}; ready={ready}; {inst.url}")
    return 0 if ready else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mcp-dev", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start everything on embedded defaults and seed the demo")
    d = sub.add_parser("down", help="stop the local stack")
    d.add_argument("--reset", action="store_true", help="also delete local data (Keycloak H2)")
    sub.add_parser("status", help="is the local stack up?")
    args = p.parse_args(argv)
    try:
        return {"up": _up, "down": _down, "status": _status}[args.cmd](args)
    except kc.KeycloakError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
