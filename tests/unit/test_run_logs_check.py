"""The end-of-run search of the log lines (tests/support/run_logs.py) finds what it is meant to find: a generated
password written anywhere, a JWT, a bearer token; and not the redaction's own mark."""

from __future__ import annotations

from tests.support.run_logs import leaks


def test_a_password_or_a_token_in_the_lines_is_found():
    assert leaks('{"message": "sent Xy7!pQ2#mN9@kL4$ to her"}', {"Xy7!pQ2#mN9@kL4$"}) == ["mot de passe Xy7…"]
    assert leaks('{"m": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2ln"}', set())[0].startswith("jeton eyJ")
    assert leaks('{"m": "Authorization: Bearer abcdefgh12345"}', set()) == ["jeton Bearer abcde…"]


def test_hidden_secrets_and_short_strings_are_not_leaks():
    assert leaks('{"m": "Authorization: Bearer [caché]", "p": "[caché]"}', {"Xy7!pQ2#mN9@kL4$"}) == []
    assert leaks('{"m": "abc"}', {"abc"}) == []  # too short to be one of ours: it would match anything


def test_the_run_records_the_passwords_it_generates():
    from provisioning.usecases import base, mail
    from tests.support.run_logs import GENERATED
    assert getattr(mail.generate_password, "recording", False), "installed by tests/conftest.py at collection"
    password = mail.generate_password()
    assert password in GENERATED and base.generate_password is mail.generate_password
