"""Issue 30 §1: the figures an operations team watches, in the Prometheus format, scraped as Prometheus would —
and moving when work happens: requests by route and status, the reconcile queue (by state, its oldest waiting
request, the claimed ones), the outbox (due, waiting, dead letters), mails sent or dead, the leases held.
`/metrics` answers only the supervision's bearer token."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from provisioning import metrics
from provisioning.api import create_app
from provisioning.reconcile.worker import run_once
from tests.unit.factories import example_data, registry
from tests.unit.services import make_service
from tests.unit.test_api_contract import ACTORS
from tests.unit.test_api_usecases import Verifier
from tests.unit.test_desired_state_files import NATIONAL

A = "12345678900015"
TOKEN = "jeton-de-supervision-de-test"


def _scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.mimetype == "text/plain"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.get_data(as_text=True)) for s in family.samples}


def _value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _service(store):
    svc = make_service(store, reconcile_mode="worker")
    svc.import_registry(NATIONAL, registry(example_data()))
    run_once(svc)
    svc.deliver_notifications()
    return svc


def test_metrics_are_served_to_the_supervision_token_only(use_case_store):
    svc = _service(use_case_store)
    assert create_app(svc, Verifier(ACTORS)).test_client().get("/metrics").status_code == 404  # no token: none
    client = create_app(svc, Verifier(ACTORS), metrics_token=TOKEN).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer caf"}).status_code == 401  # a person's token
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_the_figures_move_when_work_happens(use_case_store):
    svc = _service(use_case_store)
    client = create_app(svc, Verifier(ACTORS), metrics_token=TOKEN).test_client()
    before = _scrape(client)
    assert _value(before, "mcp_reconcile_oldest_waiting_seconds") == 0.0  # Keycloak follows everything
    route = "/api/v1/partners/<siret>/users"

    r = client.post(f"/api/v1/partners/{A}/users", headers={"Authorization": "Bearer caf"},
                    json={"identifiant": "nouvelle.venue", "first_name": "Nouvelle", "last_name": "Venue",
                          "email": "nouvelle.venue@hirondelles.example"})
    assert r.status_code == 201
    client.post(f"/api/v1/partners/{A}/users", headers={"Authorization": "Bearer caf"}, json={"identifiant": 1})
    waiting = _scrape(client)
    assert _value(waiting, "mcp_http_requests_total", app="api", route=route, method="POST", status="201") == \
        _value(before, "mcp_http_requests_total", app="api", route=route, method="POST", status="201") + 1
    assert _value(waiting, "mcp_http_requests_total", app="api", route=route, method="POST", status="400") >= 1
    assert _value(waiting, "mcp_http_request_seconds_count", app="api", route=route) >= 2
    assert _value(waiting, "mcp_reconcile_requests", state="pending") == 1  # the change waits for the worker
    assert _value(waiting, "mcp_reconcile_oldest_waiting_seconds") > 0

    applied = _value(waiting, "mcp_reconcile_changes_total", kind="user", action="create", outcome="applied")
    sent = _value(waiting, "mcp_mails_total", kind="credentials", outcome="sent")
    run_once(svc)  # the worker: the account, then her codes
    after = _scrape(client)
    assert _value(after, "mcp_reconcile_requests", state="pending") == 0
    assert _value(after, "mcp_reconcile_oldest_waiting_seconds") == 0.0
    assert _value(after, "mcp_reconcile_changes_total", kind="user", action="create", outcome="applied") == applied + 1
    assert _value(after, "mcp_mails_total", kind="credentials", outcome="sent") == sent + 1
    assert _value(after, "mcp_reconcile_seconds_count", scope="partner") >= 1


def test_a_dead_letter_and_a_held_lease_show(use_case_store):
    svc = _service(use_case_store)
    client = create_app(svc, Verifier(ACTORS), metrics_token=TOKEN).test_client()
    with svc.uow() as uow:
        uow.outbox.put("x@caf75.example", "s", "b", caf="751")
        token, [row] = uow.outbox.claim()
        uow.outbox.failed(row.id, token, "refusé", attempts=8)
        uow.outbox.put("y@caf75.example", "s", "b", caf="751")
        uow.leases.acquire("reconcile-worker", "hôte-1:42", 60)
        uow.commit()
    samples = _scrape(client)
    assert _value(samples, "mcp_outbox", state="dead") == 1
    assert _value(samples, "mcp_outbox", state="due") == 1 and _value(samples, "mcp_outbox", state="waiting") == 1
    assert _value(samples, "mcp_lease_held", lease="reconcile-worker", holder="hôte-1:42") == 1


def test_keycloak_operations_are_few_labels_whatever_the_ids():
    assert metrics.operation("GET /users/9f0c2d3e-1b2a-4c5d-8e9f-0a1b2c3d4e5f/credentials") == \
        "GET /users/{x}/credentials"
    assert metrics.operation("GET /attack-detection/brute-force/users/abc-123") == \
        "GET /attack-detection/brute-force/users/{x}"
    assert metrics.operation("création de l'organisation partenaire-12345678900015") == "création de l'organisation"
    assert metrics.operation("création du groupe /partenaires/12345678900015/CDAP Consulter") == "création du groupe"
    assert metrics.operation("create user") == "create user"


def test_the_applications_count_their_pages_too(tmp_path):
    from sso_demo import portal
    from tests.unit.test_pages_make_no_remote_call import _cfg
    cfg = _cfg(tmp_path)
    app = portal.create_app(type(cfg)(**{**cfg.__dict__, "metrics_token": TOKEN}))
    client = app.test_client()
    client.get("/mentions-legales")
    samples = _scrape(client)
    assert _value(samples, "mcp_http_requests_total", app="portail", route="/mentions-legales", method="GET",
                  status="200") >= 1
    assert client.get("/metrics").status_code == 401
