"""Benchmark of the consoles' user table (issue 12 §4): one page of a partner's users from the API — search
without accents, sort, page — with 2,000 users in that partner (the registry on SQLite, a fake Keycloak):

    .venv/bin/python benchmarks/bench_users_page.py [--users 2000] [--rounds 50] [--repeat 3]

Printed (median and p90 of each query shape over `rounds` requests, per repetition), never asserted.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.bench_core import NATIONAL, Verifier, registry, service
from benchmarks.common import median_p90_ms
from provisioning.api import create_app
from provisioning.domain.model import Partner, User

QUERIES = {"first page by name": "?sort=nom&offset=0&limit=20",
           "search without accents": "?q=ELODIE%20LEFEVRE&sort=nom&limit=20",
           "last page by address, descending": "?sort=courriel&order=desc&offset=1980&limit=20"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        svc = service(f"sqlite:///{Path(tmp) / 'r.sqlite'}", 1)
        reg = registry(1)
        big: Partner = reg.partners[0]
        big.users += [User(f"agent.{i:05d}", f"Prénom{i}", f"Nom{i}", f"agent.{i:05d}@x.example")
                      for i in range(a.users - len(big.users))]
        big.users[-1] = User("elodie.lefevre", "Élodie", "Lefèvre", "elodie.lefevre@x.example")
        svc.import_registry(NATIONAL, reg)
        client = create_app(svc, Verifier()).test_client()
        print(f"users page, {len(big.users)} users in one partner ({a.rounds} requests a shape, {a.repeat} runs)")
        for label, query in QUERIES.items():
            def request(query=query):
                r = client.get(f"/api/v1/partners/{big.siret}/users{query}")
                assert r.status_code == 200, r.get_json()
                return r
            med, p90, r = median_p90_ms(request, a.rounds, a.repeat)
            print(f"  {label:34} median {med:6.1f} ms   p90 {p90:6.1f} ms   (total {r.headers['X-Total-Count']})")

if __name__ == "__main__":
    main()
