"""Issue 14: the production topology's configuration, as data: every service behind the load balancer with its
instances, Keycloak's fallback backend, no port shared between the demo topology and the tests' one."""

from __future__ import annotations

import re

from devstack.cluster import PORTS, SERVICES, Cluster


def _backend(cfg: str, name: str) -> list[str]:
    block = cfg.split(f"backend {name}\n", 1)[1]
    return re.split(r"\n(?=frontend |backend |listen )", block, maxsplit=1)[0].splitlines()


def test_each_service_has_both_instances_checked_and_no_stickiness(tmp_path, monkeypatch):
    c = Cluster(name="x", base=30000)
    cfg = c.haproxy_config()
    for service in SERVICES:
        lines = _backend(cfg, f"be_{service}")
        servers = [line for line in lines if line.strip().startswith("server ")]
        assert [s.split()[2] for s in servers] == [f"127.0.0.1:{c.instance_port(service, i)}" for i in range(2)]
        assert all(s.endswith(" check") for s in servers) and not any("cookie" in line for line in lines)
        assert f"bind 127.0.0.1:{c.port('lb_' + service)} ssl crt" in cfg


def test_keycloak_logins_stick_to_a_node_and_fall_back_on_live_nodes(tmp_path):
    c = Cluster(name="x", base=30000)
    cfg = c.haproxy_config()
    ready, degraded = _backend(cfg, "be_keycloak"), _backend(cfg, "be_keycloak_degraded")
    assert "  option httpchk GET /health/ready" in ready and "  option httpchk GET /health/live" in degraded
    for lines in (ready, degraded):
        assert any("cookie MCP_KC_NODE insert" in line for line in lines)
        assert sum(line.strip().startswith("server kc") for line in lines) == 2
    assert "use_backend be_keycloak_degraded if { nbsrv(be_keycloak) eq 0 }" in cfg
    assert any(line.strip().startswith("http-response return status 503") for line in degraded)


def test_the_demo_and_the_test_topologies_share_no_port():
    def ports(c: Cluster) -> set[int]:
        out = {c.port(k) for k in PORTS if k != "instances"}
        out |= {c.port(k, 1) for k in ("kc_http", "kc_management", "kc_cluster")}
        out |= {c.instance_port(s, i) for s in SERVICES for i in range(c.instances)}
        return out
    demo, test, bench = Cluster(), Cluster(name="cluster-test", base=18443), Cluster(name="cluster-bench", base=28443)
    assert len(ports(demo)) == len(ports(test)) == 12 + 3 + 8  # nothing collides inside one topology either
    assert not ports(demo) & ports(test) and not ports(test) & ports(bench) and not ports(demo) & ports(bench)
    assert not ports(demo) & {8080, 9000, 8081, 8082, 8083, 8090, 1025, 8025}  # README command 1's stack
