"""MCP_ENV=production: every process refuses to start on what is fine for the demo and wrong in production
(demo secrets, admin/admin, insecure cookies, a session key that changes at each start, Werkzeug's
development server). Each refusal says what to set; all of them are listed at once."""

from __future__ import annotations

import os
from collections.abc import Iterable

DEMO_MARK = "demo-only"


ENVIRONMENTS = ("demo", "production")


class UnknownEnvironment(SystemExit):
    def __init__(self, value: str):
        super().__init__(f"[configuration] MCP_ENV={value!r} n'est pas reconnu : « demo » (ou vide) ou « production ». "
                         "Une faute de frappe ne doit pas lancer la démonstration à la place de la production.")


def production() -> bool:
    """Issue 26: `MCP_ENV=prod` (a typo) silently ran the demo; anything but demo or production is refused."""
    value = os.environ.get("MCP_ENV", "").strip().lower()
    if value not in ("", *ENVIRONMENTS):
        raise UnknownEnvironment(os.environ.get("MCP_ENV", ""))
    return value == "production"


class NotForProduction(SystemExit):
    def __init__(self, process: str, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"[configuration_production] {process} refuse de démarrer avec MCP_ENV=production :\n{lines}")


def require(process: str, checks: Iterable[tuple[bool, str]]) -> None:
    """`checks`: (is wrong, what to set). Raises NotForProduction listing every wrong one, in production only."""
    if not production():
        return
    problems = [message for wrong, message in checks if wrong]
    if problems:
        raise NotForProduction(process, problems)


def is_demo_secret(value: str | None) -> bool:
    return not value or DEMO_MARK in value


def dev_server(process: str, wsgi: str) -> None:
    """Werkzeug's server is for development: production runs the WSGI app under gunicorn."""
    require(process, [(True, f"le serveur de développement de Werkzeug n'est pas un serveur de production : "
                             f"lancez « gunicorn '{wsgi}' » (voir docs/security.md)")])
