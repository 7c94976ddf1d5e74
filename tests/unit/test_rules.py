"""Each habilitation rule: its stable code, and that the example registry breaks none."""

from datetime import date, datetime

import pytest

from provisioning.domain.model import CONTRACT_CONTACTS, Contact, Convention, ConventionStatus, Service, ServiceContract
from provisioning.domain.rules import service_is_convened, transition
from provisioning.errors import ValidationFailed
from tests.unit.factories import TODAY, add_user, afas_members, example_data, registry, second_partner


def codes(data, today=TODAY) -> list[str]:
    with pytest.raises(ValidationFailed) as e:
        registry(data, today)
    return [v.code for v in e.value.violations]


def test_the_example_registry_is_valid():
    reg = registry()
    assert reg.partners[0].name == "Centre de loisirs Les Hirondelles"


def test_three_activity_providers_on_a_bulletin_are_refused():
    d = example_data()
    for who in ("x.un", "x.deux"):
        add_user(d, who)
        afas_members(d).append({"identifiant": who, "groups": ["AFAS Déclarer"],
                                "profiles": ["fournisseur-donnees-activite"]})
    assert codes(d) == ["AFAS_TROP_DE_FOURNISSEURS_ACTIVITE"]


def test_two_approvers_are_refused_but_two_financial_providers_are_fine():
    d = example_data()
    add_user(d, "x.fin")
    afas_members(d).append({"identifiant": "x.fin", "groups": ["AFAS Déclarer"],
                            "profiles": ["fournisseur-donnees-financieres"]})
    registry(d)  # 2 financial providers: allowed
    add_user(d, "x.appro")
    afas_members(d).append({"identifiant": "x.appro", "groups": ["AFAS Déclarer"], "profiles": ["approbateur"]})
    assert codes(d) == ["AFAS_TROP_D_APPROBATEURS"]


def test_caps_also_hold_per_equipment():
    d = example_data()
    d["partners"][0]["equipments"][0]["assignments"]["approbateur"] = ["marc.martin", "lea.petit"]
    assert "AFAS_TROP_D_APPROBATEURS" in codes(d)


def test_assignment_to_equipment_needs_the_profile_on_the_bulletin():
    d = example_data()
    d["partners"][0]["equipments"][0]["assignments"]["fournisseur-donnees-activite"].append("paul.bernard")
    assert codes(d) == ["ASSOCIATION_SANS_PROFIL"]


def test_only_alsh_declare_in_afas():
    d = example_data()
    d["partners"][0]["equipments"][0]["type"] = "EAJE"
    assert codes(d) == ["EQUIPEMENT_HORS_AFAS"]


def test_a_person_holds_one_to_three_profiles():
    d = example_data()
    afas_members(d)[0]["profiles"] = []
    # lea.petit also stays assigned to the equipment as activity provider, which she no longer is
    assert codes(d) == ["AFAS_NOMBRE_DE_PROFILS", "ASSOCIATION_SANS_PROFIL"]


def test_profiles_need_the_declarer_group():
    d = example_data()
    afas_members(d)[0]["groups"] = ["AFAS Habiliter"]
    assert "PROFIL_SANS_GROUPE_DECLARER" in codes(d)


def test_habiliter_only_from_its_opening_date():
    d = example_data()
    d["scope"] = "all"  # national settings live in a whole-registry file
    d["settings"] = {"afas_habiliter_opening": date(2027, 1, 1)}
    assert codes(d) == ["AFAS_HABILITER_PAS_ENCORE_OUVERT"]
    registry(d, today=date(2027, 1, 1))  # from that day on it is allowed


def test_a_user_belongs_to_one_partner_only():
    d = example_data()
    p2 = second_partner(d)
    p2["users"].append(dict(d["partners"][0]["users"][2], email="autre@x.example"))
    assert codes(d) == ["IDENTIFIANT_EN_DOUBLE"]


def test_bulletin_members_must_be_users_of_the_partner():
    d = example_data()
    second_partner(d)
    afas_members(d)[0]["identifiant"] = "b.lea.petit"
    found = codes(d)
    assert "MEMBRE_HORS_PARTENAIRE" in found


def test_a_delegate_acts_only_within_the_partner_that_delegated():
    d = example_data()
    second_partner(d)
    d["partners"][0]["delegates"] = ["b.marc.martin"]
    assert codes(d) == ["DELEGUE_HORS_PARTENAIRE"]


def test_emails_are_unique():
    d = example_data()
    d["partners"][0]["users"][1]["email"] = d["partners"][0]["users"][0]["email"].upper()
    assert codes(d) == ["COURRIEL_EN_DOUBLE"]


def test_one_bulletin_per_service_per_convention():
    d = example_data()
    conv = d["partners"][0]["conventions"][0]
    conv["bulletins"].append({"service": "CDAP", "members": []})
    assert codes(d) == ["BULLETIN_EN_DOUBLE"]


def test_every_violation_is_reported_at_once_with_its_line():
    d = example_data()
    d["partners"][0]["siret"] = "123"
    afas_members(d)[0]["profiles"] = []
    d["partners"][0]["users"][0]["email"] = "pas-un-courriel"
    with pytest.raises(ValidationFailed) as e:
        registry(d)
    found = {v.code for v in e.value.violations}
    assert {"SIRET_INVALIDE", "AFAS_NOMBRE_DE_PROFILS", "COURRIEL_INVALIDE"} <= found
    assert all(v.line for v in e.value.violations)


def test_schema_faults_point_at_their_line():
    text = "version: 1\ncafs: []\npartners:\n  - siret: '12345678900015'\n    name: X\n    caf: '751'\n    colour: blue\n"
    with pytest.raises(ValidationFailed) as e:
        from provisioning.desired_file import load
        load(text, TODAY)
    unknown = [v for v in e.value.violations if v.code == "SCHEMA_CHAMP_INCONNU"]
    assert unknown and unknown[0].line == 7


def test_service_needs_an_active_convention_with_its_bulletin():
    reg = registry()
    p = reg.partners[0]
    assert service_is_convened(p, Service.AFAS) == []
    p.conventions[0].status = ConventionStatus.SUSPENDED
    assert [v.code for v in service_is_convened(p, Service.AFAS)] == ["SERVICE_NON_CONVENTIONNE"]
    p.conventions[0].status = ConventionStatus.ACTIVE
    p.conventions[0].bulletins = [b for b in p.conventions[0].bulletins if b.service != Service.CDAP]
    assert [v.code for v in service_is_convened(p, Service.CDAP)] == ["SERVICE_NON_CONVENTIONNE"]


def test_convention_lifecycle_is_dated_and_refuses_illegal_moves():
    c = Convention("C-1")
    at = datetime(2026, 11, 27, 10, 0)
    assert transition(c, ConventionStatus.ACTIVE, "caf.admin", at)[0].code == "TRANSITION_INTERDITE"
    assert c.status is ConventionStatus.REQUESTED and c.history == []
    assert transition(c, ConventionStatus.PREPARED, "caf.admin", at) == []
    refused = transition(c, ConventionStatus.SIGNED_BY_PARTNER, "caf.admin", at)  # R4: an incomplete contract
    assert [v.code for v in refused] == ["CONTRAT_INCOMPLET"] and c.status is ConventionStatus.PREPARED
    assert "le référent Cnil de la Caf, la procédure d'incident" in refused[0].message
    c.contract = ServiceContract(**{role: Contact("Nom", "n@exemple.fr") for role in CONTRACT_CONTACTS},
                                 incident_procedure="Appeler la Caf.")
    c.contract.caf_cnil_referent = Contact("Nom", "")  # a contact without a mail address is not enough
    assert "référent Cnil de la Caf" in transition(c, ConventionStatus.SIGNED_BY_PARTNER, "caf.admin", at)[0].message
    c.contract.caf_cnil_referent = Contact("Nom", "n@exemple.fr")
    for step in (ConventionStatus.SIGNED_BY_PARTNER, ConventionStatus.SIGNED_BY_CAF,
                 ConventionStatus.ACTIVE, ConventionStatus.SUSPENDED, ConventionStatus.ACTIVE,
                 ConventionStatus.TERMINATED):
        assert transition(c, step, "caf.admin", at) == []
    assert [h.status for h in c.history][-1] is ConventionStatus.TERMINATED
    assert transition(c, ConventionStatus.ACTIVE, "caf.admin", at)[0].code == "TRANSITION_INTERDITE"


# --- formats and bounds (issue 10: every input checked at the door) -----------------------------------

from provisioning.domain.rules import siret_is_valid  # noqa: E402


@pytest.mark.parametrize("siret, valid", [
    ("12345678900015", True),
    ("12345678900017", False),              # bad Luhn key
    ("1234567890001", False),               # 13 digits
    ("12345678900015\n", False),            # trailing newline (a `$` pattern let it through)
    ("١٢٣٤٥٦٧٨٩٠٠٠١٥", False),               # non-ASCII digits (Arabic-Indic)
    ("１２３４５６７８９０００１５", False),     # full-width digits
    ("35600000000001", True),               # La Poste: digit sum a multiple of 5, not Luhn
    ("35600000000002", False),
    ("35600000000014", False),              # Luhn-valid, but La Poste follows its own rule
])
def test_a_siret_is_fourteen_ascii_digits_with_a_valid_key(siret, valid):
    assert siret_is_valid(siret) is valid


def test_a_bad_siret_is_refused_in_a_file():
    d = example_data()
    d["partners"][0]["siret"] = "12345678900017"
    assert codes(d) == ["SIRET_INVALIDE"]


@pytest.mark.parametrize("ident", ["lea.petit\n", "LEA", "léa.petit", "ab", "x" * 65, "lea petit"])
def test_identifiants_are_a_full_match_on_ascii(ident):
    d = example_data()
    add_user(d, "placeholder")
    d["partners"][0]["users"][-1]["identifiant"] = ident
    assert "IDENTIFIANT_INVALIDE" in codes(d)


@pytest.mark.parametrize("name, code", [
    ("Jean<script>", "NOM_CARACTERE_INTERDIT"),
    ("Jean$", "NOM_CARACTERE_INTERDIT"),
    ("Marie (Anne)", "NOM_CARACTERE_INTERDIT"),
    ("Jean\u0000", "NOM_CARACTERE_INTERDIT"),
    ("Jean\nDupont", "NOM_CARACTERE_INTERDIT"),
    ("   ", "NOM_VIDE"),
    ("x" * 101, "NOM_TROP_LONG"),
    ("x" * 10_000, "NOM_TROP_LONG"),
])
def test_person_names_follow_keycloaks_user_profile(name, code):
    d = example_data()
    d["partners"][0]["users"][1]["first_name"] = name
    assert codes(d) == [code]


@pytest.mark.parametrize("name", ["Jean\u200bDupont", "Jean\u200d", "\u202eliciA", "Jean\u00adne", "Léa\u2066",
                                  "\ufeffMarc"])
def test_invisible_and_formatting_characters_are_refused_in_person_names(name):
    """Issue 25: zero-width spaces and joiners, bidi overrides and isolates, soft hyphens (Unicode category
    Cf) make two names that look alike differ, or one read backwards."""
    d = example_data()
    d["partners"][0]["users"][1]["last_name"] = name
    assert codes(d) == ["NOM_CARACTERE_INVISIBLE"]
    with pytest.raises(ValidationFailed) as e:
        registry(d)
    assert "U+" in e.value.violations[0].message and "retapez-le" in e.value.violations[0].message


@pytest.mark.parametrize("where", ["partner", "equipment", "site"])
def test_invisible_characters_are_refused_in_every_human_text(where):
    d = example_data()
    p = d["partners"][0]
    hostile = "Accueil\u200b des Lucioles\u202e"
    if where == "partner":
        p["name"] = hostile
    elif where == "equipment":
        p["equipments"][0]["name"] = hostile
    else:
        p["equipments"][0]["sites"] = [hostile]
    assert codes(d) == ["TEXTE_CARACTERE_INVISIBLE"]


def test_names_keycloak_accepts_are_accepted():
    d = example_data()
    d["partners"][0]["users"][1]["first_name"] = "Jean-Éloïse d'Arc-en-Ciel"
    d["partners"][0]["users"][1]["last_name"] = "O'Neil Lefèvre-Saint.Pierre"
    registry(d)


@pytest.mark.parametrize("email", ["a" * 65 + "@x.example", "a@" + "b" * 250 + ".fr", "a@b.fr\n", "a b@c.fr",
                                   "sans-arobase.fr", "a@b"])
def test_emails_follow_rfc_5321_lengths_and_form(email):
    d = example_data()
    d["partners"][0]["users"][1]["email"] = email
    assert "COURRIEL_INVALIDE" in codes(d)


def test_a_convention_number_is_required_and_formatted():
    d = example_data()
    d["partners"][0]["conventions"][0]["number"] = ""
    assert "NUMERO_CONVENTION_INVALIDE" in codes(d)
    d["partners"][0]["conventions"][0]["number"] = "conv 1"
    assert codes(d) == ["NUMERO_CONVENTION_INVALIDE"]


def test_free_texts_are_bounded_and_free_of_control_characters():
    d = example_data()
    d["partners"][0]["name"] = "N" * 201
    d["partners"][0]["equipments"][0]["sites"] = ["12 rue\u0007 des Lilas"]
    d["partners"][0]["conventions"][0]["contract"]["incident_procedure"] = "x" * 4001
    assert sorted(codes(d)) == ["TEXTE_CARACTERE_INTERDIT", "TEXTE_TROP_LONG", "TEXTE_TROP_LONG"]


def test_the_same_profile_or_group_listed_twice_is_an_error_not_merged():
    d = example_data()
    afas_members(d)[0]["profiles"] = ["fournisseur-donnees-activite", "fournisseur-donnees-activite"]
    afas_members(d)[1]["groups"] = ["AFAS Déclarer", "AFAS Déclarer"]
    d["partners"][0]["delegates"] = ["marc.martin", "marc.martin"]
    assert codes(d) == ["VALEUR_EN_DOUBLE"] * 3


def test_messages_are_sentences_for_people_without_internal_paths_or_codes():
    """Issue 12 §4: the path and the code travel beside the message, never inside it."""
    d = example_data()
    users = d["partners"][0]["users"]
    users.append({**users[0]})                                   # the same identifiant and address twice
    users.append({"identifiant": "x", "first_name": "<b>", "last_name": "", "email": "nope"})
    d["partners"][0]["conventions"][0]["number"] = "conv 1"
    with pytest.raises(ValidationFailed) as e:
        registry(d)
    found = e.value.violations
    assert {"IDENTIFIANT_EN_DOUBLE", "COURRIEL_EN_DOUBLE", "NUMERO_CONVENTION_INVALIDE"} <= {v.code for v in found}
    for v in found:
        assert "partners[" not in v.message and "cafs[" not in v.message and f"[{v.code}]" not in v.message, v
