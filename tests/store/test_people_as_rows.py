"""Issue 27 §1: a partner's people and grants are rows. Migration 0017 moves them out of the documents (and back
when downgraded); what a change saves reads back equal from the rows, whatever the change; a process keeps a
partner as read under the stamp of the write that made it, and never serves it once another process (or
another transaction) wrote; one person added to a big partner writes that person's row."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.domain import rules
from provisioning.domain.delta import working_copy
from provisioning.domain.model import Group, Member, Registry, User
from provisioning.store import partner_rows
from provisioning.store import tables as t
from provisioning.store.documents import partner_from_stored, partner_to_stored
from provisioning.store.uow import UnitOfWork, make_engine, migrate
from tests.store.test_registry_write_cost import SIRET, _add, _big_service, _statements
from tests.unit.factories import TODAY, add_caf_692, example_data, registry, second_partner
from tests.unit.test_desired_state_files import NATIONAL


def _registry():
    data = example_data()
    second_partner(data)
    add_caf_692(data)
    return registry(data)


def test_migration_0017_moves_the_people_into_rows_and_back(tmp_path):
    migration_round_trip(make_engine(f"sqlite:///{tmp_path / 'r.sqlite'}"))


def migration_round_trip(engine) -> None:
    migrate(engine, to="0016")
    reg = _registry()
    legacy = partner_to_stored(reg.partners[1])
    del legacy["v"]  # a document from before versions: the file's shape, an equipment with its one site
    for e in legacy["equipments"]:
        e["site"], e["sites"] = "1 rue Ancienne", []
    with engine.begin() as c:
        for code, doc in (("751", {"v": 1, "code": "751", "name": "Caf de Paris", "habilitation_mailbox": "h@x.fr",
                                   "administrators": []}), ("692", {"v": 1, "code": "692", "name": "Caf du Rhône",
                                                                     "habilitation_mailbox": "h@y.fr",
                                                                     "administrators": []})):
            c.execute(sa.insert(t.cafs).values(code=code, document=doc))
        for p, doc in ((reg.partners[0], partner_to_stored(reg.partners[0])), (reg.partners[1], legacy)):
            c.execute(sa.text("insert into partners (siret, caf_code, name, document, version) "
                              "values (:s, :c, :n, :d, 3)"), {"s": p.siret, "c": p.caf, "n": p.name,
                                                              "d": json.dumps(doc)})
    migrate(engine)
    partner_rows.KEPT.clear()
    with UnitOfWork(engine) as uow:
        read = {p.siret: p for p in uow.registry.load().partners}
        assert read[reg.partners[0].siret] == reg.partners[0]
        old = reg.partners[1]
        assert read[old.siret] == replace(old, equipments=[replace(e, sites=["1 rue Ancienne"]) for e in old.equipments])
        assert uow.registry.partner_with_version(old.siret)[1] == 3  # the version, the optimistic lock, kept
    with engine.connect() as c:
        headers = [r.document for r in c.execute(sa.select(t.partners.c.document))]
        assert all(h["v"] == 2 and "users" not in h for h in headers)
        assert c.execute(sa.select(sa.func.count()).select_from(t.partner_people)).scalar() == \
            sum(len(p.users) for p in reg.partners)
        assert c.execute(sa.select(sa.func.count()).select_from(t.bulletin_members)).scalar() == \
            sum(len(b.members) for p in reg.partners for c in p.conventions for b in c.bulletins)
        assert all(c.execute(sa.select(t.partners.c.stamp)).scalars())
    _downgrade(engine, "0016")
    with engine.connect() as c:
        docs = {r.siret: json.loads(r.document) if isinstance(r.document, str) else r.document
                for r in c.execute(sa.text("select siret, document from partners"))}
    assert partner_from_stored(docs[reg.partners[0].siret]) == reg.partners[0]
    migrate(engine)  # and forth again
    partner_rows.KEPT.clear()
    with UnitOfWork(engine) as uow:
        assert uow.registry.partner(reg.partners[0].siret) == reg.partners[0]


def _downgrade(engine, to: str) -> None:
    from alembic import command

    from provisioning.store.uow import _alembic
    cfg = _alembic()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, to)


_FRESH = itertools.count()


@st.composite
def accepted_changes(draw):
    """Changes the rules accept, of every kind the rows must follow: people added, renamed, readdressed,
    suspended or removed (with their grants), CDAP grants given or taken, grants suspended by a review, and the
    people's order turned round."""
    return draw(st.lists(st.tuples(st.sampled_from(["add", "email", "names", "suspend", "remove", "grant",
                                                    "ungrant", "suspend-grant", "reverse"]), st.integers(0, 99)),
                         min_size=1, max_size=6))


def _accepted(p, ops):
    """Apply `accepted_changes` to a working copy (those named by the partner itself, or associated to its
    equipment, are never removed nor ungranted: the rules would refuse it)."""
    named = {p.administrator, p.representative, *p.delegates,
             *(i for e in p.equipments for ids in e.assignments.values() for i in ids)}
    cdap = next(b for c in p.conventions for b in c.bulletins if b.service == "CDAP")
    for op, k in ops:
        n = next(_FRESH)
        who = p.users[k % len(p.users)].identifiant
        free = [u.identifiant for u in p.users if u.identifiant not in named]
        if op == "add":
            p.users.append(User(f"nouvelle.{n}", "Anne", "Martin", f"nouvelle.{n}@x.example"))
        elif op == "email":
            p.update_user(who, email=f"autre.{n}@x.example")
        elif op == "names":
            p.update_user(who, first_name=["Zoé", "Éloïse", "Jean-Marc"][k % 3])
        elif op == "suspend":
            u = p.user(who)
            p.update_user(who, suspended=not u.suspended, suspended_by="" if u.suspended else "caf")
        elif op == "remove" and free:
            gone = free[k % len(free)]
            p.users = [u for u in p.users if u.identifiant != gone]
            for c in p.conventions:
                for b in c.bulletins:
                    b.members = [m for m in b.members if m.identifiant != gone]
        elif op == "grant":
            if cdap.update(who, groups={Group("CDAP Consulter")}) is None:
                cdap.members.append(Member(who, {Group("CDAP Consulter")}))
        elif op == "ungrant":
            cdap.members = [m for m in cdap.members if m.identifiant != who]
        elif op == "suspend-grant" and cdap.members:
            m = cdap.members[k % len(cdap.members)]
            cdap.update(m.identifiant, suspended=not m.suspended)
        elif op == "reverse":
            p.users.reverse()
    return p


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=accepted_changes())
def test_what_a_change_saves_reads_back_equal_from_the_rows(use_case_engine, ops):
    """Any change the rules accept, saved through the unit of work that read the partner, then read by a
    process that keeps nothing: the same partner, people and grants in the same order."""
    if not _seeded(use_case_engine):  # hypothesis runs the examples on one registry: each starts from the last
        _big_service(use_case_engine, 3)
    with UnitOfWork(use_case_engine) as uow:
        p, version = uow.registry.partner_with_version(SIRET)
        caf = uow.registry.load_caf(p.caf)
        changed = _accepted(working_copy(p), ops)
        assert rules.validate(Registry([caf], [changed], uow.registry.settings()), TODAY) == [], ops
        uow.registry.save_partner(changed, version)
        uow.commit()
    partner_rows.KEPT.clear()
    with UnitOfWork(use_case_engine) as uow:
        again, after = uow.registry.partner_with_version(SIRET)
    assert after == version + 1 and again == changed


def _seeded(engine) -> bool:
    with engine.connect() as c:
        return c.execute(sa.select(t.partners.c.siret).where(t.partners.c.siret == SIRET)).first() is not None


def test_another_process_write_is_read_and_never_the_copy_kept(use_case_engine):
    _big_service(use_case_engine, 2)
    with UnitOfWork(use_case_engine) as uow:
        assert uow.registry.partner(SIRET).user("p00001").first_name == "Prénom"  # read, and kept
    with use_case_engine.begin() as c:  # another process: its rows and a stamp of its own
        c.execute(sa.update(t.partner_people).where(t.partner_people.c.identifiant == "p00001")
                  .values(person={"first_name": "Autre", "last_name": "Processus", "email": "p00001@x.example"}))
        c.execute(sa.update(t.partners).where(t.partners.c.siret == SIRET).values(stamp="another-process-write"))
    with UnitOfWork(use_case_engine) as uow:
        assert uow.registry.partner(SIRET).user("p00001").first_name == "Autre"


def test_a_write_rolled_back_is_never_read(use_case_engine):
    _big_service(use_case_engine, 2)
    with UnitOfWork(use_case_engine) as uow:
        p, version = uow.registry.partner_with_version(SIRET)
        p.update_user("p00001", first_name="Jamais")
        uow.registry.save_partner(p, version)  # kept under the stamp it wrote, then rolled back
    with UnitOfWork(use_case_engine) as uow:
        assert uow.registry.partner(SIRET).user("p00001").first_name == "Prénom"


def test_one_person_added_to_a_big_partner_writes_that_persons_row_and_a_small_header(use_case_engine):
    svc = _big_service(use_case_engine, 1500)
    _add(svc, "warm.up")
    params: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, *rest):
        params.append((statement, parameters))
    sa.event.listen(use_case_engine, "before_cursor_execute", keep)
    try:
        seen = _statements(use_case_engine, lambda: _add(svc, "nina.roux"))
    finally:
        sa.event.remove(use_case_engine, "before_cursor_execute", keep)
    people = [s for s in seen if "partner_people" in s.lower()]
    assert [s.split()[0].upper() for s in people if not s.lstrip().upper().startswith("SELECT")] == ["INSERT"]
    assert not any("bulletin_members" in s.lower() and not s.lstrip().upper().startswith("SELECT") for s in seen)
    header = [p for s, p in params if s.lstrip().upper().startswith("UPDATE PARTNERS")]
    assert header and not any("p00001" in json.dumps(p, default=str) for p in header)  # no people in it
    with UnitOfWork(use_case_engine) as uow:
        assert uow.registry.partner(SIRET).users[-1].identifiant == "nina.roux"


def test_two_writers_adding_people_to_one_partner_at_once_lose_nobody(use_case_engine):
    """Attack: two API instances add people to the same partner at the same moment, each retrying when told its
    version is stale. Every person is stored once, the rows read by a process that keeps nothing are what the
    writers' reads give, and the index holds each person once."""
    import threading

    from provisioning.errors import Conflict
    svc = _big_service(use_case_engine, 40)
    start = threading.Barrier(2)
    refused = [0]

    def writer(name: str) -> None:
        start.wait()
        for k in range(8):
            while True:
                try:
                    _add(svc, f"{name}.{k}")
                    break
                except Conflict as e:
                    assert e.code == "VERSION_PERIMEE"
                    refused[0] += 1
    threads = [threading.Thread(target=writer, args=(n,)) for n in ("alpha", "beta")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    print(f"{refused[0]} edits refused as stale and retried")
    with UnitOfWork(use_case_engine) as uow:
        seen = uow.registry.partner(SIRET)
    partner_rows.KEPT.clear()
    with UnitOfWork(use_case_engine) as uow:
        fresh = uow.registry.partner(SIRET)
    added = sorted(u.identifiant for u in fresh.users if u.identifiant.startswith(("alpha.", "beta.")))
    assert added == sorted(f"{n}.{k}" for n in ("alpha", "beta") for k in range(8))
    assert fresh == seen and len(fresh.users) == 4 + 40 + 16  # the example's four, the forty, the sixteen
    with use_case_engine.connect() as c:
        indexed = [r[0] for r in c.execute(sa.select(t.user_index.c.identifiant)
                                           .where(t.user_index.c.partner_siret == SIRET))]
    assert sorted(indexed) == sorted(u.identifiant for u in fresh.users)


def test_a_hostile_person_on_a_big_partner_is_refused_by_the_focused_check_and_nothing_is_written(use_case_engine):
    """Attack on the focused check: 10,000 characters, markup, a control and an invisible character, an address
    another person holds in another case — each refused with its code, the partner's rows and version untouched."""
    from provisioning.errors import ValidationFailed
    svc = _big_service(use_case_engine, 300)
    with UnitOfWork(use_case_engine) as uow:
        _, version = uow.registry.partner_with_version(SIRET)
    cases = [(User("long.nom", "A" * 10_000, "Nom", "long.nom@x.example"), "NOM"),
             (User("balise.nom", "<script>x</script>", "Nom", "balise.nom@x.example"), "NOM_CARACTERE_INTERDIT"),
             (User("ctrl.nom", "Jean\x07", "Nom", "ctrl.nom@x.example"), "NOM"),
             (User("invisible.nom", "Jean\u200b", "Nom", "invisible.nom@x.example"), "NOM_CARACTERE_INVISIBLE"),
             (User("meme.adresse", "Jean", "Nom", "P00150@X.EXAMPLE"), "COURRIEL_EN_DOUBLE")]
    for user, code in cases:
        try:
            svc.create_user(NATIONAL, SIRET, user)
        except ValidationFailed as e:
            assert any(v.code.startswith(code) for v in e.violations), (user.identifiant, e.violations)
        else:
            raise AssertionError(f"{user.identifiant} was accepted")
    partner_rows.KEPT.clear()
    with UnitOfWork(use_case_engine) as uow:
        p, after = uow.registry.partner_with_version(SIRET)
    assert after == version and len(p.users) == 304
    with use_case_engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.partner_people)).scalar() == 304
