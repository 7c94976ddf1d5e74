"""Issue 29 §2: the report to the Caf (R9) after a bulk change lists each person and what changed for her — a
CSV import of three people reads as three lines under the import, not « import CSV de 3 ligne(s) » alone."""

from __future__ import annotations

from provisioning.services import PARTNER_ADMIN, Actor
from tests.unit.factories import example_data, registry
from tests.unit.services import make_service
from tests.unit.test_desired_state_files import NATIONAL

SIRET = "12345678900015"
JEANNE = Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=SIRET)


def test_the_cafs_report_after_a_csv_import_names_each_person_and_what_she_got(use_case_store):
    svc = make_service(use_case_store)
    svc.import_registry(NATIONAL, registry(example_data()))
    svc.deliver_notifications()
    svc.notifier.sent.clear()
    csv = ("identifiant;nom;prenom;courriel;convention;groupes;profils\n"
           "zoe.martin;Martin;Zoé;zoe.martin@hirondelles.example;;CDAP Consulter;\n"
           "hugo.blanc;Blanc;Hugo;hugo.blanc@hirondelles.example;;AFAS Déclarer;fournisseur-donnees-financieres\n"
           "paul.bernard;Bernard;Paul;paul.bernard@hirondelles.example;;CDAP Consulter;\n").encode()
    plan = svc.import_users(JEANNE, SIRET, csv, apply=True)
    assert not any(o.refused for o in plan.outcomes), [o.as_dict() for o in plan.outcomes]
    svc.deliver_notifications()
    [report] = [body for to, subject, body in svc.notifier.sent if to == "habilitations@caf75.example"]
    lines = report.splitlines()
    assert any(line.startswith("- Centre de loisirs Les Hirondelles : import CSV de 3 ligne(s)") for line in lines)
    zoe = next(line for line in lines if "zoe.martin" in line)
    hugo = next(line for line in lines if "hugo.blanc" in line)
    paul = next(line for line in lines if "paul.bernard" in line)
    assert zoe.startswith("  – zoe.martin : ") and "CDAP Consulter" in zoe
    assert "AFAS Déclarer" in hugo and "fournisseur-donnees-financieres" in hugo
    assert "CDAP Consulter" in paul  # an existing person's new grant
