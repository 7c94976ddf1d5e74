"""Visual regression (issue 15): a page's screenshot compared with the committed reference in visual/.

A pixel counts as changed when one of its channels moves by more than PIXEL (anti-aliasing moves less); the
page fails when more than TOLERANCE of its pixels changed — a colour, a font, a header or a footer that moves
does. What changes from run to run is masked (dates) or left out of the layout (lists other tests fill) by
the caller. A failure writes
the new screenshot and the difference to .run/visual/ for review; `MCP_UPDATE_SCREENSHOTS=1` rewrites the
references (then look at them before committing)."""

from __future__ import annotations

import os
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageChops

REFERENCES = Path(__file__).resolve().parent / "visual"
OUT = Path(__file__).resolve().parents[2] / ".run" / "visual"
PIXEL = 40
TOLERANCE = 0.01  # 1 % of the pixels: a 1,280 × 800 page may differ on 10,240 pixels at most


def changed_share(reference: Image.Image, actual: Image.Image) -> float:
    if reference.size != actual.size:
        return 1.0
    diff = ImageChops.difference(reference.convert("RGB"), actual.convert("RGB")).convert("L")
    changed = sum(diff.point(lambda v: 255 if v > PIXEL else 0).histogram()[255:])
    return changed / (reference.width * reference.height)


def _wait_for_our_fonts(page, name: str) -> None:
    """The fonts the page serves are loaded before the picture (font-display: swap draws a fallback first)."""
    loaded = page.evaluate("""async () => { await document.fonts.ready;
        return [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family.replaceAll('"', '')); }""")
    assert "Source Sans 3" in loaded, f"{name}: the page's text is not drawn with the font it serves ({loaded})"


def check(page, name: str, mask: tuple[str, ...] = (), hide: tuple[str, ...] = (), *, redraw: bool = True) -> None:
    """`mask`: boxes painted over (text that changes, same size); `hide`: left out of the layout while the
    screenshot is taken (lists whose length other tests change), then shown again. `redraw=False`: compared
    even under MCP_UPDATE_SCREENSHOTS (a browser that must match the references, never draw them)."""
    _wait_for_our_fonts(page, name)
    style = page.add_style_tag(content=f"{', '.join(hide)} {{ display: none !important; }}") if hide else None
    png = page.screenshot(mask=[page.locator(m) for m in mask], animations="disabled", caret="hide")
    if style:
        style.evaluate("e => e.remove()")
    ref = REFERENCES / f"{name}.png"
    if redraw and os.environ.get("MCP_UPDATE_SCREENSHOTS") == "1":
        REFERENCES.mkdir(exist_ok=True)
        ref.write_bytes(png)
        return
    assert ref.exists(), f"no reference for {name}: run with MCP_UPDATE_SCREENSHOTS=1, then review {ref}"
    actual, reference = Image.open(BytesIO(png)), Image.open(ref)
    share = changed_share(reference, actual)
    if share > TOLERANCE:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{name}.png").write_bytes(png)
        if reference.size == actual.size:
            ImageChops.difference(reference.convert("RGB"), actual.convert("RGB")).save(OUT / f"{name}-diff.png")
    assert share <= TOLERANCE, f"{name}: {share:.2%} of the pixels changed (tolerance {TOLERANCE:.0%}); see {OUT}"
