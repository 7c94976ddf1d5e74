"""Issue 14: the production topology (devstack.cluster) brought up once for this directory's tests, on its own
ports (base 18443) so a developer's `up.sh --cluster` (base 8443) can stay up. It is torn down after these tests; its
logs stay in .run/cluster-test/ for a failed run to be read."""

from __future__ import annotations

import os

import pytest
import requests

from devstack.cluster import Cluster
from tests.support.topology_report import FIGURES, TYPED, figure

TEST_BASE = int(os.environ.get("MCP_TEST_CLUSTER_BASE", "18443"))


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.write_line("production topology, measured (issues 14 and 30):")
        for line in FIGURES:
            terminalreporter.write_line("  " + line)


def leaked(c: Cluster) -> tuple[int, list[str]]:
    """Issue 30 §2 for the processes of the topology (they log to their own files, not the test run's): every
    log file is searched for any token, the passwords the tests typed, the provisional passwords the workers
    generated (read back from the mails they sent) and every secret the topology was given. (lines, leaks)"""
    from tests.support.run_logs import mailed_passwords, search_files
    secrets = set(TYPED) | set(c.secrets().values()) | mailed_passwords(c.dir / "mails.jsonl")
    return search_files(sorted(c.dir.glob("*.log")), secrets)


@pytest.fixture(scope="package")  # torn down as soon as tests/cluster is done, not at the end of the run
def cluster():
    keep = os.environ.get("MCP_TEST_CLUSTER_KEEP") == "1"  # iterate on the tests against a cluster left up
    c = Cluster(name="cluster-test", base=TEST_BASE, lease_seconds=6)
    if not keep:
        c.down(reset=True)
    try:
        c.up(say=lambda m: print(m, flush=True))
        yield c
    finally:
        if not keep:
            c.down()
    lines, found = leaked(c)
    figure(f"logs of the topology: {lines} lines searched ({len(TYPED)} typed passwords among what was looked "
           "for): no password, secret or token" if not found else
           f"logs of the topology: {len(found)} leak(s)")
    assert found == [], found


@pytest.fixture
def cluster_env(cluster, monkeypatch):
    """This test process talks to the cluster as its services do (same settings, same trusted certificate)."""
    for k, v in cluster.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("MCP_ENV", "")  # the test drives the service in-process; it is no production process
    return cluster


class Browser:
    """A user's browser over HTTPS through the load balancer (requests, cookies kept, forms filled)."""

    def __init__(self, cluster: Cluster):
        self.http = requests.Session()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE of the machine would replace our certificate
        self.http.verify = str(cluster.ca_file)

    def get(self, url: str) -> requests.Response:
        return self.http.get(url, timeout=30)

    def submit(self, resp: requests.Response, values: dict[str, str] | None = None, *, form_index: int = 0
               ) -> requests.Response:
        from urllib.parse import urljoin

        from bs4 import BeautifulSoup
        soup = BeautifulSoup(resp.text, "html.parser")
        forms = soup.find_all("form", attrs={"method": lambda m: m and m.lower() == "post"})
        assert forms, f"no form on {resp.url}: {soup.get_text(' ', strip=True)[:500]}"
        form = forms[form_index]
        fields = {i["name"]: i.get("value", "") for i in form.find_all("input")
                  if i.get("name") and i.get("type") not in ("submit", "button", "checkbox")}
        fields.update(values or {})
        return self.http.post(urljoin(resp.url, form["action"]), data=fields, timeout=30)

    def node(self) -> str:
        """The Keycloak node the load balancer pinned this browser's login to (kc1, kc2)."""
        return next(c.value for c in self.http.cookies if c.name == "MCP_KC_NODE")
