"""A provisioning service on a fake Keycloak and a registry: in memory for the use-case unit tests
(provisioning/store/memory.py), a SQLite file for the store's own tests, PostgreSQL where the integration tests
rerun them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from provisioning.keycloak.fake import FakeGateway
from provisioning.notify.notifier import MemoryNotifier
from provisioning.paperwork.fake import FakeSignatory, fake_render
from provisioning.services import Provisioning
from provisioning.store.memory import MemoryStore
from provisioning.store.uow import make_engine, migrate
from tests.unit.factories import TODAY

_MIGRATED: list[Path] = []  # one registry migrated to head per test process, copied for each test


def sqlite_engine(tmp_path):
    """A migrated registry of its own for each test: a copy of one migrated once (running the eleven
    migrations for every test was a third of the unit suite's time)."""
    if not _MIGRATED:
        template = Path(tempfile.mkdtemp(prefix="mcp-registry-template-")) / "registry.sqlite"
        engine = make_engine(f"sqlite:///{template}")
        migrate(engine)
        engine.dispose()
        _MIGRATED.append(template)
    path = tmp_path / "registry.sqlite"
    shutil.copyfile(_MIGRATED[0], path)
    return make_engine(f"sqlite:///{path}")


def make_service(store, notifier=None, **options) -> Provisioning:
    """`store`: the `use_case_store` fixture (a MemoryStore here) or `use_case_engine` (a SQLite engine) —
    PostgreSQL for both where the integration tests rerun the same tests (tests/integration/
    test_usecases_on_postgresql_*.py)."""
    gw = FakeGateway()
    # fake documents and signatures unless the test is about them (test_paperwork_usecases.py: WeasyPrint and
    # the local test PKI)
    options.setdefault("signatory", FakeSignatory())
    options.setdefault("renderer", fake_render)
    if isinstance(store, MemoryStore):
        options.setdefault("uow", store.unit_of_work)
        store = None
    svc = Provisioning(store, lambda: gw, notifier or MemoryNotifier(), today=lambda: TODAY, **options)
    svc.fake = gw
    return svc


def reconciled_service(store) -> Provisioning:
    """Worker mode (changes answer once stored), the example registry imported and reconciled by the worker."""
    from provisioning.reconcile.worker import run_once
    from tests.unit.factories import registry
    from tests.unit.test_desired_state_files import NATIONAL
    s = make_service(store, reconcile_mode="worker")
    s.import_registry(NATIONAL, registry())
    run_once(s)
    return s


def example_api(store, actors: dict, data: dict | None = None):
    """The API's test client over the example registry (or `data`), imported and reconciled, for the callers
    named in `actors` (a bearer token is an actor's name); `client.svc` is the service behind it."""
    from provisioning.api import create_app
    from tests.unit.factories import example_data, registry
    from tests.unit.test_api_usecases import Verifier
    from tests.unit.test_desired_state_files import NATIONAL
    svc = make_service(store)
    svc.import_registry(NATIONAL, registry(data if data is not None else example_data()))
    svc.reconcile(NATIONAL)
    client = create_app(svc, Verifier(actors)).test_client()
    client.svc = svc
    return client
