"""Issue 26 §3: the stored document is its own model, with a version: what the store writes reads back equal,
documents written before the version existed (the file's shape, an equipment with one `site`) still read, and a
document newer than the code is refused rather than misread."""

from __future__ import annotations

import copy

import pytest

from provisioning.desired_file import partner_to_dict
from provisioning.store.documents import (
    VERSION,
    WHOLE,
    caf_from_stored,
    caf_to_stored,
    grant_to_stored,
    header_to_stored,
    partner_from_rows,
    partner_from_stored,
    partner_to_stored,
    person_to_stored,
)
from provisioning.store.uow import _jsonable
from tests.unit.factories import add_caf_692, example_data, registry, second_partner


def _registry():
    data = example_data()
    second_partner(data)
    add_caf_692(data)
    return registry(data)


def test_what_the_store_writes_reads_back_equal():
    reg = _registry()
    for p in reg.partners:
        doc = partner_to_stored(p)
        assert doc["v"] == WHOLE
        assert partner_from_stored(copy.deepcopy(doc)) == p
    for c in reg.cafs:
        assert caf_from_stored(caf_to_stored(c)) == c


def test_a_partner_stored_as_rows_reads_back_equal_and_its_header_holds_no_people():
    """Issue 27: the partner's row (version 2) without its people and grants; they are rows of their own."""
    for p in _registry().partners:
        header = _jsonable(header_to_stored(p))
        assert header["v"] == VERSION and "users" not in header
        assert all("members" not in b for c in header["conventions"] for b in c["bulletins"])
        people = [(u.identifiant, _jsonable(person_to_stored(u))) for u in p.users]
        grants = [(c.number, b.service.value, m.identifiant, _jsonable(grant_to_stored(m)))
                  for c in p.conventions for b in c.bulletins for m in b.members]
        assert partner_from_rows(header, people, grants) == p
        with pytest.raises(ValueError, match="partner_from_rows"):
            partner_from_stored(header)  # a header alone is never taken for a partner without people


def test_a_document_written_before_versions_reads_as_it_did():
    """Version 0: the desired-state file's shape, as the store wrote it until 2026-12 (dates as text)."""
    reg = _registry()
    for p in reg.partners:
        old = _jsonable(partner_to_dict(p))
        assert "v" not in old
        assert partner_from_stored(old) == p
    legacy = _jsonable(partner_to_dict(reg.partners[0]))
    for e in legacy["equipments"]:
        e["site"] = "1 place de l'Ancienne Adresse"
        e["sites"] = []
    p = partner_from_stored(legacy)
    assert [e.sites for e in p.equipments] == [["1 place de l'Ancienne Adresse"]] * len(p.equipments)


def test_a_document_newer_than_the_code_is_refused_not_misread():
    doc = partner_to_stored(_registry().partners[0])
    doc["v"] = VERSION + 1
    with pytest.raises(ValueError, match="newer than this code"):
        partner_from_stored(doc)
