"""axe-core (from npm, see package.json) run inside the page in headless Chromium."""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]  # RGAA 4 follows WCAG 2.1 AA


def violations(page) -> list[dict]:
    if not AXE.exists():
        raise AssertionError(f"{AXE} missing: run `npm ci` (scripts/test.sh does)")
    # the page as a person meets it: its own scripts have run (the theme's mcp-a11y.js fixes Keycloak's labels
    # on DOMContentLoaded; on a loaded machine a check right after the element appeared ran before it)
    page.wait_for_load_state("load")
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    return [{"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"]]
