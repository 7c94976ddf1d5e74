"""Issue 30 §5: an application's client secret rotated without a failed login. The instance is given the next
secret beside the current one (MCP_PORTAIL_CLIENT_SECRET_NEXT); Keycloak's client then gets it; logins go on (the
code exchange the old secret no longer passes is made with the next one), and so do token refreshes. An instance
without the next secret, as before, fails every login in that window: what the procedure avoids."""

from __future__ import annotations

import secrets
import socket

from sso_demo import portal
from sso_demo.auth import user_access_token
from sso_demo.config import AppConfig
from tests.browser.conftest import _serve
from tests.browser.helpers import login

OLD = "demo-only-portail-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_rotated_client_secret_fails_no_login_on_an_instance_given_the_next_one(stack, keycloak, new_page):
    new = secrets.token_urlsafe(32)
    port = _free_port()
    base = f"http://localhost:{port}"
    admin = stack.kc_admin
    [client] = admin.get("/clients", params={"clientId": "portail"})
    original = {"redirectUris": list(client["redirectUris"]), "secret": OLD}
    admin.put(f"/clients/{client['id']}", json={**client, "redirectUris": [*client["redirectUris"],
                                                                           f"{base}/auth/callback"]})
    cfg = AppConfig(client_id="portail", client_secret=OLD, client_secret_next=new, base_url=base,
                    issuer=keycloak.issuer, secret_key="test-rotation", portal_url=base,
                    cdap_url=stack.urls["cdap"], afas_url=stack.urls["afas"], api_url="http://127.0.0.1:9",
                    data_dir=str(stack.apps["portail"].config["MCP"].data_dir))
    app = portal.create_app(cfg)
    server = _serve(app, port)
    try:
        before = new_page()
        login(before, base + "/", "lea.petit", stack.ready_user("lea.petit"))  # the current secret
        assert before.url.startswith(base) and "Léa" in before.inner_text("main")

        [client] = admin.get("/clients", params={"clientId": "portail"})
        admin.put(f"/clients/{client['id']}", json={**client, "secret": new})  # Keycloak's side of the rotation

        after = new_page()
        login(after, base + "/", "lea.petit", stack.ready_user("lea.petit"))
        assert after.url.startswith(base) and "Léa" in after.inner_text("main"), after.url  # with the next one

        store = app.extensions["mcp_sessions"]
        [s] = [x for x in list(store._by_id.values()) if x.user["username"] == "lea.petit"][:1]
        old_token = s.access_token
        s.access_expires = 0  # as if it had expired: refreshed with the next secret
        with app.test_request_context("/"):
            from flask import g
            g.app_session = s
            assert user_access_token() not in (None, old_token)

        plain = new_page()  # the stack's portal has the old secret only: its logins fail in this window
        login(plain, stack.urls["portail"] + "/", "lea.petit", stack.ready_user("lea.petit"))
        assert not plain.url.startswith(stack.urls["portail"] + "/securite"), plain.url
        assert "connexion n" in plain.inner_text("body").lower(), plain.inner_text("body")[:300]
    finally:
        [client] = admin.get("/clients", params={"clientId": "portail"})
        admin.put(f"/clients/{client['id']}", json={**client, **original})
        server.shutdown()
