"""The test browser's fonts (issue 24): Chromium runs under a fontconfig the suite writes, not the machine's.

Pages draw their text with the fonts they serve (sso_demo/static/fonts/), which Chromium loads without asking
fontconfig; fontconfig still decides how glyphs are rendered (anti-aliasing, hinting) and which font answers
a family the CSS names but does not serve. Both are pinned here, so a screenshot is the same on a machine with
or without fonts-liberation, or with another default sans-serif:

- `private`: the only system fonts are DejaVu's (Debian's fonts-dejavu-core, which the set-up installs:
  Chromium loads no web font at all when fontconfig lists none, and lists ours wrongly when given the woff2
  files); the rendering settings are fixed; /etc/fonts is not read at all;
- `hostile`: every font installed on the machine, and every family a page could ask the system for (sans-serif,
  Arial, Liberation Sans, Helvetica, DejaVu Sans, monospace…) answered with a serif face, as on a machine set up
  otherwise — a page that depends on a system font looks different there.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import escape

DEJAVU = "/usr/share/fonts/truetype/dejavu"
SYSTEM_FONTS = ("/usr/share/fonts", "/usr/local/share/fonts")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HOSTILE_FAMILY = "DejaVu Serif"  # fonts-dejavu-core, installed by scripts/lib.sh

# the same rendering everywhere: these change the pixels of every glyph, web fonts included
RENDERING = """
  <match target="font">
    <edit name="antialias" mode="assign"><bool>true</bool></edit>
    <edit name="hinting" mode="assign"><bool>true</bool></edit>
    <edit name="hintstyle" mode="assign"><const>hintslight</const></edit>
    <edit name="rgba" mode="assign"><const>none</const></edit>
    <edit name="lcdfilter" mode="assign"><const>lcddefault</const></edit>
    <edit name="autohint" mode="assign"><bool>false</bool></edit>
    <edit name="embeddedbitmap" mode="assign"><bool>false</bool></edit>
  </match>"""


def _document(dirs: list[str], cache: Path, extra: str) -> str:
    lines = "\n".join(f"  <dir>{escape(d)}</dir>" for d in dirs)
    return (f'<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n<fontconfig>\n'
            f"{lines}\n  <cachedir>{escape(str(cache))}</cachedir>\n{RENDERING}\n{extra}\n</fontconfig>\n")


def _hostile_aliases() -> str:
    # every family asked of the system (sans-serif, Arial, Liberation Sans…) is answered with a serif face
    return f"""
  <match target="pattern">
    <edit name="family" mode="assign_replace" binding="strong"><string>{HOSTILE_FAMILY}</string></edit>
  </match>"""


def write_config(kind: str, directory: Path) -> Path:
    """Write the fontconfig file of `kind` ('private' or 'hostile') under `directory`; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    if kind == "private":
        if not os.path.isdir(DEJAVU):
            raise RuntimeError(f"{DEJAVU} is missing: install Debian's fonts-dejavu-core (scripts/test.sh does)")
        text = _document([DEJAVU], directory / "cache", "")
    elif kind == "hostile":
        text = _document([d for d in SYSTEM_FONTS if os.path.isdir(d)], directory / "cache", _hostile_aliases())
    else:
        raise ValueError(kind)
    path = directory / f"fonts-{kind}.conf"
    path.write_text(text, encoding="utf-8")
    return path


def browser_env(kind: str, directory: Path) -> dict[str, str]:
    """The environment Chromium is launched with: the machine's, with our fontconfig file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FONTCONFIG")}
    env["FONTCONFIG_FILE"] = str(write_config(kind, directory))
    return env


def launch_chromium(playwright, fonts: str, state_dir: Path):
    """Debian's Chromium under the fontconfig the suite controls (`private` or `hostile`), never the machine's."""
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS,
                                      env=browser_env(fonts, state_dir))
