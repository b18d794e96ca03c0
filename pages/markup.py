"""The one way user data (texts, labels, ids, names, file names, error messages) enters markdown:
escaped so it shows literally — no HTML, links, images, emphasis or LaTeX. Not a page."""
from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'])")


def md(value: object) -> str:
    """Markdown-escaped text on one line: shown literally."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def code(value: object) -> str:
    """User data as inline code (shown literally; escapes would show inside a code span): one
    line, backticks replaced."""
    return "`" + " ".join(str(value).split()).replace("`", "'") + "`"
