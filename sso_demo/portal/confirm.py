"""A confirmation step before an action that takes access away (résilier, suspendre, perte de codes): the
same POST again with confirm=1 once the person has read what it does. Server-side, so it holds without
JavaScript and cannot be skipped by a double click."""

from __future__ import annotations

from flask import render_template, request


def needed(title: str, consequences: list[str], back: str):
    """None when this POST carries the confirmation; otherwise the page that asks for it."""
    if request.form.get("confirm") == "1":
        return None
    fields = {k: v for k, v in request.form.items() if k not in ("csrf_token", "confirm")}
    return render_template("portal/confirm.html", title=title, consequences=consequences, back=back,
                           action=request.path, fields=fields)
