"""Pure parts of the applications: AFAS checks and rights, redirect safety, idle sessions."""

import time

import pytest

from sso_demo.afas import rules
from sso_demo.auth import safe_next
from sso_demo.sessions import SessionStore

ACT = {"jours_ouverture": 200, "capacite": 20, "enfants_inscrits": 60, "heures_realisees": 30000}
FIN = {"charges": 300000, "produits": 310000, "participations_familles": 40000}


def test_consistent_figures_raise_no_anomaly():
    assert rules.consistency_checks(ACT, FIN) == []


def test_each_check_names_its_anomaly():
    assert [a.code for a in rules.consistency_checks({**ACT, "heures_realisees": 40001}, None)] == \
        ["ACT_HEURES_SUPERIEURES_CAPACITE"]
    assert [a.code for a in rules.consistency_checks(None, {**FIN, "participations_familles": 310001})] == \
        ["FIN_PARTICIPATIONS_SUPERIEURES_PRODUITS"]
    assert [a.code for a in rules.consistency_checks(ACT, {**FIN, "charges": 30000})] == ["FIN_COUT_HORAIRE_ATYPIQUE"]
    assert rules.consistency_checks(ACT, {**FIN, "charges": 30000})[0].domain == "financier"


def test_parse_reports_every_field_at_once():
    values, errors = rules.parse(rules.ACTIVITY_FIELDS, {"jours_ouverture": "400", "capacite": "x", "enfants_inscrits": "3"})
    assert set(errors) == {"jours_ouverture", "capacite", "heures_realisees"}
    assert values["enfants_inscrits"] == 3


def test_profile_and_equipment_association_decide_who_may_act():
    roles = frozenset({rules.ROLE_ACTIVITY})
    assert rules.may_act(roles, "lea", rules.ROLE_ACTIVITY, {})  # nobody associated yet: any holder
    assert rules.may_act(roles, "lea", rules.ROLE_ACTIVITY, {"fournisseur-donnees-activite": ["lea"]})
    assert not rules.may_act(roles, "tom", rules.ROLE_ACTIVITY, {"fournisseur-donnees-activite": ["lea"]})
    assert not rules.may_act(roles, "lea", rules.ROLE_FINANCIAL, {})  # without the profile, never


def test_approval_needs_both_data_sets_and_every_anomaly_justified():
    assert rules.approval_refusals(ACT, FIN, 0, False) == []
    assert len(rules.approval_refusals(None, None, 2, False)) == 3
    assert rules.approval_refusals(ACT, FIN, 0, True) == ["La déclaration a déjà été transmise à la Caf."]


BYPASSES = [  # known open-redirect forms (OWASP, PortSwigger cheat sheets)
    "https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example", "javascript:alert(1)",
    "", None, "/\t/evil.example", "/ /evil.example", "\t//evil.example", " //evil.example", "/%2f/evil.example",
    "/%2F%2Fevil.example", "%2F%2Fevil.example", "/%5cevil.example", "/%255c%255cevil.example",
    "/%252f%252fevil.example", "/%0d%0aLocation:%20https://evil.example", "/\r\nLocation: https://evil.example",
    "/x\x00y", "/%00", "https:evil.example", "http:/evil.example", "/%09/evil.example", "/\u2028x",
    "/%25252f%25252fevil.example", "/" + "a" * 3000, "//%09/evil.example", "/.//evil.example/../..//evil",
]


@pytest.mark.parametrize("bad", BYPASSES)
def test_no_known_bypass_leaves_the_site_after_login(bad):
    assert safe_next(bad) == "/"


def test_local_paths_are_followed_after_login():
    assert safe_next("/equipements/ALSH-0001/2025?x=1") == "/equipements/ALSH-0001/2025?x=1"
    assert safe_next("/journal?page=2#haut") == "/journal?page=2#haut"
    assert safe_next("/recherche?q=%C3%A9t%C3%A9") == "/recherche?q=%C3%A9t%C3%A9"


def test_sessions_end_after_the_idle_timeout_and_by_keycloak_session():
    store = SessionStore(idle_timeout=1)
    s = store.create(user={"sub": "u1"}, kc_sid="kc-1", id_token="t", access_token="a")
    assert store.get(s.id) is s
    s.last_seen = time.time() - 2
    assert store.get(s.id) is None and store.get(s.id) is None
    s2 = store.create(user={"sub": "u1"}, kc_sid="kc-2", id_token="t", access_token="a")
    s3 = store.create(user={"sub": "u2"}, kc_sid="kc-3", id_token="t", access_token="a")
    assert store.drop_kc_session("kc-2") == 1
    assert store.get(s2.id) is None and store.get(s3.id) is s3
    assert store.drop_kc_session(None, "u2") == 1


def test_consoles_read_refusals_sent_as_problem_details():
    from sso_demo.portal.api_views import errors_of

    class Response:
        headers = {"Content-Type": "application/problem+json"}

        def json(self):
            return {"code": "validation_failed", "error_description": "Refusé.", "violations": [
                {"code": "SIRET_INVALIDE", "message": "Le SIRET…", "path": "partners[0].siret"}]}
    fields, general = errors_of(Response())
    assert fields == {"siret": 'Le SIRET… <small class="code">SIRET_INVALIDE</small>'} and general == []


def test_the_approval_lists_what_leaves_in_french_figures():
    """Issue 29 §3: « 90 000 », euros said, the anomalies and their justifications, and that it is final."""
    lines = rules.transmitted_lines({**ACT, "heures_realisees": 90000}, {**FIN, "charges": 1234567}, 2)
    assert "Heures enfants réalisées : 90\u202f000" in lines
    assert "Total des charges : 1\u202f234\u202f567,00\u00a0€" in lines
    assert "2 anomalie(s) de cohérence et leur justification" in lines
    assert lines[-1].startswith("Une fois transmise")
    assert rules.french_number(6) == "6" and rules.french_number(1000) == "1\u202f000"


@pytest.mark.parametrize(("typed", "stored"), [
    ("90 000,50", "90000.50"), ("90000.5", "90000.50"), ("90\u202f000 €", "90000.00"), ("0", "0.00"),
    ("6,81", "6.81"), ("1\u00a0234,5\u00a0€", "1234.50"),
])
def test_amounts_have_cents_and_are_read_as_french_people_type_them(typed, stored):
    """Issue 29 §3: amounts in whole euros only, shown as `90000` and `6.81`."""
    values, errors = rules.parse(rules.FINANCIAL_FIELDS, {"charges": typed, "produits": typed,
                                                          "participations_familles": "0"})
    assert errors == {} and values["charges"] == stored


@pytest.mark.parametrize("typed", ["1,234", "12.345", "abc", "-5", "1e3", "٣", "90 000,505"])
def test_a_typed_amount_that_is_not_one_says_what_was_typed_never_that_it_is_missing(typed):
    _, errors = rules.parse(rules.FINANCIAL_FIELDS, {"charges": typed, "produits": "1", "participations_familles": ""})
    assert f"« {typed[:30]} » n'est pas un montant en euros" in errors["charges"]
    assert "obligatoire" not in errors["charges"] and errors["participations_familles"].endswith("à renseigner.")


def test_amounts_are_shown_the_french_way_and_computed_to_the_cent():
    assert rules.french_amount(90000) == "90\u202f000,00\u00a0€" and rules.french_amount("6.81") == "6,81\u00a0€"
    assert rules.french_amount("1234567.5", euro=False) == "1\u202f234\u202f567,50"
    assert str(rules.hourly_cost({"heures_realisees": 3}, {"charges": "10.00"})) == "3.33"
    assert rules.hourly_cost({"heures_realisees": 0}, {"charges": "10"}) is None
    # old whole-euro values (ints) and new exact texts compare as amounts
    assert rules.consistency_checks(None, {"charges": 1, "produits": "100.00", "participations_familles": "100.01"})
    assert not rules.consistency_checks(None, {"charges": 1, "produits": 100, "participations_familles": "100.00"})
