"""What the production topology's tests measured, and the passwords they typed: one module both the tests and
tests/cluster/conftest.py import (pytest loads a conftest under a name of its own, so state kept in the conftest
is not the state a test module imports from it)."""

from __future__ import annotations

FIGURES: list[str] = []  # printed in the test report (failover, drill, rolling upgrades, the logs' search)
TYPED: set[str] = set()  # passwords the tests set or typed: no process of the topology may log one


def figure(line: str) -> None:
    print(line)
    FIGURES.append(line)
