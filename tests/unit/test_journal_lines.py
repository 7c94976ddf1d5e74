"""Issue 29 §6: the journal shows people's actions one line each, and what Keycloak did after them (the
reconciler's entries, one per object) as one human line with its details on demand."""

from __future__ import annotations

from sso_demo.portal.api_views import grouped


def _row(action: str, actor: str = "reconcile", subject: str | None = None, summary: str = "") -> dict:
    return {"at": "2026-12-05T09:00:00+00:00", "actor": actor, "action": action, "subject": subject,
            "summary": summary, "object": "x"}


def test_the_reconcilers_entries_fold_into_one_line_between_peoples_actions():
    rows = [_row("create-user", "jeanne.dupont", "zoe.martin", "zoe.martin créé"),
            _row("keycloak:create:user", subject="zoe.martin"), _row("keycloak:create:user", subject="hugo.blanc"),
            _row("keycloak:add:membership", subject="zoe.martin"),
            _row("suspend-user", "caf.admin", "paul.bernard", "paul.bernard suspendu"),
            _row("keycloak:echec:create:user", subject="ines.roy")]
    out = grouped(rows)
    assert [r["action"] for r in out] == ["create-user", "keycloak:create:user", "suspend-user",
                                          "keycloak:echec:create:user"]
    folded = out[1]
    assert len(folded["details"]) == 3 and folded["summary"].startswith("Keycloak mis à jour : ")
    assert "×2" in folded["summary"]  # the two creations, counted
    assert out[0] == rows[0] and out[2] == rows[4]  # people's lines untouched
    assert "échec" in out[3]["summary"]
