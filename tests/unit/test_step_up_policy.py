"""Issue 13: which services ask a second factor is configuration, and an app refuses any token below the level it
requires, the ID token and the access token alike."""

from sso_demo.auth import acr_refusal
from sso_demo.config import AppConfig, acr_level


def _cfg(client_id: str, services=("CDAP",)) -> AppConfig:
    return AppConfig(client_id=client_id, client_secret="x", base_url="http://localhost", issuer="http://kc/realms/r",
                     second_factor_services=services)


def test_cdap_alone_requires_level_2_by_default_and_afas_can_be_added_without_code(monkeypatch):
    assert _cfg("cdap").required_acr == "niveau-2"
    assert _cfg("afas").required_acr == "" and _cfg("portail").required_acr == ""
    assert _cfg("afas", ("CDAP", "AFAS")).required_acr == "niveau-2"
    monkeypatch.setenv("MCP_SECOND_FACTOR_SERVICES", "cdap, afas")
    assert AppConfig.from_env("afas").required_acr == "niveau-2"
    monkeypatch.delenv("MCP_SECOND_FACTOR_SERVICES")
    assert AppConfig.from_env("afas").required_acr == ""


def test_levels_are_read_from_our_names_and_keycloak_numbers():
    assert [acr_level(x) for x in ("niveau-2", "niveau-1", "1", "0", None, "gold")] == [2, 1, 1, 0, 0, 0]


def test_a_level_1_token_is_refused_where_level_2_is_required_even_if_one_of_the_two_tokens_is_level_2():
    assert acr_refusal("niveau-2", {"acr": "niveau-2"}, {"acr": "niveau-2"}) is None
    assert "niveau-1 insuffisant" in acr_refusal("niveau-2", {"acr": "niveau-2"}, {"acr": "niveau-1"})
    assert "absent insuffisant" in acr_refusal("niveau-2", {}, {"acr": "niveau-2"})
    assert acr_refusal("niveau-2", {"acr": "0"}, {"acr": "0"})  # an SSO-cookie login is not a second factor
    assert acr_refusal("", {"acr": "0"}) is None  # level 1 services accept any valid token
