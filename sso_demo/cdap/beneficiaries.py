"""Synthetic beneficiaries for the CDAP demo, so that a partner created today finds people of its territory.

Generated deterministically per Caf with Faker's fr_FR provider seeded by the Caf code (the same Caf always
gives the same people, on every machine), and shared out between the Caf's partners by a hash of (partner,
number): each partner serves about half of its Caf's beneficiaries, and a number it does not serve looks
exactly like an unknown one. The hand-written demo file (data/cdap_allocataires.json) comes first.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from faker import Faker

DATA = Path(__file__).resolve().parent.parent / "data" / "cdap_allocataires.json"
PER_CAF = 400


def _prefix(caf: str) -> str:
    """The Caf's three digits (Corsica's 2A/2B and any other code: three digits derived from it)."""
    return caf if caf.isdigit() and len(caf) == 3 else str(100 + int(hashlib.sha256(caf.encode()).hexdigest(), 16) % 900)


@lru_cache(maxsize=128)
def of_caf(caf: str) -> tuple[dict, ...]:
    """The Caf's synthetic beneficiaries; numbers CAF + 9 + five digits (never those of the demo file)."""
    fake = Faker("fr_FR")
    fake.seed_instance(f"cdap-{caf}")
    people = []
    for i in range(PER_CAF):
        people.append({"numero": f"{_prefix(caf)}9{i:05d}", "nom": fake.last_name(), "prenom": fake.first_name(),
                       "commune": fake.city(), "enfants": fake.random_int(0, 5),
                       "quotient_familial": fake.random_int(300, 2500, step=10)})
    return tuple(people)


def serves(partner: str, numero: str) -> bool:
    return int(hashlib.sha256(f"{partner}:{numero}".encode()).hexdigest(), 16) % 2 == 0


@lru_cache(maxsize=1)
def _demo_file() -> tuple[dict, ...]:
    return tuple(json.loads(DATA.read_text(encoding="utf-8")))


def find(partner: str, caf: str | None, numero: str) -> dict | None:
    """The beneficiary `numero` if this partner serves them (demo file first, then its Caf's)."""
    for x in _demo_file():
        if x["numero"] == numero:
            return x if partner in x["partenaires"] else None
    if caf:
        for x in of_caf(caf):
            if x["numero"] == numero:
                return x if serves(partner, numero) else None
    return None


def examples(partner: str, caf: str | None, count: int = 3) -> list[str]:
    """A few numbers this partner serves, shown on the demo's search page (it is synthetic data)."""
    mine = [x["numero"] for x in _demo_file() if partner in x["partenaires"]]
    if caf:
        mine += [x["numero"] for x in of_caf(caf) if serves(partner, x["numero"])]
    return mine[:count]
