"""Losing access ends sessions everywhere (issue 10 §8): for each way a person loses access, their live
sessions in the portal, CDAP and AFAS end at once and the next request asks to log in again.
Regression: a live AFAS session kept working after its service or its convention was suspended."""

from __future__ import annotations

import pytest

from provisioning.domain.model import ConventionStatus, Group, Service
from tests.browser.conftest import OPERATOR
from tests.browser.helpers import login, second_factor

A, B = "12345678900015", "98765432100015"
CONV_A, CONV_B = "CONV-751-2026-0001", "CONV-751-2026-0002"


def _suspend_service(svc, on: bool):
    svc.suspend_service(OPERATOR, A, CONV_A, Service.AFAS, on)


def _suspend_convention(svc, on: bool):
    svc.transition_convention(OPERATOR, A, CONV_A, ConventionStatus.SUSPENDED if on else ConventionStatus.ACTIVE)


def _remove_from_bulletin(svc, on: bool):
    svc.set_membership(OPERATOR, A, CONV_A, Service.CDAP, "lea.petit", set() if on else {Group.CDAP_CONSULTER},
                       set())


def _lost_credentials(svc, on: bool):
    if on:
        svc.report_lost_credentials(OPERATOR, A, "paul.bernard")
    else:
        svc.reissue_credentials(OPERATOR, A, "paul.bernard")


def _terminate_convention(svc, on: bool):
    if on:
        svc.transition_convention(OPERATOR, B, CONV_B, ConventionStatus.TERMINATED)


CAUSES = [  # (id, user, take access away / give it back)
    ("service-suspendu", "paul.bernard", _suspend_service),
    ("convention-suspendue", "paul.bernard", _suspend_convention),
    ("retrait-du-bulletin", "lea.petit", _remove_from_bulletin),
    ("codes-perdus", "paul.bernard", _lost_credentials),
    ("convention-resiliee", "b.paul.bernard", _terminate_convention),  # last: a termination is final
]


@pytest.mark.parametrize("user, cause", [(u, c) for _, u, c in CAUSES], ids=[i for i, _, _ in CAUSES])
def test_losing_access_ends_live_sessions_in_the_three_applications(stack, new_page, user, cause):
    stack.ready_user(user)
    page = new_page()
    login(page, stack.urls["portail"] + "/", user)
    page.goto(stack.urls["cdap"] + "/")
    second_factor(page, user)
    page.goto(stack.urls["afas"] + "/")
    assert "ALSH-0001" in page.inner_text("main"), "AFAS works before"
    kc_user = stack.kc_admin.user_by_username(user)
    assert stack.kc_admin.get(f"/users/{kc_user['id']}/sessions")

    cause(stack.provisioning, True)
    stack.settle()  # the reconcile worker applies it (removals and session cuts first)
    try:
        assert stack.kc_admin.get(f"/users/{kc_user['id']}/sessions") == []
        for app in ("afas", "cdap", "portail"):
            page.goto(stack.urls[app] + "/")
            assert page.query_selector("#kc-login"), f"{app} still served a session after losing access"
    finally:
        cause(stack.provisioning, False)
        stack.settle()
        if cause is _lost_credentials:
            stack.forget(user)  # re-issue set a new provisional password
