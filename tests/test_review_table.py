"""losslens.review.table: one page of the queue as the table view's readable columns (values by hand)."""
from __future__ import annotations

import pandas as pd

from losslens.review.table import ON_DEMAND, SHOWN, TEXT_CHARS, row_lines, short_text, status_line, table_rows


def test_short_text_keeps_short_texts_whole_and_cuts_long_ones_at_a_word():
    assert short_text("  two\n\tlines  ") == "two lines"
    assert short_text("one two three four", limit=12) == "one two …"          # "three" would end at 13
    assert short_text("abcdefghijklmnop", limit=5) == "abcde …"                 # one long word: cut inside it
    long = " ".join(["word"] * 200)
    assert len(long) > TEXT_CHARS and len(short_text(long)) <= TEXT_CHARS + 2 and short_text(long).endswith(" …")


def test_status_line_names_the_new_label_of_a_relabel():
    assert status_line("relabeled", "tech") == "relabeled → tech"
    assert status_line("confirmed", None) == "confirmed" and status_line("unreviewed", None) == "unreviewed"


def test_table_rows_by_hand():
    rows = pd.DataFrame({
        "id": ["a", "b", "c"], "text": ["fine\nfilm", "x " * 300, "dull"], "label": [0, 1, 1],
        "predicted_label": [1, 1, 0], "p_predicted": [0.734, 0.5, 0.996], "loss": [1.3, 0.7, 5.5],
        "rank": [2, 3, 1], "is_issue": [False, False, True], "status": ["relabeled", "unreviewed", "confirmed"],
    }, index=[17, 4, 9])                                      # a page keeps the table's row numbers
    shown = table_rows(rows, ["neg", "pos"], pd.Series({"a": "pos", "zzz": "neg"}))
    assert tuple(shown.columns) == SHOWN + ON_DEMAND and shown.index.tolist() == [0, 1, 2]
    assert shown["given"].tolist() == ["neg", "pos", "pos"]
    assert shown["predicted"].tolist() == ["pos · 73%", "pos · 50%", "neg · 100%"]
    assert shown["text"].tolist()[0] == "fine film" and shown["text"][1].endswith(" …")
    assert shown["status"].tolist() == ["relabeled → pos", "unreviewed", "confirmed"]
    assert shown["id"].tolist() == ["a", "b", "c"] and shown["flagged"].tolist() == [False, False, True]
    assert shown["cleanlab rank"].tolist() == [2, 3, 1] and shown["loss"].tolist() == [1.3, 0.7, 5.5]


def test_row_lines_fit_nine_in_ten_texts_of_the_page():
    assert row_lines([]) == 1 and row_lines(["short"] * 10) == 1
    assert row_lines(["a" * 71]) == 3 and row_lines(["a" * 211]) == 5 and row_lines(["a" * 2000]) == 5
    assert row_lines(["short"] * 24 + ["a" * 300]) == 1                  # one long text in 25: cut, one-line rows
    assert row_lines(["short"] * 20 + ["a" * 150] * 5) == 3               # 1 in 5 long: rows as tall as they need
