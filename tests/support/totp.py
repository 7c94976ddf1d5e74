"""Authenticator codes for the tests without waiting for the next 30-second window (issue 24).

Keycloak refuses a code it has already accepted, and accepts the codes of the windows next to the current one
(its default look-around of 1 window: otpPolicyLookAheadWindow). So a code not given yet is the current
window's or, once that one is spent, the next window's — no sleep, unless both were given already."""

from __future__ import annotations

import time

import pyotp

_GIVEN: dict[str, set[int]] = {}  # secret -> the windows (time steps) whose code was given


def fresh_code(totp: pyotp.TOTP) -> str:
    """A code Keycloak accepts now and has not seen."""
    given = _GIVEN.setdefault(totp.secret, set())
    while True:
        current = int(time.time()) // totp.interval
        for step in (current, current + 1):
            if step not in given:
                given.add(step)
                return totp.at(step * totp.interval)
        time.sleep(1)  # both spent: the next window opens within 30 s (never seen in the suite)
