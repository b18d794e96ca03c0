"""Issue 22, the store items: history files read back exactly, decisions that cannot be checked
against their text are never applied, imports are idempotent, linear and let other writers in,
NUL is refused, backups are checked before a restore, and a bad database URL is one line."""
from __future__ import annotations

import pandas as pd
import pytest

from losslens.store.decisions import DecisionStore
from losslens.store.history_files import NEUTRALISED, export_history, history_export, import_history


# --- item 1: a history export read back is the identical history --------------------------------

def _formula_history(store: DecisionStore) -> DecisionStore:
    """Cells a spreadsheet would run (neutralised in a CSV) next to cells that start with ' themselves."""
    store.record("sheet.csv", "-7", "1", "-1", "relabeled", "+bob", text_hash="h1", note="=see ticket")
    store.record("sheet.csv", "8", "'quoted", "@x", "relabeled", "", text_hash="h2", note="'=kept as written")
    store.record("sheet.csv", "9", "1", None, "ambiguous", "\tann", text_hash="h3", note="plain")
    store.undo_last("sheet.csv", "")                # the empty reviewer's: undone_by "" 
    return store


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_history_export_reads_back_as_the_identical_history(store_place, tmp_path, suffix):
    source = _formula_history(DecisionStore(store_place))
    original = history_export(source)
    path = tmp_path / f"h{suffix}"
    export_history(source, path)
    if suffix == ".csv":
        written = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert written["note"].tolist() == ["'=see ticket", "'=kept as written", "plain"]   # still safe to open
        assert written[NEUTRALISED].tolist() == ["id new_label reviewer note", "new_label", "reviewer"]
    counts = import_history(source, path)
    assert (counts.added, counts.already_there, counts.marked_undone) == (0, 3, 0)
    assert history_export(source).equals(original)
    fresh = DecisionStore(tmp_path / "fresh.sqlite")
    assert import_history(fresh, path).added == 3
    assert history_export(fresh).equals(original)
    assert fresh.in_force("sheet.csv")["new_label"].tolist() == ["-1", None]
