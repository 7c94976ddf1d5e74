"""The service catalogue as the API describes it (GET /api/v1/catalogue, issue 28 §2): the menus, forms, profile
labels and caps are built from it, never from a copy. Read once and kept per process for a few minutes (a page costs no call while it is fresh); when the API does not answer, the last
copy read is used."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from flask import current_app

TTL_SECONDS = 300
RETRY_SECONDS = 15  # the API not answering: the pages keep the last copy and ask again this much later
_lock = threading.Lock()
_cache: dict[str, Any] = {"at": None, "services": None}


def services() -> list[dict[str, Any]]:
    with _lock:
        at, held = _cache["at"], _cache["services"]
        if at is not None and time.monotonic() - at < (TTL_SECONDS if held is not None else RETRY_SECONDS):
            return list(held or [])
    try:  # public, like the API's description: any application reads it, signed in or not
        r = requests.get(current_app.config["MCP"].api_url + "/api/v1/catalogue", timeout=10)
        answer = r.json()["services"] if r.status_code == 200 else None
    except (requests.RequestException, ValueError, KeyError):
        answer = None
    with _lock:
        _cache["at"] = time.monotonic()
        if answer is not None:
            _cache["services"] = answer
        return list(_cache["services"] or [])


def remember(answer: list[dict[str, Any]]) -> None:
    """As if just read from the API (tests)."""
    with _lock:
        _cache["at"], _cache["services"] = time.monotonic(), answer


def forget() -> None:
    """The next page reads the catalogue again (tests, a deploy that changed it)."""
    with _lock:
        _cache["at"] = _cache["services"] = None


def service(code: str) -> dict[str, Any] | None:
    return next((s for s in services() if s["code"] == code), None)


def roles(s: dict[str, Any]) -> set[str]:
    """The roles of a service as tokens name them (« afas:AFAS-Habiliter »)."""
    return {f"{s['client']}:{g['role']}" for g in s["groups"]} | {f"{s['client']}:{p['code']}" for p in s["profiles"]}


def profiles() -> dict[str, dict[str, Any]]:
    """Every profile of every service, by code: its label, cap, service."""
    return {p["code"]: {**p, "service": s["code"]} for s in services() for p in s["profiles"]}


def profile_label(code: str) -> str:
    """A profile as people read it (« Fournisseur de données d'activité »), its code when the catalogue is not at
    hand."""
    found = profiles().get(code)
    label = found["label"] if found else code
    return label[:1].upper() + label[1:]


def nav(principal: Any) -> list[tuple[str, str]]:
    """(code, address) of the services this person holds a role of, in the catalogue's order."""
    return [(s["code"], s["url"]) for s in services() if any(principal.has(r) for r in roles(s))]
