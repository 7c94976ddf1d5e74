"""Issue 32: the broker's variables (MCP_PROCONNECT_*) from ProConnect's discovery document, so that pointing the
realm at ProConnect's integration or production environment is one URL: `mcp-provisioning proconnect-env URL`
prints the lines of an environment file; the realm file's placeholders read them at import and at `realm apply`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlparse

import requests

from provisioning.errors import Transient, ValidationFailed, Violation

NEEDED = {"issuer": "ISSUER", "authorization_endpoint": "AUTHORIZATION_URL", "token_endpoint": "TOKEN_URL",
          "userinfo_endpoint": "USERINFO_URL", "jwks_uri": "JWKS_URL", "end_session_endpoint": "LOGOUT_URL"}


def env_from_discovery(doc: dict[str, Any], acr: str = "eidas1") -> dict[str, str]:
    """MCP_PROCONNECT_* from a discovery document; every endpoint must be there and in https (a `localhost`
    stand-in excepted), or nothing is given, each fault listed."""
    faults = []
    out: dict[str, str] = {}
    for key, name in NEEDED.items():
        value = doc.get(key)
        if not isinstance(value, str) or not value:
            faults.append(Violation("DECOUVERTE_INCOMPLETE", f"Le document de découverte n'a pas « {key} ».", key))
            continue
        url = urlparse(value)
        if url.scheme != "https" and url.hostname not in ("localhost", "127.0.0.1"):
            faults.append(Violation("DECOUVERTE_NON_HTTPS", f"« {key} » n'est pas en https : {value}", key))
            continue
        out[f"MCP_PROCONNECT_{name}"] = value
    if acr and acr not in (doc.get("acr_values_supported") or [acr]):
        faults.append(Violation("ACR_NON_PROPOSE", f"Le fournisseur ne propose pas le niveau « {acr} ».",
                                "acr_values_supported"))
    if faults:
        raise ValidationFailed(faults, "Variables ProConnect non produites : le document de découverte ne convient pas.")
    if acr:
        sep = "&" if "?" in out["MCP_PROCONNECT_AUTHORIZATION_URL"] else "?"
        out["MCP_PROCONNECT_AUTHORIZATION_URL"] += sep + urlencode({"acr_values": acr})
    return out


def fetch_discovery(url: str, timeout: float = 10.0) -> dict[str, Any]:
    try:
        r = requests.get(url, timeout=timeout)
        r.raise_for_status()
        doc = r.json()
    except (requests.RequestException, ValueError) as e:
        raise Transient(f"Document de découverte illisible à {url} : {e}") from e
    if not isinstance(doc, dict):
        raise Transient(f"Document de découverte illisible à {url} : pas un objet JSON")
    return doc
