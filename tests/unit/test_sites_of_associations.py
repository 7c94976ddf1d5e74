"""Issue 29 §3: AFAS Habiliter associates people per equipment **and per site** (the seed: « associer les
fournisseurs … aux équipements, services et/ou lieux d'implantation »). Someone associated works for every
site unless sites are chosen for her; a site the equipment does not have, or a person not associated, is
refused with nothing written; the Caf cannot remove a site someone works for without being told who."""

from __future__ import annotations

import pytest

from provisioning.api import create_app
from provisioning.domain.model import EquipmentType, Profile
from provisioning.errors import ValidationFailed
from provisioning.services import DELEGATE, Actor
from tests.unit.factories import example_data, registry
from tests.unit.services import make_service
from tests.unit.test_api_usecases import Verifier
from tests.unit.test_desired_state_files import NATIONAL

A = "12345678900015"
SITES = ["École Jules-Ferry, 75020 Paris", "Gymnase des Lilas, 75020 Paris"]
URL = f"/api/v1/partners/{A}/equipments/ALSH-0001/sites"
ACTORS = {
    "marc": Actor("marc.martin", frozenset({DELEGATE, "afas:AFAS-Habiliter"}), partner=A),
    "lea": Actor("lea.petit", frozenset({"afas:fournisseur-donnees-activite"}), partner=A),
}


@pytest.fixture
def svc(use_case_store):
    s = make_service(use_case_store)
    s.import_registry(NATIONAL, registry(example_data()))
    s.declare_equipment(NATIONAL, A, "ALSH-0001", "Accueil de loisirs", EquipmentType.ALSH, SITES)
    s.set_assignments(NATIONAL, A, "ALSH-0001", {Profile.ACTIVITE: ["lea.petit"], Profile.FINANCIER: ["paul.bernard"],
                                                 Profile.APPROBATEUR: ["marc.martin"]})
    return s


def _equipment(svc):
    return next(e for e in svc.registry().partner(A).equipments if e.code == "ALSH-0001")


def _api(svc):
    return create_app(svc, Verifier(ACTORS), Verifier(ACTORS)).test_client()


def _h(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {who}"}


def test_habiliter_chooses_sites_per_person_and_every_site_means_the_whole_equipment(svc):
    api = _api(svc)
    r = api.put(URL, headers=_h("marc"), json={"lea.petit": [SITES[1]], "paul.bernard": SITES})
    assert r.status_code == 200, r.get_json()
    [doc] = [e for e in r.get_json()["partner"]["equipments"] if e["code"] == "ALSH-0001"]
    assert doc["sites_of"] == {"lea.petit": [SITES[1]]}  # Paul has every site: the whole equipment, nothing stored
    assert _equipment(svc).sites_of == {"lea.petit": [SITES[1]]}
    assert api.put(URL, headers=_h("marc"), json={"lea.petit": [SITES[1]]}).get_json()["changed"] is False
    entry = svc.audit(NATIONAL, A, limit=1)[0]
    assert entry["action"] == "set-sites" and SITES[1] in str(entry)
    r = api.put(URL, headers=_h("marc"), json={})  # back to every site for everyone
    assert r.status_code == 200 and _equipment(svc).sites_of == {}


def test_a_site_the_equipment_lacks_or_a_person_not_associated_is_refused_and_nothing_written(svc):
    api = _api(svc)
    r = api.put(URL, headers=_h("marc"), json={"lea.petit": ["Piscine Molitor"], "jeanne.dupont": [SITES[0]]})
    assert r.status_code == 422
    codes = {(v["code"], v["path"].split("sites_of.")[-1]) for v in r.get_json()["violations"]}
    assert codes == {("LIEU_INCONNU", "lea.petit"), ("LIEU_SANS_ASSOCIATION", "jeanne.dupont")}
    assert "Piscine Molitor" in str(r.get_json()) and _equipment(svc).sites_of == {}
    assert api.put(URL, headers=_h("marc"), json={"lea.petit": [SITES[0], SITES[0]]}).status_code == 422
    assert api.put(URL, headers=_h("lea"), json={"lea.petit": [SITES[0]]}).status_code == 403  # not Habiliter
    assert _equipment(svc).sites_of == {}


def test_someone_no_longer_associated_loses_her_sites_and_the_caf_is_told_who_works_on_a_removed_site(svc):
    svc.set_sites(NATIONAL, A, "ALSH-0001", {"lea.petit": [SITES[0]], "paul.bernard": [SITES[1]]})
    svc.set_assignments(NATIONAL, A, "ALSH-0001", {Profile.FINANCIER: ["paul.bernard"],
                                                   Profile.APPROBATEUR: ["marc.martin"]})  # Léa no longer
    assert _equipment(svc).sites_of == {"paul.bernard": [SITES[1]]}
    with pytest.raises(ValidationFailed) as refused:  # the Caf removes the gymnasium Paul works for
        svc.declare_equipment(NATIONAL, A, "ALSH-0001", "Accueil de loisirs", EquipmentType.ALSH, SITES[:1])
    [v] = refused.value.violations
    assert v.code == "LIEU_INCONNU" and "paul.bernard" in v.message and SITES[1] in v.message
    assert _equipment(svc).sites == SITES  # nothing written


def test_sites_survive_the_store_and_the_desired_state_file(svc):
    from provisioning.desired_file import partner_from_dict, partner_to_dict
    svc.set_sites(NATIONAL, A, "ALSH-0001", {"lea.petit": [SITES[0]]})
    p = svc.registry().partner(A)
    assert partner_from_dict(partner_to_dict(p)).equipments[0].sites_of == {"lea.petit": [SITES[0]]}
    doc = partner_to_dict(p)
    doc["equipments"][0].pop("sites_of")  # a document of before: everyone on every site
    assert partner_from_dict(doc).equipments[0].sites_of == {}


def test_a_review_withdrawing_her_profile_takes_her_sites_too(svc):
    """Found by attacking the feature: an access review's withdrawal drops the person's associations; her sites
    stayed behind, the partner broke a rule, and the reviewer's decision was refused."""
    from datetime import timedelta

    from provisioning.domain.reviews import Verdict
    from provisioning.services import CAF_ADMIN, PARTNER_ADMIN
    svc.set_sites(NATIONAL, A, "ALSH-0001", {"lea.petit": [SITES[0]]})
    opened = svc.open_review(Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751"), "751",
                             svc.now() + timedelta(days=30), [A])
    jeanne = Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=A)
    svc.decide(jeanne, opened["id"], f"{A}/CONV-751-2026-0001/AFAS/lea.petit", Verdict.REVOKE)
    e = _equipment(svc)
    assert all("lea.petit" not in ids for ids in e.assignments.values()) and e.sites_of == {}


def test_another_partners_habiliter_member_can_neither_set_nor_learn_the_sites(svc):
    from provisioning.errors import ProvisioningError
    other = Actor("x.habiliter", frozenset({DELEGATE, "afas:AFAS-Habiliter"}), partner="98765432100015")
    with pytest.raises(ProvisioningError) as refused:
        svc.set_sites(other, A, "ALSH-0001", {"lea.petit": [SITES[0]]})
    assert refused.value.status in (403, 404) and _equipment(svc).sites_of == {}


def test_hostile_bodies_and_a_stale_version_write_nothing(svc):
    """Attacks: 10,000 characters, markup, control and invisible characters, and two Habiliter members editing at
    once (the second with the version she read) — each refused, nothing stored."""
    api = _api(svc)
    refused = [api.put(URL, headers=_h("marc"), json=body).status_code for body in (
        {"lea.petit": ["x" * 10_000]},
        {"<script>alert(1)</script>": [SITES[0]]},
        {"lea.petit": [SITES[0] + "\u200b"]},
        {"lea.petit": ["École\u0007"]},
        {"lea.petit": "École Jules-Ferry"},
    )]
    assert all(s in (400, 422) for s in refused), refused
    assert _equipment(svc).sites_of == {}
    version = api.get(f"/api/v1/partners/{A}", headers=_h("marc")).headers["ETag"]
    assert api.put(URL, headers={**_h("marc"), "If-Match": version}, json={"lea.petit": [SITES[0]]}).status_code == 200
    stale = api.put(URL, headers={**_h("marc"), "If-Match": version}, json={"lea.petit": [SITES[1]]})
    assert stale.status_code in (409, 412), stale.status_code
    assert _equipment(svc).sites_of == {"lea.petit": [SITES[0]]}
