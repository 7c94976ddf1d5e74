"""Benchmark of the SCIM directory (issue 16): what a Caf service asks most — one person by id, a `userName eq`
search, a page of the Caf's users, a `co` filter over them, its groups — with N partners of 4 people in one Caf
(the registry on SQLite, in-process WSGI, no network):

    .venv/bin/python benchmarks/bench_scim.py [--partners 500] [--rounds 30] [--repeat 3] [--national]

Printed (median and p90 of each request shape over `rounds` requests, per repetition), never asserted. A user
search on identifiants or addresses asks the index in SQL and builds only the people it finds; `emails co "9.1@"`
finds a tenth of the partners' second users. The groups still build every partner of the Caf
(docs/provisioning.md « SCIM »): this is where it shows.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from urllib.parse import quote

from werkzeug.test import Client

from benchmarks.bench_core import Verifier, service
from benchmarks.common import median_p90_ms
from provisioning.api import create_app
from provisioning.scim.resources import PartnerUser
from provisioning.services import Actor

EXT = str(PartnerUser.__schema__)
CAF_SERVICE = Actor("service-account-caf-services", frozenset({"scim:lecture"}), caf="751")
NATIONAL_SERVICE = Actor("service-account-cnaf", frozenset({"scim:lecture-nationale"}))


class ScimVerifier:
    def __init__(self, actor: Actor = CAF_SERVICE):
        self.actor = actor

    def verify(self, header):
        return self.actor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--partners", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--national", action="store_true", help="a national token (scim:lecture-nationale)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        svc = service(f"sqlite:///{Path(tmp) / 'r.sqlite'}", a.partners)
        client = Client(create_app(svc, Verifier(), ScimVerifier(NATIONAL_SERVICE if a.national else CAF_SERVICE)))
        last = f"u{a.partners - 1}.2"
        siret = svc.registry().partner_of(last).siret
        shapes = {"one person by id": f"/Users/{last}",
                  "userName eq": "/Users?filter=" + quote(f'userName eq "{last}"'),
                  "a page of the Caf's users (50)": "/Users?count=50&startIndex=101",
                  "emails co, sorted, first 20": "/Users?count=20&sortBy=userName&filter=" + quote('emails co "9.1@"'),
                  "emails co, a few people": "/Users?filter=" + quote(f'emails co "u{a.partners - 1}."'),
                  "one partner's users (siret eq)": "/Users?filter=" + quote(f'{EXT}:siret eq "{siret}"'),
                  "the Caf's groups (50)": "/Groups?count=50"}
        print(f"SCIM, {a.partners} partners / {a.partners * 4} users in one Caf, {'national' if a.national else 'Caf'} "
              f"token ({a.rounds} requests a shape, {a.repeat} runs)")
        for label, path in shapes.items():
            def request(path=path):
                r = client.get("/scim/v2" + path, headers={"Authorization": "Bearer x"})
                assert r.status_code == 200, r.get_data(as_text=True)[:300]
                return r
            med, p90, _ = median_p90_ms(request, a.rounds, a.repeat)
            print(f"  {label:34} median {med:7.1f} ms   p90 {p90:7.1f} ms")

if __name__ == "__main__":
    main()
