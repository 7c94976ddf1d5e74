"""Issue 12 §5: a CSV of users and their habilitations, planned line by line under the same rules and caps
as one user at a time, then applied whole or not at all (use case and API in-process, fake Keycloak)."""

from __future__ import annotations

from provisioning.domain import user_import
from tests.unit.test_api_usecases import NEW, api, h  # noqa: F401 (fixture)

HEADER = "identifiant;nom;prenom;courriel;convention;groupes;profils\n"


def _ready(api):  # noqa: F811
    from tests.unit.test_api_usecases import test_from_registration_to_an_active_convention_with_habilitations
    test_from_registration_to_an_active_convention_with_habilitations(api)


def _post(api, text: str, apply: bool = False, who: str = "sam"):  # noqa: F811
    return api.post(f"/api/v1/partners/{NEW}/users/import?apply={'true' if apply else 'false'}", headers=h(who),
                    data=text.encode("utf-8"), content_type="text/csv")


def test_the_preview_says_per_line_who_is_created_what_is_granted_and_what_is_refused(api):  # noqa: F811
    _ready(api)  # alex.roy already holds the AFAS approver profile on CONV-751-2026-0009
    text = HEADER + (
        "eva.morel;Morel;Éva;eva.morel@lucioles.example;;CDAP Consulter;\n"
        "hugo.blanc;Blanc;Hugo;hugo.blanc@lucioles.example;CONV-751-2026-0009;AFAS Déclarer;fournisseur-donnees-activite\n"
        "nora.petit;Petit;Nora;nora.petit@lucioles.example;;AFAS Déclarer;approbateur\n"      # a second approver
        "bad id;X;Y;pas-un-courriel;;CDAP Lire;\n"                                              # every fault listed
        "eva.morel;Morel;Éva;eva.morel@lucioles.example;;;\n"                                   # the same person twice
        "lea.petit;Petit;Léa;lea2@lucioles.example;;;\n"                                        # another partner's
        "alex.roy;Roy;Alexandre;alex.roy@lucioles.example;;CDAP Consulter;\n")                  # not the same person
    before = api.get(f"/api/v1/partners/{NEW}", headers=h("caf")).get_json()
    r = _post(api, text)
    assert r.status_code == 200
    lines = {x["line"]: x for x in r.get_json()["lines"]}
    assert lines[2]["action"] == "create" and lines[2]["action_label"] == "création" and lines[2]["grants"] == ["CDAP Consulter (CONV-751-2026-0009)"]
    assert lines[3]["grants"] == ["AFAS Déclarer ; profils fournisseur-donnees-activite (CONV-751-2026-0009)"]
    codes = {n: [v["code"] for v in lines[n]["refusals"]] for n in lines}
    assert codes[4] == ["AFAS_TROP_D_APPROBATEURS"]  # R8, counted with those already granted
    assert set(codes[5]) == {"VALEUR_INCONNUE", "IDENTIFIANT_INVALIDE", "COURRIEL_INVALIDE"}
    assert codes[6] == ["LIGNE_EN_DOUBLE"] and "ligne 2" in lines[6]["refusals"][0]["message"]
    assert codes[7] == ["IDENTIFIANT_EN_DOUBLE"]
    assert codes[8] == ["IDENTITE_DIFFERENTE"]
    assert r.get_json()["counts"] == {"lines": 7, "created": 2, "updated": 0, "refused": 5}
    assert api.get(f"/api/v1/partners/{NEW}", headers=h("caf")).get_json() == before  # a preview writes nothing

    r = _post(api, text, apply=True)  # any refused line refuses the file, every line's reasons listed
    assert r.status_code == 422 and {v["path"] for v in r.get_json()["violations"]} == {
        "ligne 4", "ligne 5", "ligne 6", "ligne 7", "ligne 8"}
    assert api.get(f"/api/v1/partners/{NEW}", headers=h("caf")).get_json() == before


def test_apply_writes_every_line_in_one_change_and_a_second_import_changes_nothing(api):  # noqa: F811
    _ready(api)
    text = HEADER + ("eva.morel;Morel;Éva;eva.morel@lucioles.example;;CDAP Consulter;\n"
                     "hugo.blanc;Blanc;Hugo;hugo.blanc@lucioles.example;;AFAS Déclarer + CDAP Consulter;"
                     "fournisseur-donnees-activite + fournisseur-donnees-financieres\n")
    r = _post(api, text, apply=True)
    assert r.status_code == 200 and r.get_json()["changed"] is True
    users = {u["identifiant"]: u for u in api.get(f"/api/v1/partners/{NEW}/users", headers=h("sam")).get_json()}
    assert users["eva.morel"]["groups"] == ["CDAP Consulter"]
    assert users["hugo.blanc"]["groups"] == ["AFAS Déclarer", "CDAP Consulter"]
    assert users["hugo.blanc"]["profiles"] == ["fournisseur-donnees-activite", "fournisseur-donnees-financieres"]
    assert "hugo.blanc" in api.svc.fake.state.members[f"/partenaires/{NEW}/CDAP Consulter"]  # Keycloak follows
    audit = api.get(f"/api/v1/audit?partner={NEW}&limit=100", headers=h("caf")).get_json()
    imports = [e for e in audit if e["action"] == "import-users"]
    assert [e["subject"] for e in imports] == ["hugo.blanc", "eva.morel", None]  # the file, then each person
    assert "compte créé : Hugo Blanc" in imports[0]["summary"] and "profils fournisseur-donnees-activite" in imports[0]["summary"]
    r = _post(api, text, apply=True)  # a second click: the same file again
    assert r.status_code == 200 and r.get_json()["changed"] is False
    assert [x["action"] for x in r.get_json()["lines"]] == ["update", "update"]


def test_a_delegate_imports_within_the_hierarchy_and_another_partner_cannot_import(api):  # noqa: F811
    _ready(api)  # alex.roy is a delegate (with AFAS Habiliter); sam.perrin the administrator
    r = _post(api, HEADER + "sam.perrin;Perrin;Sam;sam.perrin@lucioles.example;;CDAP Consulter;\n", who="habiliter")
    assert [v["code"] for v in r.get_json()["lines"][0]["refusals"]] == ["HIERARCHIE"]
    assert _post(api, HEADER + "x.y;Y;X;x@y.fr;;;\n", who="lyon").status_code == 403


def test_unreadable_files_are_refused_whole_with_their_reasons(api):  # noqa: F811
    _ready(api)
    r = _post(api, "nom;prenom\nA;B\n")
    assert r.status_code == 422 and {v["code"] for v in r.get_json()["violations"]} == {"COLONNE_MANQUANTE"}
    r = api.post(f"/api/v1/partners/{NEW}/users/import", headers=h("sam"), data="é".encode("latin-1"))
    assert r.get_json()["violations"][0]["code"] == "FICHIER_ENCODAGE"
    many = HEADER + "".join(f"u{i:04d};N;P;u{i}@x.fr;;;\n" for i in range(user_import.MAX_LINES + 1))
    assert _post(api, many).get_json()["violations"][0]["code"] == "TROP_DE_LIGNES"
    assert _post(api, HEADER).get_json()["violations"][0]["code"] == "FICHIER_VIDE"


def test_commas_and_a_byte_order_mark_are_read_too():
    lines, faults = user_import.read("\ufeffidentifiant,nom,prenom,courriel\r\nana.roy,Roy,Ana,ana@x.fr\r\n".encode())
    assert faults == [] and [(ln.number, ln.identifiant, ln.email) for ln in lines] == [(2, "ana.roy", "ana@x.fr")]


def test_hostile_files_are_refused_with_a_reason_never_a_crash(api):  # noqa: F811
    _ready(api)
    for data, code in ((HEADER.encode() + b"a" * 200_000 + b";N;P;x@y.fr;;;\n", "FICHIER_ILLISIBLE"),  # csv's limit
                       (HEADER.encode() + b"a\x00b;N;P;x@y.fr;;;\n", None),   # a NUL byte: a refused line
                       (HEADER.encode() + b'"never closed;N;P;x@y.fr;;;\n', None)):
        r = api.post(f"/api/v1/partners/{NEW}/users/import", headers=h("sam"), data=data, content_type="text/csv")
        assert r.status_code in (200, 422), r.get_data(as_text=True)[:200]
        if code:
            assert r.get_json()["violations"][0]["code"] == code
    long = HEADER + f"{'a' * 10_000};<b>{'N' * 10_000}</b>;P\x07;x@y.fr;;;\n"
    r = _post(api, long)
    codes = {v["code"] for v in r.get_json()["lines"][0]["refusals"]}
    assert r.status_code == 200 and {"IDENTIFIANT_INVALIDE"} <= codes and len(codes) >= 2


def test_another_partner_cannot_import_and_a_stale_version_is_refused(api):  # noqa: F811
    _ready(api)
    assert _post(api, HEADER + "x.y;Y;X;x@y.fr;;;\n", who="jeanne").status_code == 404  # unknown to it
    r = api.post(f"/api/v1/partners/{NEW}/users/import?apply=true", headers={**h("sam"), "If-Match": '"v1"'},
                 data=(HEADER + "x.yz;Y;X;xyz@y.fr;;;\n").encode(), content_type="text/csv")
    assert r.status_code == 409 and r.get_json()["code"] == "VERSION_PERIMEE"


def test_a_caf_administrators_identifiant_or_address_is_taken_for_a_csv_line(api):  # noqa: F811
    """The import asks the index who holds a line's identifiant and address: a Caf administrator counts too (the
    check was merged with a file plan's, which leaves Caf administrators to the rules: this keeps it honest)."""
    _ready(api)
    text = HEADER + ("caf.admin;Autre;Personne;autre.personne@lucioles.example;;;\n"
                     "nouvelle.personne;Nouvelle;Personne;CLAIRE.FONTAINE@caf75.example;;;\n")
    lines = {x["line"]: x for x in _post(api, text).get_json()["lines"]}
    assert [v["code"] for v in lines[2]["refusals"]] == ["IDENTIFIANT_EN_DOUBLE"]
    assert [v["code"] for v in lines[3]["refusals"]] == ["COURRIEL_EN_DOUBLE"]
