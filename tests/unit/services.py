"""A provisioning service on a fake Keycloak and a SQLite file: what the use-case unit tests run on."""

from __future__ import annotations

from provisioning.keycloak.fake import FakeGateway
from provisioning.notify.notifier import MemoryNotifier
from provisioning.services import Provisioning
from provisioning.store.uow import make_engine, migrate
from tests.unit.factories import TODAY


def make_service(tmp_path, notifier=None, **options) -> Provisioning:
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    migrate(engine)
    gw = FakeGateway()
    svc = Provisioning(engine, lambda: gw, notifier or MemoryNotifier(), today=lambda: TODAY, **options)
    svc.fake = gw
    return svc
