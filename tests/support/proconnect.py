"""The ProConnect stand-in (realm `proconnect` of the test Keycloak, realm-config/standin/) as the tests use it:
identities made through its admin API, and what our realm holds, to compare before and after a refused login."""

from __future__ import annotations

from devstack.admin import AdminSession

STANDIN = "/admin/realms/proconnect"


def identity(admin: AdminSession, username: str, email: str, siret: str, *, amr: tuple[str, ...] = ("pwd",),
             first: str = "Prénom", last: str = "Nom") -> str:
    """A ProConnect identity claiming `email` and `siret` (raw, as ProConnect would send them); its password."""
    for old in admin.get(f"{STANDIN}/users", params={"username": username, "exact": "true"}):
        admin.delete(f"{STANDIN}/users/{old['id']}")
    password = f"ProConnect-{username}-2026!"
    admin.post(f"{STANDIN}/users", json={
        "username": username, "enabled": True, "firstName": first, "lastName": last,
        "attributes": {"email_proconnect": [email], "siret": [siret], "siren": [siret[:9]], "uid": [f"pc-{username}"],
                       "amr": list(amr)},
        "credentials": [{"type": "password", "value": password, "temporary": False}]})
    return password


def standin_sessions(admin: AdminSession, username: str) -> list[dict]:
    found = admin.get(f"{STANDIN}/users", params={"username": username, "exact": "true"})
    return admin.get(f"{STANDIN}/users/{found[0]['id']}/sessions") if found else []


def our_realm(admin: AdminSession) -> tuple[int, dict[str, list[str]]]:
    """How many accounts our realm holds, and every account's identity-provider links: a refused ProConnect
    login must change neither."""
    users = admin.get("/users", params={"briefRepresentation": "true", "max": 1000})
    links = {u["username"]: sorted(x["identityProvider"] for x in admin.get(f"/users/{u['id']}/federated-identity"))
             for u in users}
    return admin.get("/users/count"), {k: v for k, v in links.items() if v}


def links_of(admin: AdminSession, username: str) -> list[dict]:
    u = admin.get("/users", params={"username": username, "exact": "true"})[0]
    return admin.get(f"/users/{u['id']}/federated-identity")


def log_in(page, start_url: str, username: str, password: str) -> None:
    """From a page of ours to our login page, « S'identifier avec ProConnect », the stand-in's own form."""
    page.goto(start_url)
    page.click("text=S'identifier avec ProConnect")
    page.wait_for_url("**/realms/proconnect/**")
    page.wait_for_selector("#username")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#kc-login")
    page.wait_for_load_state()
