"""Issue 24: the pages draw with the fonts they serve, whatever the machine has.

Every character our pages can show (templates, Keycloak theme, messages, the texts the code puts on pages) is in
one of the served fonts, so none falls back to a system font; the identity stylesheet names only served
families before the generic one, and no other stylesheet names a font of its own."""

from __future__ import annotations

import re
from pathlib import Path

from fontTools.ttLib import TTFont

ROOT = Path(__file__).resolve().parents[2]
FONTS = ROOT / "sso_demo" / "static" / "fonts"
IDENTITY = ROOT / "sso_demo" / "static" / "mcp-identity.css"
SOURCES = [ROOT / "sso_demo", ROOT / "keycloak-theme", ROOT / "provisioning"]
SUFFIXES = {".html", ".ftl", ".properties", ".py", ".js", ".css", ".txt"}
INVISIBLE = {0xFEFF, 0x200B}  # not drawn


def _faces() -> dict[str, list[Path]]:
    css = IDENTITY.read_text(encoding="utf-8")
    faces: dict[str, list[Path]] = {}
    for block in re.findall(r"@font-face\s*{([^}]*)}", css):
        family = re.search(r'font-family:\s*"([^"]+)"', block).group(1)
        faces.setdefault(family, []).extend(IDENTITY.parent / u for u in re.findall(r'url\("([^"]+)"\)', block))
    return faces


def _characters_shown() -> dict[str, Path]:
    seen: dict[str, Path] = {}
    for root in SOURCES:
        for path in root.rglob("*"):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                for ch in path.read_text(encoding="utf-8", errors="strict"):
                    if ord(ch) > 0x7E and ord(ch) not in INVISIBLE:
                        seen.setdefault(ch, path)
    return seen


def test_the_page_font_is_served_and_named_first():
    faces = _faces()
    police = re.search(r"--mcp-police:\s*([^;]+);", IDENTITY.read_text(encoding="utf-8")).group(1)
    families = [f.strip().strip('"') for f in police.split(",")]
    assert families[-1] == "sans-serif" and families[:-1] == list(faces), (families, list(faces))
    for family, files in faces.items():
        assert files and all(f.is_file() and f.parent == FONTS for f in files), (family, files)


def test_every_character_our_pages_show_is_in_a_served_font():
    cmaps = [TTFont(f).getBestCmap() for files in _faces().values() for f in files]
    missing = {f"U+{ord(c):04X} {c!r} ({p.relative_to(ROOT)})" for c, p in _characters_shown().items()
               if not any(ord(c) in cmap for cmap in cmaps)}
    assert not missing, f"drawn by a system font: {sorted(missing)}"


def test_no_stylesheet_names_a_system_font():
    for css in list((ROOT / "sso_demo").rglob("*.css")) + list((ROOT / "keycloak-theme").rglob("*.css")):
        for value in re.findall(r"font-family:\s*([^;}]+)", css.read_text(encoding="utf-8")):
            assert value.strip() in ("var(--mcp-police)", "inherit") or css == IDENTITY and '"' in value, (css, value)
