"""Issue 26 §3: the desired-state file is read through pydantic models (provisioning/file_format.py), its faults
still coded and placed on their line; its JSON Schema is the models'. A partner or Caf whose shape is refused is
not checked against the rules (no fault derived from half a partner), and hides nothing of the others."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import yaml

from provisioning import file_format
from provisioning.desired_file import load
from provisioning.errors import ValidationFailed
from tests.unit.factories import EXAMPLE, TODAY, example_data, second_partner


def refusals(doc: dict) -> list[tuple[str, str, int | None]]:
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    with pytest.raises(ValidationFailed) as e:
        load(text, TODAY)
    return [(v.code, v.path, v.line) for v in e.value.violations]


def line_of(doc: dict, needle: str) -> int:
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_json_schema_accepts_the_example_and_refuses_what_the_reader_refuses():
    schemas = file_format.schema()  # what an editor checks: the file as JSON sees it (moments as texts)
    data = json.loads(json.dumps(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), default=str))
    for p in data["partners"]:
        jsonschema.validate(p, schemas["partner"])
    for c in data["cafs"]:
        jsonschema.validate(c, schemas["caf"])
    broken = copy.deepcopy(data["partners"][0])
    del broken["name"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schemas["partner"])
    broken["name"], broken["users"][0]["email"] = "X", ["pas", "un", "texte"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schemas["partner"])


def test_a_partner_refused_by_the_schema_hides_nothing_of_the_next_one_placed_on_its_own_line():
    d = example_data()
    other = second_partner(d)
    del d["partners"][0]["name"]                     # partner 0: its shape is wrong
    other["users"][0]["email"] = "pas-un-courriel"   # partner 1: a rule
    found = refusals(d)
    assert ("SCHEMA_CHAMP_MANQUANT", "partners[0]", line_of(d, "- siret: '12345678900015'")) in found
    email = [f for f in found if f[0] == "COURRIEL_INVALIDE"]
    assert email == [("COURRIEL_INVALIDE", "partners[1].users[0].email", line_of(d, "pas-un-courriel"))]
    assert not [f for f in found if f[1].startswith("partners[0]") and not f[0].startswith("SCHEMA")]


def test_unknown_keys_and_repetitions_are_listed_even_where_the_object_is_refused():
    d = example_data()
    p = d["partners"][0]
    del p["name"]
    p["colour"] = "bleu"
    p["delegates"] = ["marc.martin", "marc.martin"]
    p["users"][0]["surnom"] = "Jeannot"
    codes = {(c, path) for c, path, _ in refusals(d)}
    assert {("SCHEMA_CHAMP_MANQUANT", "partners[0]"), ("SCHEMA_CHAMP_INCONNU", "partners[0].colour"),
            ("VALEUR_EN_DOUBLE", "partners[0].delegates[1]"),
            ("SCHEMA_CHAMP_INCONNU", "partners[0].users[0].surnom")} <= codes


def test_a_caf_refused_by_the_schema_does_not_make_its_partners_caf_unknown():
    d = example_data()
    del d["cafs"][0]["habilitation_mailbox"]
    codes = [c for c, _, _ in refusals(d)]
    assert codes == ["SCHEMA_CHAMP_MANQUANT"]


@pytest.mark.parametrize("where, value, code", [
    (("partners", 0, "users", 0, "suspended"), "peut-être", "SCHEMA_TYPE"),
    (("partners", 0, "conventions", 0, "status"), "signée", "SCHEMA_VALEUR"),
    (("partners", 0, "conventions", 0, "history", 0, "at"), 1764000000, "SCHEMA_DATE"),
    (("partners", 0, "users"), {"identifiant": "x"}, "SCHEMA_TYPE"),
    (("settings", "afas_habiliter_opening"), "demain", "SCHEMA_DATE"),
])
def test_each_kind_of_shape_fault_has_its_code_and_its_line(where, value, code):
    d = example_data()
    if where[0] == "settings":  # national settings: a whole-registry file
        d["scope"], d["settings"] = "all", {}
    node = d
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    found = [(c, path, line) for c, path, line in refusals(d) if c == code]
    assert found and all(line for _, _, line in found), refusals(d)


def test_numbers_written_without_quotes_are_texts_as_before():
    d = example_data()
    d["cafs"][0]["code"] = 751
    d["partners"][0]["caf"] = 751
    reg = load(yaml.safe_dump(d, allow_unicode=True), TODAY)
    assert reg.cafs[0].code == "751" and reg.partners[0].caf == "751"
