"""Issue 30 §2: one request id from the click to the mail. The API takes the caller's `X-Request-Id` (well formed)
or makes one, answers it, writes it with the audit entries, mails and reconcile request the request causes; the
worker's run and the sender's lines carry it; the applications send their page's id on to the API. Lines are
JSON with the id, and no secret leaves in them."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timedelta

import pytest

from provisioning import logs
from provisioning.reconcile.worker import run_once
from provisioning.services import CAF_ADMIN, Actor
from tests.unit.services import example_api

SIRET = "12345678900015"
CAF = {"Authorization": "Bearer caf"}
RID = "portail-4f1c2b9e0d7a"


@pytest.fixture
def api(use_case_store):
    client = example_api(use_case_store, {"caf": Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751")})
    client.svc.reconcile_mode = "worker"  # the change answers once stored; the worker follows
    return client


@pytest.fixture
def lines():
    """Every log line of the test, as the processes write them (JSON, redacted), parsed."""
    buf = io.StringIO()
    h = logs.handler("test", stream=buf, fmt="json")
    root = logging.getLogger()
    old = root.level
    root.addHandler(h)
    root.setLevel(logging.INFO)
    parsed: list[dict] = []

    def read() -> list[dict]:
        parsed[:] = [json.loads(line) for line in buf.getvalue().splitlines()]
        return parsed
    yield read
    root.removeHandler(h)
    root.setLevel(old)


def _add(api, ident: str, headers: dict | None = None):
    return api.post(f"/api/v1/partners/{SIRET}/users", headers={**CAF, **(headers or {})}, json={
        "identifiant": ident, "first_name": "Nina", "last_name": "Morel", "email": f"{ident}@example.org"})


def test_one_id_from_the_request_to_the_audit_the_mails_the_worker_and_the_sender(api, lines):
    svc = api.svc
    run_once(svc)  # what the set-up left queued (the realm's first request) done first
    r = _add(api, "nina.morel", {logs.HEADER: RID})
    assert r.status_code == 201 and r.headers[logs.HEADER] == RID
    entries = api.get(f"/api/v1/audit?request_id={RID}", headers=CAF).get_json()
    assert entries and all(e["request_id"] == RID for e in entries)
    assert any(e["subject"] == "nina.morel" for e in entries)
    with svc.uow() as uow:
        mails = [m for m in uow.outbox.list(waiting=True) if m["request_id"] == RID]
        assert mails, "the Caf's report (R9) is written with the request's id"
    assert run_once(svc) >= 1  # the worker creates her account: its run, its journal and her codes' intent
    with svc.uow() as uow:
        codes = [m for m in uow.outbox.list() if m["kind"] == "credentials" and m["username"] == "nina.morel"]
        assert [m["request_id"] for m in codes] == [RID]
        assert {e["request_id"] for e in uow.audit.list(subject="nina.morel")} == {RID}
    svc.deliver_notifications()
    mine = [line for line in lines() if line["request_id"] == RID]
    assert {line["logger"] for line in mine} >= {"api.requests", "provisioning.reconcile.worker",
                                                  "provisioning.usecases.mail"}
    access = next(line for line in mine if line["logger"] == "api.requests")
    assert (access["method"], access["path"], access["status"]) == ("POST", f"/api/v1/partners/{SIRET}/users", 201)
    assert access["process"] == "test" and access["level"] == "INFO"
    assert datetime.fromisoformat(access["time"]).utcoffset() == timedelta(0)  # ISO 8601, UTC
    assert any(line["message"].startswith(f"reconcile {SIRET}") for line in mine)
    assert sum(line["message"].endswith("(credentials): sent") for line in mine) == 1


@pytest.mark.parametrize("hostile", ["x\tFORGED log line", "<script>alert(1)</script>", "a" * 65, "short",
                                     "id with spaces", "ïdentifiant-accentué"])
def test_a_malformed_id_is_replaced_never_written(api, hostile, lines):
    r = _add(api, "nina.morel", {logs.HEADER: hostile.encode("utf-8").decode("latin-1")})
    rid = r.headers[logs.HEADER]
    assert r.status_code == 201 and rid != hostile and len(rid) == 32 and int(rid, 16) >= 0
    assert [e["request_id"] for e in api.get(f"/api/v1/audit?request_id={rid}", headers=CAF).get_json()][:1] == [rid]
    assert all("FORGED" not in json.dumps(line) and "<script>" not in json.dumps(line) for line in lines())
    assert api.get(f"/api/v1/audit?request_id={hostile[:64]}", headers=CAF).status_code in (400, 200)


def test_each_request_has_its_own_id_and_refusals_have_one_too(api):
    a, b = _add(api, "nina.morel"), _add(api, "nina.morel")
    assert a.headers[logs.HEADER] != b.headers[logs.HEADER] and b.status_code == 422
    assert api.get("/api/v1/partners", headers={"Authorization": "Bearer nobody"}).headers[logs.HEADER]
    assert api.get("/api/v1/partners").headers[logs.HEADER]  # 401: found in the logs all the same


def test_the_applications_send_their_request_id_on_to_the_api(monkeypatch):
    import requests
    from flask import Flask

    from sso_demo import apiclient
    sent = {}
    monkeypatch.setattr(apiclient, "user_access_token", lambda: "t")
    monkeypatch.setattr(requests, "request", lambda method, url, headers, **kw: sent.update(headers) or "answer")
    app = Flask("x")
    app.config["MCP"] = type("Cfg", (), {"api_url": "http://api.invalid"})()
    logs.install_flask(app, "portail")

    @app.get("/page")
    def page():
        apiclient.call("GET", "/api/v1/me")
        return logs.current() or ""
    r = app.test_client().get("/page", headers={logs.HEADER: RID})
    assert r.get_data(as_text=True) == RID and sent[logs.HEADER] == RID and r.headers[logs.HEADER] == RID


@pytest.mark.parametrize("secret_line, secret", [
    ("Authorization: Bearer abcdefgh.ijklmnop-qrst", "abcdefgh.ijklmnop-qrst"),
    ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl", "eyJhbGciOiJSUzI1NiJ9"),
    ("GET /callback?code=8f3a-secret-code&state=s3cr3t-state HTTP/1.1", "8f3a-secret-code"),
    ("GET /callback?code=8f3a-secret-code&state=s3cr3t-state HTTP/1.1", "s3cr3t-state"),
    ('{"password": "Mcp-Provisoire-9a!"}', "Mcp-Provisoire-9a!"),
    ("client_secret=demo-only-provisioning-secret", "demo-only-provisioning-secret"),
    ("Votre mot de passe provisoire : Xy7!pQ2#mN9@kL4$", "Xy7!pQ2#mN9@kL4$"),
    ("Votre mot de passe provisoire\u00a0: !Xy7pQ2#mN9", "!Xy7pQ2#mN9"),  # as the mail leaves (French spacing)
])
def test_no_secret_leaves_in_a_line(lines, secret_line, secret):
    log = logging.getLogger("provisioning.test")
    log.warning("seen: %s", secret_line)
    log.info("as extra", extra={"detail": secret_line})
    try:
        raise RuntimeError(secret_line)
    except RuntimeError:
        log.exception("failed")
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines())
    assert secret not in text and logs.HIDDEN in text and len(lines()) == 3


def test_a_message_whose_arguments_do_not_fit_is_still_logged(lines):
    logging.getLogger("provisioning.test").warning("two %s %s", "only-one")
    assert "only-one" in lines()[0]["message"]


def test_two_requests_served_at_once_keep_their_own_ids(api):
    """Threads of one process (gunicorn's, the development server's): each request's writes carry its own id."""
    import threading
    barrier = threading.Barrier(2)
    answers: dict[str, int] = {}

    def add(ident: str, rid: str) -> None:
        barrier.wait()
        answers[rid] = _add(api, ident, {logs.HEADER: rid}).status_code
    threads = [threading.Thread(target=add, args=(f"nina.morel{i}", f"parallel-request-{i}")) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(answers.values()) <= {201, 409}  # one may lose the partner's version race: it writes nothing
    for rid, status in answers.items():
        subjects = {e["subject"] for e in api.get(f"/api/v1/audit?request_id={rid}", headers=CAF).get_json()}
        assert subjects == ({f"nina.morel{rid[-1]}"} if status == 201 else set()), rid


def test_the_files_of_other_processes_are_searched_for_what_their_workers_mailed(tmp_path):
    """Issue 30 §2: the production topology's processes log to their own files; a provisional password a worker
    generated is known only from the mail it sent, and found if any file holds it."""
    import json as _json

    from tests.support.run_logs import mailed_passwords, search_files
    (tmp_path / "mails.jsonl").write_text(_json.dumps({"body": "Votre mot de passe provisoire\u00a0: Zq8!mN2#pL5@"})
                                          + "\n")
    secrets = mailed_passwords(tmp_path / "mails.jsonl")
    assert secrets == {"Zq8!mN2#pL5@"}
    (tmp_path / "worker-1.log").write_text('{"message": "ok"}\n')
    (tmp_path / "api-1.log").write_text('{"message": "sent Zq8!mN2#pL5@"}\n{"message": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.x"}\n')
    lines, found = search_files(sorted(tmp_path.glob("*.log")), secrets)
    assert lines == 3 and len(found) == 2 and all(f.startswith("api-1.log: ") for f in found)
