"""The desired-state reader refuses what YAML allows and the format does not need: every refusal is a
coded error with its line, never a traceback, and memory stays bounded."""

from __future__ import annotations

import tracemalloc

import pytest
import yaml

from provisioning.desired_file import MAX_BYTES, dump, load
from provisioning.errors import ValidationFailed
from tests.unit.factories import EXAMPLE, TODAY, registry

HEAD = 'version: 1\nscope: {cafs: ["751"]}\n'


def refused(text: str | bytes) -> list[tuple[str, int | None]]:
    with pytest.raises(ValidationFailed) as e:
        load(text, TODAY)
    return [(v.code, v.line) for v in e.value.violations]


def test_a_second_partners_key_is_refused_not_silently_winning():
    """Regression: a second `partners:` key replaced the first, and the plan disabled every user."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert refused(text + "partners: []\n") == [("YAML_CLE_EN_DOUBLE", len(text.splitlines()) + 1)]


def test_a_key_repeated_inside_a_user_is_refused_with_its_line():
    text = EXAMPLE.read_text(encoding="utf-8").replace("        last_name: Petit\n",
                                                       "        last_name: Petit\n        last_name: Autre\n", 1)
    [(code, line)] = refused(text)
    assert code == "YAML_CLE_EN_DOUBLE" and "last_name: Autre" in text.splitlines()[line - 1]


def test_an_expansion_bomb_is_refused_at_once_with_bounded_memory():
    """Regression: a small file of nested aliases reached gigabytes."""
    bomb = HEAD + "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
    tracemalloc.start()
    try:
        assert refused(bomb)[0] == ("YAML_ALIAS_INTERDIT", 3)
        assert tracemalloc.get_traced_memory()[1] < 20 * 1024 * 1024
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("text, code", [
    (HEAD + "cafs: !!python/object:os.system {}\n", "YAML_ETIQUETTE_INTERDITE"),
    (HEAD + "cafs: !custom [1]\n", "YAML_ETIQUETTE_INTERDITE"),
    (HEAD + "cafs: &x []\n", "YAML_ALIAS_INTERDIT"),
    (HEAD + "cafs: [\n", "YAML_INVALIDE"),
    (HEAD + "? [a, b]\n: c\n", "YAML_CLE_INVALIDE"),
    (HEAD + "partners:\n  - siret: 2026-13-45\n", "YAML_VALEUR_INVALIDE"),
    (HEAD + "x: " + "[" * 100 + "]" * 100 + "\n", "YAML_TROP_PROFOND"),
    (HEAD + "x: " + "[" * 100_000 + "\n", "YAML_TROP_PROFOND"),
    (HEAD + "---\nversion: 1\n", "YAML_INVALIDE"),
])
def test_what_the_format_does_not_use_is_refused_with_a_code(text, code):
    assert refused(text)[0][0] == code


def test_invalid_utf8_and_oversized_files_are_refused_with_a_code():
    assert refused(HEAD.encode() + b"cafs:\n  - name: Caf \xff\n") == [("YAML_ENCODAGE", 4)]
    assert refused(b"#" * (MAX_BYTES + 1)) == [("FICHIER_TROP_GROS", None)]


def test_an_export_never_writes_anchors_even_for_a_shared_date():
    reg = registry()
    conv = reg.partners[0].conventions[0]
    conv.history[1].at = conv.history[0].at  # the same object twice, as a service's clock gives it
    text = dump(reg)
    assert "&id" not in text and "*id" not in text
    assert load(text, TODAY).partners[0].conventions[0].history[1].at == conv.history[0].at


def test_plain_yaml_still_reads_as_before():
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert registry(data).partners[0].users[0].identifiant == "jeanne.dupont"


# --- fuzzing (bounded: a fixed number of examples, no deadline flakiness) ----------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
FUZZ = settings(max_examples=int(__import__("os").environ.get("MCP_FUZZ_EXAMPLES", "300")), deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=__import__("os").environ.get("MCP_FUZZ_RANDOM") != "1")


def _only_coded_errors(text) -> None:
    try:
        load(text, TODAY)
    except ValidationFailed as e:
        assert e.violations and all(v.code and v.message for v in e.violations)


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_registry_or_coded_errors(data):
    _only_coded_errors(data)


@FUZZ
@given(st.integers(0, len(EXAMPLE_TEXT)), st.integers(0, 40), st.text(max_size=40))
def test_any_edit_of_the_example_gives_a_registry_or_coded_errors(at, cut, insert):
    _only_coded_errors(EXAMPLE_TEXT[:at] + insert + EXAMPLE_TEXT[at + cut:])


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20) | st.dates(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30)


@FUZZ
@given(st.dictionaries(st.sampled_from(["version", "scope", "settings", "cafs", "partners", "autre"]), yaml_values))
def test_any_document_shape_gives_a_registry_or_coded_errors(doc):
    _only_coded_errors(yaml.safe_dump(doc, allow_unicode=True))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


EXAMPLE_DATA = yaml.safe_load(EXAMPLE_TEXT)
EXAMPLE_PATHS = [p for p in _paths(EXAMPLE_DATA) if p]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(EXAMPLE_PATHS), yaml_values), min_size=1, max_size=3))
def test_any_value_anywhere_in_the_example_gives_a_registry_or_coded_errors(edits):
    import copy
    doc = copy.deepcopy(EXAMPLE_DATA)
    for path, value in edits:
        node = doc
        try:
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed that place
    _only_coded_errors(yaml.safe_dump(doc, allow_unicode=True))
