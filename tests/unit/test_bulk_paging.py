"""The gateway reads the bulk endpoint by key (issue 27 §3): each page asks for the ids after the last one it
received, never an offset; an extension from before keyset paging (it ignores `after` and answers its first
page again) is met and read by offset instead, without a duplicate or a loop."""

from __future__ import annotations

from types import SimpleNamespace

from provisioning.keycloak.gateway import KeycloakConfig, KeycloakGateway

IDS = [f"{k:08x}-0000-0000-0000-000000000000" for k in range(7)]


class Endpoint:
    def __init__(self, keyset: bool, ids: list[str] = IDS):
        self.keyset, self.ids, self.asked = keyset, ids, []

    def raw_get(self, url, **params):
        self.asked.append(params)
        size, after, first = params["max"], params.get("after"), params.get("first", 0)
        rows = [{"id": i, "members": []} for i in self.ids]
        if self.keyset and after:
            rows = [r for r in rows if r["id"] > after]
        elif not self.keyset or not after:
            rows = rows[first:]
        return SimpleNamespace(status_code=200, json=lambda: rows[:size])


def _gateway(endpoint: Endpoint) -> KeycloakGateway:
    gw = KeycloakGateway(KeycloakConfig("http://keycloak.invalid", client_secret="x"), page_size=3)
    gw.kc = SimpleNamespace(connection=endpoint)
    return gw


def test_pages_are_read_after_the_last_id_not_at_an_offset():
    endpoint = Endpoint(keyset=True)
    got = _gateway(endpoint)._bulk("groups", None)
    assert [g["id"] for g in got] == IDS
    assert [p.get("after") for p in endpoint.asked] == [None, IDS[2], IDS[5]]
    assert not any("first" in p for p in endpoint.asked)


def test_an_extension_without_keyset_paging_is_read_by_offset_once_met():
    endpoint = Endpoint(keyset=False)
    got = _gateway(endpoint)._bulk("users", None)
    assert [g["id"] for g in got] == IDS  # no page twice, none missing
    assert [p.get("first") for p in endpoint.asked if "first" in p] == [0, 3, 6]


def test_an_exact_multiple_of_the_page_ends_with_an_empty_page():
    six = IDS[:6]
    endpoint = Endpoint(keyset=True, ids=six)
    assert [g["id"] for g in _gateway(endpoint)._bulk("groups", "12345678900015")] == six
    assert endpoint.asked[-1]["after"] == six[5] and all(p["partner"] == "12345678900015" for p in endpoint.asked)
