"""Calls to the provisioning API on the user's behalf (their own token: the API applies its own rules)."""

from __future__ import annotations

import requests
from flask import current_app

from provisioning import logs
from sso_demo.auth import user_access_token


class ApiUnavailable(Exception):
    pass


def call(method: str, path: str, headers_extra: dict | None = None, **kw) -> requests.Response:
    token = user_access_token()
    if token is None:
        raise ApiUnavailable("session expirée")
    try:
        # the page's request id goes on to the API (issue 30 §2): one id from the click to Keycloak and the mail
        return requests.request(method, current_app.config["MCP"].api_url + path, timeout=60,
                                headers={"Authorization": f"Bearer {token}", logs.HEADER: logs.current() or logs.new_id(),
                                         **(headers_extra or {})}, **kw)
    except requests.RequestException as e:
        raise ApiUnavailable(str(e)) from e


def call_public(method: str, path: str, **kw) -> requests.Response:
    """The API's public operations (issue 31 §1: an organisation asking for access has no account)."""
    try:
        return requests.request(method, current_app.config["MCP"].api_url + path, timeout=30,
                                headers={logs.HEADER: logs.current() or logs.new_id()}, **kw)
    except requests.RequestException as e:
        raise ApiUnavailable(str(e)) from e
