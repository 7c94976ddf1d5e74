"""Counting the partners a request reads from the store (issue 27's tests of what a change costs)."""

from __future__ import annotations

import pytest

from provisioning.store import memory, partner_rows


def count_partner_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SIRET of each partner put together from the store from now on — from its rows (SQL) or its document
    (the in-memory store) —, starting from nothing kept (a process keeps partners as read: store/snapshots.py)."""
    parsed: list[str] = []
    rows, whole = partner_rows.partner_from_rows, memory.partner_from_stored
    monkeypatch.setattr(partner_rows, "partner_from_rows",
                        lambda doc, *more: parsed.append(doc["siret"]) or rows(doc, *more))
    monkeypatch.setattr(memory, "partner_from_stored", lambda doc: parsed.append(doc["siret"]) or whole(doc))
    partner_rows.KEPT.clear()
    return parsed
