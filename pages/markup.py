"""The one way user data (texts, labels, ids, names, file names, error messages) enters markdown:
escaped so it shows literally — no HTML, links, images, emphasis or LaTeX. Not a page."""
from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'])")
_AUTOLINK = re.compile(r"(?i)(://|www\.|@)")


def md(value: object) -> str:
    """Markdown-escaped text on one line: shown literally. A zero-width space after :// www. and
    @ keeps the autolinker from turning a URL or address in the data into a live link."""
    text = _AUTOLINK.sub(lambda m: m.group(0) + "\u200b", " ".join(str(value).split()))
    return _MD_SPECIAL.sub(r"\\\1", text)


def code(value: object) -> str:
    """User data as inline code (shown literally; escapes would show inside a code span): one
    line, backticks replaced."""
    return "`" + " ".join(str(value).split()).replace("`", "'") + "`"
