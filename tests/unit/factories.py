"""Small registries for unit tests, built from the shipped example so tests follow the real format."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path

import yaml

from provisioning.desired_file import load

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "desired-state.yaml"
TODAY = date(2026, 11, 27)


def example_data() -> dict:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def registry(data: dict | None = None, today: date = TODAY):
    return load(yaml.safe_dump(data if data is not None else example_data(), allow_unicode=True), today)


def afas_members(data: dict) -> list[dict]:
    return data["partners"][0]["conventions"][0]["bulletins"][0]["members"]


def add_user(data: dict, ident: str, partner: int = 0) -> None:
    data["partners"][partner]["users"].append(
        {"identifiant": ident, "first_name": "Prénom", "last_name": "Nom", "email": f"{ident}@x.example"})


def second_partner(data: dict) -> dict:
    p = copy.deepcopy(data["partners"][0])
    p.update(siret="98765432100015", name="Mairie de Sainte-Foy")
    for u in p["users"]:
        u["identifiant"] = "b." + u["identifiant"]
        u["email"] = "b." + u["email"]
    p["administrator"] = "b." + p["administrator"]
    p["delegates"] = ["b." + d for d in p["delegates"]]
    for e in p["equipments"]:
        e["assignments"] = {k: ["b." + x for x in v] for k, v in e["assignments"].items()}
    for c in p["conventions"]:
        c["number"] = "CONV-751-2026-0002"
        for b in c["bulletins"]:
            for m in b["members"]:
                m["identifiant"] = "b." + m["identifiant"]
    data["partners"].append(p)
    return p


def add_caf_692(data: dict) -> None:
    """A second Caf (Lyon) with its administrator caf.lyon; the file becomes a whole-registry one."""
    data["scope"] = "all"
    data["cafs"].append({"code": "692", "name": "Caf du Rhône", "habilitation_mailbox": "habilitations@caf69.example",
                         "administrators": [{"identifiant": "caf.lyon", "first_name": "Louis", "last_name": "Roche",
                                             "email": "louis.roche@caf69.example"}]})
