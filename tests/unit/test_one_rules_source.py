"""Issue 26 §6: one rules source. The same R8 cases through every entry point that grants — the API's use case,
the desired-state file, the CSV import — give the same answer and the same code. The CSV import counted a grant
a review had suspended against the caps (a successor approver refused by CSV, accepted by the API), and let the
suspended holder take his profile back while a successor held it."""

from __future__ import annotations

import pytest
import yaml

from provisioning.desired_file import load
from provisioning.domain.model import Group, Profile, Service
from provisioning.errors import ProvisioningError, ValidationFailed
from tests.unit.factories import TODAY, example_data, registry
from tests.unit.services import make_service
from tests.unit.test_desired_state_files import NATIONAL

SIRET, CONV = "12345678900015", "CONV-751-2026-0001"
JEANNE = "jeanne.dupont;Dupont;Jeanne;jeanne.dupont@hirondelles.example"
MARC = "marc.martin;Martin;Marc;marc.martin@hirondelles.example"
HEADER = "identifiant;nom;prenom;courriel;convention;groupes;profils\n"


def _afas(data: dict) -> list[dict]:
    return data["partners"][0]["conventions"][0]["bulletins"][0]["members"]


def _start(approver_suspended: bool, successor: bool) -> dict:
    data = example_data()
    members = _afas(data)
    marc = next(m for m in members if m["identifiant"] == "marc.martin")
    if approver_suspended:  # a review's deadline passed: the grant stays, suspended, holding no slot
        marc["suspended"] = True
        data["partners"][0]["equipments"][0]["assignments"]["approbateur"] = []
    if successor:
        members.append({"identifiant": "jeanne.dupont", "groups": ["AFAS Déclarer"], "profiles": ["approbateur"]})
    return data


def _answer(run) -> str:
    try:
        run()
    except ProvisioningError as e:
        return ",".join(sorted({v.code for v in getattr(e, "violations", [])} or {e.code}))
    return "accepté"


def _by_api(engine, data: dict, who: str) -> str:
    svc = make_service(engine, reconcile_mode="worker")
    svc.import_registry(NATIONAL, registry(data))
    return _answer(lambda: svc.set_membership(NATIONAL, SIRET, CONV, Service.AFAS, who, {Group.AFAS_DECLARER},
                                              {Profile.APPROBATEUR}))


def _by_csv(engine, data: dict, who: str) -> str:
    svc = make_service(engine, reconcile_mode="worker")
    svc.import_registry(NATIONAL, registry(data))
    line = {"jeanne.dupont": JEANNE, "marc.martin": MARC}[who] + f";{CONV};AFAS Déclarer;approbateur\n"

    def run(apply: bool):
        plan = svc.import_users(NATIONAL, SIRET, (HEADER + line).encode(), apply=apply)
        refusals = [v for outcome in plan.outcomes for v in outcome.refusals]
        if refusals:
            raise ValidationFailed(refusals)
    preview = _answer(lambda: run(False))  # what the person sees before applying
    assert _answer(lambda: run(True)) == preview
    return preview


def _by_file(engine, data: dict, who: str) -> str:
    members = _afas(data)
    members[:] = [m for m in members if m["identifiant"] != who] + [
        {"identifiant": who, "groups": ["AFAS Déclarer"], "profiles": ["approbateur"]}]
    return _answer(lambda: load(yaml.safe_dump(data, allow_unicode=True), TODAY))


CASES = [  # (the approver suspended by a review, a successor already named, who is granted approver, answer)
    pytest.param(True, False, "jeanne.dupont", "accepté", id="a successor takes the suspended approver's slot"),
    pytest.param(False, False, "jeanne.dupont", "AFAS_TROP_D_APPROBATEURS", id="a second approver"),
    pytest.param(True, True, "marc.martin", "AFAS_TROP_D_APPROBATEURS",
                 id="the suspended approver back while his successor holds it"),
]


@pytest.mark.parametrize("suspended, successor, who, answer", CASES)
@pytest.mark.parametrize("entry", [_by_api, _by_csv, _by_file], ids=["api", "csv-import", "file"])
def test_every_entry_point_counts_the_caps_the_same_way(use_case_store, entry, suspended, successor, who, answer):
    assert entry(use_case_store, _start(suspended, successor), who) == answer
