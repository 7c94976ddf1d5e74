"""Issue 26 §2: the use cases' unit tests run on the registry in memory (provisioning/store/memory.py); that
fake earns its place only if it answers as the database does. One script of calls — every repository method
the use cases use, refusals and lost races included — runs on the memory store and on SQLite (on PostgreSQL
too, where tests/integration reruns this module); what each answers, moments and generated ids aside, must be
the same."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from provisioning.domain.model import Service, Settings
from provisioning.domain.reviews import Campaign, Decision, Item, Verdict
from provisioning.errors import Conflict, ProvisioningError
from provisioning.store.memory import MemoryStore
from provisioning.store.uow import UnitOfWork
from tests.unit.factories import registry

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _refusal(call) -> Any:
    try:
        return ("ok", call())
    except ProvisioningError as e:
        return ("refused", e.code, [v.code for v in getattr(e, "violations", [])])


def _no_moments(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("id", "at", "sent_at", "next_attempt_at", "dead_at",
                                                     "updated_at")} for r in rows]


def script(uow_factory) -> list[Any]:
    seen: list[Any] = []
    reg = registry()
    [caf] = reg.cafs
    a = reg.partners[0]
    # the registry: a Caf, a partner, their people indexed
    with uow_factory() as uow:
        uow.registry.save_caf(caf)
        v = uow.registry.save_partner(a)
        uow.registry.save_settings(Settings(afas_habiliter_opening=AT.date()))
        uow.commit()
    seen.append(v)
    with uow_factory() as uow:  # not committed: forgotten
        uow.registry.delete_partner(a.siret)
        uow.audit.record("x", "lost", "nothing")
    with uow_factory() as uow:
        r = uow.registry
        seen += [r.versions(), r.versions_of([a.siret, "00000000000000"]), r.partner_summaries(),
                 r.partner_summaries(caf.code), r.partner_summaries("nope"), [p.siret for p in r.partners_of_caf(caf.code)],
                 [p.siret for p in r.partners_in([a.siret, a.siret, "00000000000000"])],
                 r.partner(a.siret) == a, r.partner("00000000000000"), r.settings().afas_habiliter_opening,
                 r.load_caf(caf.code) == caf, [c.code for c in r.cafs()], r.load().partners == [a],
                 r.caf_of(a.users[0].identifiant), r.caf_of(caf.administrators[0].identifiant), r.caf_of("nobody"),
                 r.partner_summary(a.siret), r.partner_summary("nope"),
                 r.people([a.users[0].identifiant, caf.administrators[0].identifiant, "nobody"]), r.people([]),
                 r.partner_of(a.users[0].identifiant) == a, r.standing("nobody"),
                 r.standing(caf.administrators[0].identifiant)[0], r.standing(a.users[0].identifiant)[0],
                 r.people_taken([u.identifiant for u in a.users] + ["x"], [u.email.upper() for u in a.users],
                                besides=[]),
                 r.people_taken([u.identifiant for u in a.users], [], besides=[a.siret]),
                 r.people_taken([caf.administrators[0].identifiant], [caf.administrators[0].email], besides=[]),
                 r.people_taken([caf.administrators[0].identifiant], [], besides=[], caf_administrators=True),
                 r.people_taken([a.users[0].identifiant], [], besides=[], cafs=[caf.code]),
                 # issue 27: the index's holders, people shown without their partners' others, headers alone
                 sorted(r.holders([a.users[0].identifiant, "x"], [a.users[1].email.upper(),
                                                                  caf.administrators[0].email])),
                 r.people_in([(a.users[1].identifiant, a.siret)]), r.headers(), r.headers(partner=a.siret),
                 r.headers(caf="692")]
    # saving: a stale version, a new partner under a known SIRET, someone else's identifiant or address
    b = registry().partners[0]
    b.siret, b.name = "98765432100015", "Mairie de Sainte-Foy"
    with uow_factory() as uow:
        seen.append(_refusal(lambda: uow.registry.save_partner(a, expected_version=7)))
    with uow_factory() as uow:
        seen.append(_refusal(lambda: uow.registry.save_partner(a)))
    with uow_factory() as uow:
        seen.append(_refusal(lambda: uow.registry.save_partner(b)))
    b.users = [replace(u, identifiant="b." + u.identifiant, email="b." + u.email) for u in b.users]
    b.users[0] = replace(b.users[0], email=a.users[1].email.upper())
    with uow_factory() as uow:
        seen.append(_refusal(lambda: uow.registry.save_partner(b)))
    b.users[0] = replace(b.users[0], email="b.new@x.example")
    b.administrator, b.delegates = b.users[0].identifiant, []
    with uow_factory() as uow:
        seen.append(_refusal(lambda: uow.registry.save_partner(b, reindex=False)))
        uow.registry.index_partner(b)
        a2 = uow.registry.partner(a.siret)
        a2.users[0] = replace(a2.users[0], email="renamed@x.example")
        seen.append(uow.registry.save_partner(a2, expected_version=1))
        uow.commit()
    with uow_factory() as uow:
        seen += [uow.registry.versions(), uow.registry.people_taken([], ["renamed@x.example", a.users[0].email],
                                                                     besides=[]),
                 uow.registry.partner_of(b.users[0].identifiant).siret]
        uow.registry.delete_partner(b.siret)
        uow.commit()
    with uow_factory() as uow:
        seen += [uow.registry.versions(), uow.registry.partner_of(b.users[0].identifiant)]
    # two writers of one partner: the second to commit loses, nothing of it kept
    one, two = uow_factory().__enter__(), uow_factory().__enter__()
    p1, v1 = one.registry.partner_with_version(a.siret)
    p2, v2 = two.registry.partner_with_version(a.siret)
    p1.name, p2.name = "Premier", "Second"
    one.registry.save_partner(p1, expected_version=v1)
    one.commit()
    one.__exit__(None, None, None)
    seen.append(_refusal(lambda: (two.registry.save_partner(p2, expected_version=v2), two.commit())))
    two.__exit__(None, None, None)
    with uow_factory() as uow:
        seen.append(uow.registry.partner(a.siret).name)
    # the journal
    with uow_factory() as uow:
        ids = [uow.audit.record("jeanne", "create-user", "u:x", None, {"n": 1}, partner=a.siret, caf=caf.code,
                                subject="x", summary="créé"),
               uow.audit.record("caf", "suspend", "u:x", {"n": 1}, {"n": 2}, partner=a.siret, subject="x"),
               uow.audit.record("caf", "caf-thing", "caf", caf=caf.code),
               uow.audit.record("jeanne", "same", "u:y", {"n": 1}, {"n": 1}, partner=a.siret, subject="y")]
        uow.commit()
    seen.append([i - ids[0] for i in ids])
    with uow_factory() as uow:
        au = uow.audit
        seen += [_no_moments(au.list()), _no_moments(au.list(partner=a.siret, limit=2, offset=1)),
                 _no_moments(au.list(caf=caf.code, with_changes=False)), _no_moments(au.list(actor="caf")),
                 _no_moments(au.list(subject="x")), au.list(since=datetime.now(UTC) + timedelta(hours=1)),
                 len(au.list(until=datetime.now(UTC) + timedelta(hours=1))),
                 sorted(au.dates(partner=a.siret)[0]), sorted(au.dates(caf=caf.code)[1]),
                 sorted(au.dates(everything=True)[0]), sorted(au.dates_of(["x", "nobody"], [a.siret])[0])]
        with pytest.raises(ValueError):
            au.dates()
    # the outbox: mails and credential intents, claimed, failed, held, resent, withdrawn, dropped
    with uow_factory() as uow:
        ob = uow.outbox
        ob.put("a@x.example", "sujet", "corps", caf=caf.code)
        c1 = ob.put_credentials("x@x.example", {"username": "x", "first_name": "X"}, caf=caf.code)
        c2 = ob.put_credentials("y@x.example", {"username": "y"})
        uow.commit()
    seen.append(c2 - c1)
    with uow_factory() as uow:  # one claim a transaction, as senders do
        ob = uow.outbox
        seen += [ob.credentials_pending("x"), ob.credentials_pending("z"), sorted(ob.credentials_pending_among(["x", "y", "z"]))]
        token, rows = ob.claim(limit=2)
        seen.append([(r.kind, r.recipient, r.payload, r.username, r.attempts) for r in rows])
        uow.commit()
    with uow_factory() as uow:
        token2, again = uow.outbox.claim()
        seen.append([r.recipient for r in again])
        uow.commit()
    with uow_factory() as uow:
        ob = uow.outbox
        ob.sent(rows[0].id, token)
        seen.append(ob.failed(rows[1].id, token, "boom" * 200, attempts=1))
        ob.sent(rows[1].id, "not-the-token")
        seen.append(ob.claim()[1])  # nothing due: all claimed
        ob.later(again[0].id, token2, 3600)
        seen.append(ob.failed(rows[1].id, "other", "x", attempts=8))
        uow.commit()
    with uow_factory() as uow:
        ob = uow.outbox
        seen += [_no_moments(ob.list()), _no_moments(ob.list(waiting=True)), _no_moments(ob.list(caf=caf.code, limit=1))]
        ob.due_now(["y", "x"])
        token4, due = ob.claim()
        seen.append([r.username for r in due])
        ob.release(token4)
        token5, due = ob.claim()
        seen.append(ob.failed(due[0].id, token5, "dead", attempts=8))
        seen += [_no_moments(ob.list(dead=True)), ob.resend(due[0].id, caf="other"), ob.resend(due[0].id),
                 ob.resend(rows[0].id)]
        token6, due = ob.claim()
        ob.drop(due[0].id, "not-mine")
        ob.drop(due[0].id, token6)
        ob.withdraw(c1)
        uow.commit()
    with uow_factory() as uow:
        seen += [_no_moments(uow.outbox.list()), uow.outbox.counts()]
    # reconcile requests: requested, claimed, held by another writer, finished, to handle, resync
    with uow_factory() as uow:
        rq = uow.reconcile
        rq.request(a.siret)
        rq.request(a.siret)
        rq.request("*")
        seen.append(rq.counts())
        oldest, claimed = rq.waiting()
        seen += [0 <= oldest < 60, claimed]
        token, due = rq.claim(limit=1, key="*")
        seen.append(rq.waiting()[1])
        seen.append([(r.key, r.generation, r.done_generation) for r in due])
        seen += [rq.hold("*", "someone"), rq.hold(a.siret, "someone"), rq.hold(a.siret, "someone"),
                 rq.holds(a.siret, "someone"), rq.holds(a.siret, token), rq.hold("new-key", "someone"),
                 rq.hold_every_partner("other")]
        rq.finish(due[0], token, error=None, failures=[])
        rq.let_go("someone")
        token2, due2 = rq.claim()
        seen.append(sorted((r.key, r.generation, r.done_generation) for r in due2))
        rq.request(a.siret)  # asked again while it runs: stays due
        for r in due2:
            rq.finish(r, token2, error=None, failures=[{"target": "u x", "reason": "refus"}], terminal=True)
        seen += [rq.state(a.siret) and {k: v for k, v in rq.state(a.siret).items() if k != "updated_at"},
                 rq.state("nope"), [{k: v for k, v in x.items() if k != "updated_at"} for x in rq.to_handle()],
                 rq.counts(), rq.hold_every_partner("every"), rq.request_resync(), rq.counts()]
        rq.renew("every")
        rq.let_go("every")
        seen.append(rq.holds(a.siret, "every"))
        uow.commit()
    # leases, job runs, usage rules
    with uow_factory() as uow:
        le = uow.leases
        seen += [le.acquire("worker", "p1", 60), le.acquire("worker", "p2", 60), le.acquire("worker", "p1", 60),
                 le.holder("worker"), le.acquire("worker", "p2", 60, at=datetime.now(UTC) + timedelta(minutes=5)),
                 le.holder("nobody"), le.acquire("daily", "p3", 60), le.holders()]
        le.release("worker", "p1")
        le.release("worker", "p2")
        seen += [le.holder("worker"), uow.job_runs.last("daily")]
        uow.job_runs.done("daily", AT)
        uow.job_runs.done("daily", AT + timedelta(days=1))
        seen.append(uow.job_runs.last("daily"))
        uow.usage_rules.publish("2027-01-01", AT, "caf")
        seen += [_refusal(lambda: uow.usage_rules.publish("2027-01-01", AT, "caf")), uow.usage_rules.versions()]
        uow.commit()
    # access reviews
    items = [Item(a.siret, "CONV-1", Service.CDAP, "x", frozenset()), Item(b.siret, "CONV-2", Service.AFAS, "y",
                                                                          frozenset())]
    with uow_factory() as uow:
        rv = uow.reviews
        rv.add(Campaign("c1", caf.code, "caf", AT, AT + timedelta(days=30), frozenset({a.siret, b.siret})), items)
        rv.add(Campaign("c2", caf.code, "caf", AT + timedelta(days=1), AT + timedelta(days=30)), [])
        rv.decide("c1", Decision(items[0].key, Verdict.CONFIRM, "jeanne", AT), a.siret)
        rv.decide("c1", Decision(items[1].key, Verdict.REVOKE, "sam", AT), b.siret)
        rv.reminder_sent("c1", 7)
        rv.reminder_sent("c1", 7)
        with pytest.raises(LookupError):
            rv.reminder_sent("nope", 7)
        seen += [rv.close("c2", AT), rv.close("c2", AT), rv.get("nope")]
        uow.commit()
    with uow_factory() as uow:
        rv = uow.reviews
        seen += [rv.get("c1"), rv.get("c1", partner=b.siret).items, rv.get("c1", key=items[0].key).items,
                 [c.campaign.id for c in rv.list()], [c.campaign.id for c in rv.list(open_only=True)],
                 [c.campaign.id for c in rv.list("other")], [len(c.items) for c in rv.list(partner=a.siret)],
                 rv.decisions("c1"), rv.decisions("c1", partner=b.siret)]
    return seen


@pytest.fixture
def sql_uow(use_case_engine):
    return lambda: UnitOfWork(use_case_engine)


def test_the_memory_store_answers_every_call_as_the_database_does(sql_uow):
    on_memory, on_database = script(MemoryStore().unit_of_work), script(sql_uow)
    assert len(on_memory) == len(on_database)
    for n, (m, d) in enumerate(zip(on_memory, on_database, strict=True)):
        assert m == d, f"answer {n} differs"


def test_of_two_writers_racing_for_one_partner_in_memory_one_wins_and_the_other_writes_nothing():
    store = MemoryStore()
    reg = registry()
    with store.unit_of_work() as uow:
        uow.registry.save_caf(reg.cafs[0])
        uow.registry.save_partner(reg.partners[0])
        uow.commit()
    siret, outcomes, ready = reg.partners[0].siret, [], threading.Barrier(2)

    def write(name: str) -> None:
        with store.unit_of_work() as uow:
            p, v = uow.registry.partner_with_version(siret)
            p.name = name
            uow.registry.save_partner(p, expected_version=v)
            uow.audit.record(name, "rename", siret, partner=siret)
            ready.wait()
            try:
                uow.commit()
                outcomes.append(name)
            except Conflict as e:
                outcomes.append(e.code)
    threads = [threading.Thread(target=write, args=(n,)) for n in ("un", "deux")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes, key=len)[1] == "VERSION_PERIMEE"
    with store.unit_of_work() as uow:
        [winner] = [o for o in outcomes if o != "VERSION_PERIMEE"]
        assert uow.registry.partner(siret).name == winner
        assert [e["actor"] for e in uow.audit.list()] == [winner], "the loser's journal line went with it"
