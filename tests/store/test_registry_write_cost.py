"""Issue 27 §1: one person's change costs that person, not the partner. The journal keeps what changed (not the
partner twice), the identifiant index writes the rows that changed, and the number of SQL statements a change
makes does not depend on how many people the partner holds."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
import sqlalchemy as sa

from provisioning.domain.diff import changes
from provisioning.domain.model import User
from provisioning.errors import ValidationFailed
from provisioning.store import tables as t
from provisioning.store.uow import UnitOfWork
from tests.unit.factories import add_user, example_data, registry
from tests.unit.services import make_service
from tests.unit.test_desired_state_files import NATIONAL

SIRET = "12345678900015"


def test_changes_name_records_by_their_key_and_keep_only_what_differs():
    before = {"siret": "1", "delegates": ["a", "b"],
              "users": [{"identifiant": "a", "email": "x"}, {"identifiant": "b", "email": "y"}],
              "conventions": [{"number": "C1", "history": [{"status": "s"}],
                               "bulletins": [{"service": "AFAS", "members": [{"identifiant": "a", "groups": ["g1"]}]}]}]}
    after = copy.deepcopy(before)
    after["users"].append({"identifiant": "c", "email": "z"})
    after["users"][0]["email"] = "x2"
    after["delegates"] = ["b", "c"]
    after["conventions"][0]["history"].append({"status": "t"})
    after["conventions"][0]["bulletins"][0]["members"][0]["groups"] = ["g2"]
    assert changes(before, after) == [
        {"path": "delegates[]", "before": "a"},
        {"path": "delegates[]", "after": "c"},
        {"path": "users[a].email", "before": "x", "after": "x2"},
        {"path": "users[c]", "after": {"identifiant": "c", "email": "z"}},
        {"path": "conventions[C1].history[1]", "after": {"status": "t"}},
        {"path": "conventions[C1].bulletins[AFAS].members[a].groups[]", "before": "g1"},
        {"path": "conventions[C1].bulletins[AFAS].members[a].groups[]", "after": "g2"},
    ]
    assert changes(before, copy.deepcopy(before)) == []
    assert changes(None, {"a": 1}) == [{"path": "", "after": {"a": 1}}]
    assert changes({"a": 1}, None) == [{"path": "", "before": {"a": 1}}]
    # a list rewritten in another order, or records without a unique key: the whole list, never a wrong match
    assert changes({"l": [1, 2]}, {"l": [2, 1]}) == [{"path": "l", "before": [1, 2], "after": [2, 1]}]
    twins = [{"identifiant": "a", "n": 1}, {"identifiant": "a", "n": 2}]
    assert changes({"l": twins}, {"l": twins[:1]}) == [{"path": "l", "before": twins, "after": twins[:1]}]


def _big_service(engine, people: int):
    data = example_data()
    for k in range(people):
        add_user(data, f"p{k:05d}")
    svc = make_service(engine, reconcile_mode="worker")
    svc.import_registry(NATIONAL, registry(data))
    return svc


def _statements(engine, work) -> list[str]:
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        work()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return seen


def _add(svc, ident: str):
    return svc.create_user(NATIONAL, SIRET, User(ident, "Nouvelle", "Personne", f"{ident}@x.example"))


@pytest.mark.parametrize("people", [2000])
def test_adding_one_person_to_a_big_partner_journals_that_person_and_writes_as_many_statements_as_on_a_small_one(
        tmp_path, people):
    from tests.unit.services import sqlite_engine
    (tmp_path / "s").mkdir()
    (tmp_path / "b").mkdir()
    small, big = sqlite_engine(tmp_path / "s"), sqlite_engine(tmp_path / "b")
    s_svc, b_svc = _big_service(small, 0), _big_service(big, people)
    _add(s_svc, "warm.up"), _add(b_svc, "warm.up")
    on_small = _statements(small, lambda: _add(s_svc, "nina.roux"))
    on_big = _statements(big, lambda: _add(b_svc, "nina.roux"))
    assert len(on_big) == len(on_small), (len(on_small), len(on_big))
    index_writes = [s for s in on_big if s.lstrip().upper().startswith(("INSERT INTO USER_INDEX",
                                                                         "DELETE FROM USER_INDEX"))]
    assert index_writes == [index_writes[0]] and index_writes[0].upper().startswith("INSERT")
    with UnitOfWork(big) as uow:
        [entry] = uow.audit.list(partner=SIRET, limit=1)
    stored = json.dumps(entry["changes"], ensure_ascii=False).encode()
    assert len(stored) <= 2048, len(stored)
    assert entry["changes"] == [{"path": "users[nina.roux]", "after": {
        "identifiant": "nina.roux", "first_name": "Nouvelle", "last_name": "Personne", "email": "nina.roux@x.example"}}]
    assert "nina.roux" in entry["summary"]
    for engine in (small, big):
        engine.dispose()


def _index(engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as c:
        return {r.identifiant: (r.email, r.partner_siret) for r in c.execute(sa.select(t.user_index))}


def _expected(engine) -> dict[str, tuple[str, str | None]]:
    with UnitOfWork(engine) as uow:
        reg = uow.registry.load()
    out = {u.identifiant: (u.email.lower(), p.siret) for p in reg.partners for u in p.users}
    out.update({a.identifiant: (a.email.lower(), None) for c in reg.cafs for a in c.administrators})
    return out


def test_the_index_follows_every_kind_of_change_and_still_refuses_another_partners_people(use_case_engine):
    svc = _big_service(use_case_engine, 3)
    with UnitOfWork(use_case_engine) as uow:
        p, version = uow.registry.partner_with_version(SIRET)
    a, b, c = (p.user(f"p0000{k}") for k in range(3))
    assert a and b and c
    # two people swap addresses, one changes only its case, one leaves, one arrives: in one save
    p.users = [replace(a, email=b.email), replace(b, email=a.email.upper()), *[u for u in p.users if u not in (a, b, c)],
               User("new.one", "N", "O", "New.One@x.example")]
    with UnitOfWork(use_case_engine) as uow:
        uow.registry.save_partner(p, version)
        uow.commit()
    assert _index(use_case_engine) == _expected(use_case_engine)
    assert "p00002" not in _index(use_case_engine)
    for ident, email, code in (("caf.admin", "z@x.example", "IDENTIFIANT_EN_DOUBLE"),
                               ("z.z", "Claire.Fontaine@caf75.example", "COURRIEL_EN_DOUBLE")):
        before = _index(use_case_engine)
        with pytest.raises(ValidationFailed) as e:
            svc.create_user(NATIONAL, SIRET, User(ident, "Z", "Z", email))
        assert [v.code for v in e.value.violations] == [code]
        assert _index(use_case_engine) == before


def test_two_partners_adding_the_same_address_at_once_store_it_once(use_case_engine):
    """Attack on the batched index write: two administrators of two partners create a person with the same
    address (and identifiant) at the same moment. One is stored; the other is refused, with nothing written."""
    import threading

    from provisioning.errors import Conflict
    from tests.unit.factories import second_partner
    data = example_data()
    second_partner(data)
    svc = make_service(use_case_engine, reconcile_mode="worker")
    svc.import_registry(NATIONAL, registry(data))
    outcomes: dict[str, str] = {}
    start = threading.Barrier(2)

    def create(siret: str) -> None:
        start.wait()
        try:
            svc.create_user(NATIONAL, siret, User("meme.personne", "Même", "Personne", "Meme.Personne@x.example"))
            outcomes[siret] = "stored"
        except (ValidationFailed, Conflict) as e:
            outcomes[siret] = e.code
    threads = [threading.Thread(target=create, args=(s,)) for s in (SIRET, "98765432100015")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert sorted(outcomes.values()) in (["stored", "validation_failed"], ["conflict", "stored"]), outcomes
    with UnitOfWork(use_case_engine) as uow:
        holders = [p.siret for p in uow.registry.load().partners if p.user("meme.personne")]
    assert len(holders) == 1 and _index(use_case_engine)["meme.personne"] == ("meme.personne@x.example", holders[0])
