"""French typography for texts written with ordinary spaces (issue 29 §8): a narrow no-break space before ; ! ?,
a no-break space before : and inside « », so a line never starts with a lone sign. The applications' pages
(sso_demo/legal.py, `typo_html`) and the mails (notify/notifier.py) go through it where they leave for people;
texts are written, stored and tested with ordinary spaces."""

from __future__ import annotations

import re

NBSP, NNBSP = "\u00a0", "\u202f"
_RULES = [(re.compile(r"[ \u00a0]+([;!?])"), NNBSP + r"\1"), (re.compile(r"[ \u00a0\u202f]+:(?=\s|$)"), NBSP + ":"),
          (re.compile(r"«[ \u00a0\u202f]*"), "«" + NBSP), (re.compile(r"[ \u00a0\u202f]*»"), NBSP + "»")]


def typo(text: str) -> str:
    """French spacing in a text (never inside tags: applied to text, not to markup)."""
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text
