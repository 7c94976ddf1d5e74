"""The fake Keycloak is called from the apply's four threads: its ids must come out whole and unique under
concurrent calls (CI49 failed once on « generator already executing » when its ids were a Python generator)."""

from __future__ import annotations

import threading

from provisioning.keycloak.fake import FakeGateway


def test_ids_handed_out_by_four_threads_at_once_are_unique_and_never_refused():
    for gw in (FakeGateway(), FakeGateway().copy()):
        got: list[str] = []
        errors: list[BaseException] = []

        def take(gw=gw, got=got, errors=errors):
            try:
                for _ in range(50_000):
                    got.append(next(gw._ids))
            except BaseException as e:  # noqa: BLE001 (what the race raised is what the test reports)
                errors.append(e)
        threads = [threading.Thread(target=take) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == [] and len(got) == 200_000 and len(set(got)) == 200_000
