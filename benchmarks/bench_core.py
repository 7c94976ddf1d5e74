"""Benchmarks of the habilitation core (issue 9), on the registry only (worker mode: an API mutation answers
once stored; Keycloak is the worker's business), with a fake Keycloak gateway:

    .venv/bin/python benchmarks/bench_core.py [--large 5000] [--repeat 3] [--people 5000] [--postgres]
    (SQLite files in a temporary directory; --postgres: a throwaway local PostgreSQL)

1. Latency of a committed API mutation with 10 partners vs 5,000 partners in the registry (goal: ratio ≤ 1.3).
2. Two API clients making 200 interleaved edits of one partner with If-Match, each 409 retried: lost updates
   (goal: zero).
3. Issue 27: adding one person to a 10-person partner vs a 5,000-person partner: latency ratio (goal ≤ 1.2) and
   the size of the journal entry it writes (goal ≤ 2 KB).
4. Issue 27: the consoles' user list on that 5,000-person partner — a search, the first page, a page far in
   sorted by name — asked by a Caf administrator and by the partner's administrator (goal ≤ 100 ms).
5. Issue 27: migration 0017 on a registry of `--large` partners (`--parts 5`; not run by default).
Numbers are printed (median and spread of three repetitions), never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from provisioning.api import create_app
from provisioning.domain.model import Caf, CafAdministrator, Convention, ConventionStatus, Partner, Registry, User
from provisioning.domain.rules import siret_with_key
from provisioning.domain.scope import FileScope
from provisioning.keycloak.fake import FakeGateway
from provisioning.notify.notifier import MemoryNotifier
from provisioning.services import Actor, Provisioning
from provisioning.store.uow import make_engine, migrate

NATIONAL = Actor("bench", system=True)


class Verifier:
    def verify(self, header):
        return NATIONAL


def registry(n: int) -> Registry:
    caf = Caf("751", "Caf de Paris", "habilitations@caf75.example",
              [CafAdministrator("caf.admin", "Claire", "Fontaine", "caf.admin@caf75.example")])
    partners = []
    for i in range(n):
        users = [User(f"u{i}.{k}", "Prénom", "Nom", f"u{i}.{k}@x.example") for k in range(4)]
        partners.append(Partner(siret_with_key(f"{9000000000000 + i:013d}"), f"Partenaire {i}", "751",
                                users[0].identifiant, [users[1].identifiant], users,
                                conventions=[Convention(f"C-{i}", ConventionStatus.ACTIVE)]))  # accounts open
    return Registry([caf], partners, scope=FileScope(everything=True))


def service(url: str, n: int) -> Provisioning:
    engine = make_engine(url)
    migrate(engine)
    svc = Provisioning(engine, FakeGateway, MemoryNotifier(), reconcile_mode="worker")
    t0 = time.perf_counter()
    svc.import_registry(NATIONAL, registry(n))
    print(f"  registry of {n} partners stored in {time.perf_counter() - t0:.1f} s")
    return svc


def mutation_latency(svc: Provisioning, rounds: int = 60) -> float:
    client = create_app(svc, Verifier()).test_client()
    siret = siret_with_key(f"{9000000000000:013d}")
    samples = []
    for i in range(rounds):
        t0 = time.perf_counter()
        r = (client.put if i % 2 == 0 else client.delete)(f"/api/v1/partners/{siret}/delegates/u0.2")
        samples.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.get_json()
    return statistics.median(samples[5:])  # the first requests warm caches


def interleaved_edits(svc: Provisioning, edits: int = 200) -> tuple[int, int]:
    """Two clients add `edits` users between them to one partner, reading the ETag before each edit and
    retrying on 409: returns (users expected, users stored)."""
    client = create_app(svc, Verifier()).test_client()
    siret = siret_with_key(f"{9000000000000:013d}")
    before = len(client.get(f"/api/v1/partners/{siret}").get_json()["users"])
    conflicts = [0]

    def worker(name: str, count: int):
        for k in range(count):
            while True:
                etag = client.get(f"/api/v1/partners/{siret}").headers["ETag"]
                r = client.post(f"/api/v1/partners/{siret}/users", headers={"If-Match": etag}, json={
                    "identifiant": f"{name}.{k}", "first_name": "Client", "last_name": name.capitalize(),
                    "email": f"{name}.{k}@x.example"})
                if r.status_code == 201:
                    break
                assert r.status_code == 409 and r.get_json()["code"] == "VERSION_PERIMEE", r.get_json()
                conflicts[0] += 1
    threads = [threading.Thread(target=worker, args=(name, edits // 2)) for name in ("alpha", "beta")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    after = len(client.get(f"/api/v1/partners/{siret}").get_json()["users"])
    print(f"  {conflicts[0]} edits refused with 409 VERSION_PERIMEE and retried")
    return before + edits, after


def big_partner(n: int) -> Registry:
    caf = Caf("751", "Caf de Paris", "habilitations@caf75.example",
              [CafAdministrator("caf.admin", "Claire", "Fontaine", "caf.admin@caf75.example")])
    users = [User(f"p.{k}", "Prénom", "Nom", f"p.{k}@x.example") for k in range(n)]
    return Registry([caf], [Partner(siret_with_key(f"{9100000000000:013d}"), "Grand partenaire", "751",
                                    users[0].identifiant, [users[1].identifiant], users,
                                    conventions=[Convention("C-BIG", ConventionStatus.ACTIVE)])],
                    scope=FileScope(everything=True))


def one_person_on(url: str, people: int, rounds: int = 30, *, whole: bool = False,
                  suspend: bool = False) -> tuple[float, int]:
    """Median latency of adding one person through the API to a partner of `people`, and the bytes of the
    journal entry the last one wrote. The client asks for the change's answer only (`Prefer: return=minimal`,
    RFC 7240); `whole`: for the partner's whole document too, which grows with the partner by nature."""
    import json

    engine = make_engine(url)
    migrate(engine)
    svc = Provisioning(engine, FakeGateway, MemoryNotifier(), reconcile_mode="worker")
    svc.import_registry(NATIONAL, big_partner(people))
    client = create_app(svc, Verifier()).test_client()
    siret = siret_with_key(f"{9100000000000:013d}")
    samples = []
    prefer = {} if whole else {"Prefer": "return=minimal"}
    for i in range(rounds):
        t0 = time.perf_counter()
        if suspend:  # `suspend`: one person in the middle of the partner suspended, then reactivated
            r = (client.post if i % 2 == 0 else client.delete)(
                f"/api/v1/partners/{siret}/users/p.{people // 2}/suspension", headers=prefer)
        else:
            r = client.post(f"/api/v1/partners/{siret}/users", headers=prefer, json={
                "identifiant": f"new.{i}", "first_name": "Nouvelle", "last_name": "Personne",
                "email": f"new.{i}@x.example"})
        samples.append(time.perf_counter() - t0)
        assert r.status_code in (200, 201), r.get_json()
    [entry] = client.get(f"/api/v1/audit?partner={siret}&limit=1").get_json()
    size = len(json.dumps({k: entry[k] for k in ("changes", "summary")}, ensure_ascii=False).encode())
    engine.dispose()
    return statistics.median(samples[5:]), size


def console_reads(url: str, people: int, rounds: int = 15) -> dict[str, float]:
    """Median latency of the consoles' user list on a partner of `people` (issue 27: ≤ 100 ms at 5,000): a
    search, the first page, a page far in, sorted by name — asked by a Caf administrator and by the partner's
    own administrator (whose standing is read from the registry on every request, issue 25)."""
    from provisioning.services import PARTNER_ADMIN, Actor

    engine = make_engine(url)
    migrate(engine)
    svc = Provisioning(engine, FakeGateway, MemoryNotifier(), reconcile_mode="worker")
    svc.import_registry(NATIONAL, big_partner(people))
    siret = siret_with_key(f"{9100000000000:013d}")

    class As:
        def __init__(self, actor):
            self.actor = actor

        def verify(self, header):
            return self.actor
    out = {}
    for who, verifier in (("Caf", Verifier()), ("partner", As(Actor("p.0", frozenset({PARTNER_ADMIN}), partner=siret)))):
        client = create_app(svc, verifier).test_client()
        for label, query in (("search « p.49 »", "q=p.49&limit=50"), ("first page of 50", "limit=50"),
                             (f"page at {people // 2}, by name", f"limit=50&offset={people // 2}&sort=nom")):
            samples = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                r = client.get(f"/api/v1/partners/{siret}/users?{query}")
                samples.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.get_json()
            out[f"{who:7} {label}"] = statistics.median(samples[3:])
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--people", type=int, default=5000, help="the big partner of part 3")
    ap.add_argument("--postgres", action="store_true", help="a throwaway local PostgreSQL instead of SQLite")
    ap.add_argument("--parts", default="1234", help="which parts to run, e.g. 3 or 35 (1 to 4 by default; 5: the "
                    "time of migration 0017 on --large partners)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    pg = None
    if args.postgres:
        import sqlalchemy as sa

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.support.postgres import LocalPostgres
        pg = LocalPostgres()
        base = pg.start()
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")

    def url(tag: str) -> str:
        if pg is None:
            return f"sqlite:///{tmp / f'{tag}.sqlite'}"
        with admin.connect() as c:
            c.execute(sa.text(f"CREATE DATABASE {tag.replace('-', '_')}"))
        return base.rsplit("/", 1)[0] + "/" + tag.replace("-", "_")

    if "1" in args.parts:
        part_1(args, url)
    if "2" in args.parts:
        print("2. two clients, 200 interleaved edits of one partner, If-Match, 409 retried")
        expected, stored = interleaved_edits(service(url("edits"), 10))
        print(f"  users expected {expected}, stored {stored}: {expected - stored} lost update(s) (goal 0)")
    if "3" in args.parts:
        part_3(args, url, pg is not None)
    if "4" in args.parts:
        print(f"4. the consoles' user list on a {args.people}-person partner (goal ≤ 100 ms)")
        for label, seconds in console_reads(url("console"), args.people).items():
            print(f"  {label:40} median {seconds * 1000:6.1f} ms")
    if "5" in args.parts:
        part_5(args, url)
    if pg is not None:
        admin.dispose()
        pg.stop()


def part_5(args, url) -> None:
    """Migration 0017 (people and grants leave the documents for rows): how long a registry's writers stop."""
    from alembic import command

    from provisioning.store.uow import _alembic
    print(f"5. migration 0017 on a registry of {args.large} partners / {args.large * 4} people")
    svc = service(url("migration"), args.large)
    engine = svc.engine
    cfg = _alembic()
    with engine.begin() as conn:  # the registry as the code before 0017 kept it
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0016")
    t0 = time.perf_counter()
    migrate(engine)
    print(f"  migrated in {time.perf_counter() - t0:.1f} s")


def part_1(args, url) -> None:
    print("1. latency of a committed API mutation (worker mode)")
    small, large = service(url("small"), 10), service(url("large"), args.large)
    ratios = []
    for rep in range(args.repeat):
        a, b = mutation_latency(small), mutation_latency(large)
        ratios.append(b / a)
        print(f"  run {rep + 1}: 10 partners {a * 1000:.1f} ms, {args.large} partners {b * 1000:.1f} ms, "
              f"ratio {b / a:.2f}")
    print(f"  ratio median {statistics.median(ratios):.2f} [{min(ratios):.2f}–{max(ratios):.2f}] (goal ≤ 1.3)")


def part_3(args, url, pg: bool) -> None:
    print(f"3. one person added to a 10-person vs a {args.people}-person partner ({'PostgreSQL' if pg else 'SQLite'})")
    ratios = []
    for rep in range(args.repeat):
        (a, size_a), (b, size_b) = one_person_on(url(f"small_{rep}"), 10), one_person_on(url(f"big_{rep}"), args.people)
        ratios.append(b / a)
        print(f"  run {rep + 1}: 10 people {a * 1000:.1f} ms, {args.people} people {b * 1000:.1f} ms, ratio {b / a:.2f}; "
              f"journal entry {size_a} B vs {size_b} B")
    print(f"  ratio median {statistics.median(ratios):.2f} [{min(ratios):.2f}–{max(ratios):.2f}] (goal ≤ 1.2; "
          "journal entry goal ≤ 2 KB)")
    (a, _), (b, _) = one_person_on(url("small_susp"), 10, suspend=True), one_person_on(url("big_susp"), args.people,
                                                                                        suspend=True)
    print(f"  one person suspended or reactivated: 10 people {a * 1000:.1f} ms, {args.people} people {b * 1000:.1f} ms, "
          f"ratio {b / a:.2f}")
    (a, _), (b, _) = one_person_on(url("small_whole"), 10, whole=True), one_person_on(url("big_whole"), args.people,
                                                                                       whole=True)
    print(f"  the same with the partner's whole document in the answer: 10 people {a * 1000:.1f} ms, {args.people} "
          f"people {b * 1000:.1f} ms, ratio {b / a:.2f} (the answer itself grows with the partner)")


if __name__ == "__main__":
    main()
