"""The table view's rows: one page of the review queue as a few short, readable columns.

`table_rows` turns the rows of a `ReviewPage` (losslens.review.queue.query_results) into what the
table shows: the text (whitespace collapsed, cut after TEXT_CHARS characters at a word), the
given label, the model's label with its probability ("sport · 73%"), the review status with the
new label ("relabeled → tech"), and the columns kept for a look on demand (id, loss, cleanlab
rank, flag). Only a page's rows pass through here, so only they reach the browser. `row_lines`
says how tall the page's rows should be for its texts to show whole.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

CHARS_PER_LINE = 70   # characters a line of the table's text column holds (about 520 px)
ROW_LINES = (1, 3, 5)  # the heights a row may have, in lines of text
TEXT_CHARS = CHARS_PER_LINE * ROW_LINES[-1]   # what a row carries of a text; a selected row shows it all
SHOWN = ("given", "predicted", "text", "status")          # the columns the table shows
ON_DEMAND = ("id", "loss", "cleanlab rank", "flagged")    # kept in the frame, hidden at first


def short_text(text: str, limit: int = TEXT_CHARS) -> str:
    """`text` on one line (runs of whitespace as one space), cut at the last word that ends within
    `limit` characters, with "…" when anything was cut."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] if " " in flat[:limit] else flat[:limit]
    return cut.rstrip() + " …"


def row_lines(texts: Sequence[str], share: float = 0.9) -> int:
    """The fewest lines of ROW_LINES in which `share` of `texts` (a page's, as table_rows shows them)
    fit whole at CHARS_PER_LINE characters a line: one-line rows for a page of short texts, taller
    rows only where most texts need them (a rare long one is cut; the selected row shows it all)."""
    if not len(texts):
        return ROW_LINES[0]
    lengths = sorted(len(t) for t in texts)
    needed = -(-lengths[min(len(lengths) - 1, int(share * len(lengths)))] // CHARS_PER_LINE)
    return next((lines for lines in ROW_LINES if lines >= needed), ROW_LINES[-1])


def status_line(status: str, new_label: str | None) -> str:
    """The status as the table says it: "relabeled → tech" when a new label came with it."""
    return f"{status} → {new_label}" if status == "relabeled" and new_label else status


def table_rows(rows: pd.DataFrame, label_names: Sequence[str], new_labels: pd.Series) -> pd.DataFrame:
    """One row per row of `rows` (a ReviewPage's: label and predicted_label as class indices 0..K-1,
    p_predicted in 0..1, loss, rank, is_issue, status, text, id), same order, index 0..n-1;
    columns SHOWN then ON_DEMAND. new_labels: example id -> new label name of decisions in force."""
    ids = rows["id"].astype(str).to_numpy(dtype=object)
    new = new_labels.reindex(ids).to_numpy(dtype=object)
    return pd.DataFrame({
        "given": [label_names[int(k)] for k in rows["label"]],
        "predicted": [f"{label_names[int(k)]} · {p:.0%}" for k, p in zip(rows["predicted_label"], rows["p_predicted"])],
        "text": [short_text(t) for t in rows["text"]],
        "status": [status_line(s, n if isinstance(n, str) else None) for s, n in zip(rows["status"], new)],
        "id": ids,
        "loss": rows["loss"].to_numpy(dtype=float),
        "cleanlab rank": rows["rank"].to_numpy(),
        "flagged": rows["is_issue"].to_numpy(dtype=bool),
    })
