"""losslens decisions export | import: history round trips between SQLite and PostgreSQL, idempotent
imports, decision files made elsewhere checked against their dataset."""
from __future__ import annotations

import pandas as pd
import pytest

from losslens.cli import main
from losslens.sources.datasets import ColumnMapping, DatasetSource, load_dataset, text_hash
from losslens.review.binding import bind_decisions
from losslens.errors import DataError
from losslens.store.history_files import EXPORT_COLUMNS, export_history, history_export, import_history, read_decisions
from losslens.store.decisions import DecisionStore
from losslens.store.records import ExampleRef


def _history(store: DecisionStore) -> DecisionStore:
    """A history with every kind of row: relabels, a confirm, a bulk group, an undo, a reset,
    notes (one a spreadsheet formula, one non-ASCII), two datasets and two reviewers."""
    store.record("news.csv", "a", "sport", "tech", "relabeled", "ann", text_hash="h-a", note="=SUM(A1) café")
    store.record("news.csv", "b", "tech", "tech", "confirmed", "bob", text_hash="h-b")
    store.record_group("news.csv", [ExampleRef("c", "h-c", "tech"), ExampleRef("d", "h-d", "sport")],
                       "business", "relabeled", "ann", note="bulk")
    store.record("news.csv", "e", "sport", None, "removed", "bob", text_hash="h-e")
    store.undo_last("news.csv", "bob")                      # e's removal undone, kept in history
    store.record("news.csv", "a", "sport", "business", "relabeled", "bob", text_hash="h-a")
    store.reset("news.csv", "b", "ann")
    store.record("other/train", "x", "neg", "pos", "relabeled", "ann", text_hash=None)
    return store


@pytest.fixture
def source(tmp_path) -> DecisionStore:
    return _history(DecisionStore(tmp_path / "source.sqlite"))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_sqlite_to_postgresql_to_file_equals_the_original_history(source, store_place, tmp_path, suffix):
    original = history_export(source)
    assert len(original) == 8 and list(original.columns) == EXPORT_COLUMNS
    assert original["undone_at"].notna().sum() == 1
    path = tmp_path / f"history{suffix}"
    assert export_history(source, path, raw=True) == 8
    target = DecisionStore(store_place)
    counts = import_history(target, path)
    assert (counts.added, counts.already_there, counts.marked_undone) == (8, 0, 0)
    again = tmp_path / f"again{suffix}"
    export_history(target, again, raw=True)
    assert history_export(target).equals(original)
    assert pd.read_parquet(again).equals(pd.read_parquet(path)) if suffix == ".parquet" else \
        again.read_bytes() == path.read_bytes()
    for dataset in ("news.csv", "other/train"):
        assert target.in_force(dataset).drop(columns="decision_id").equals(
            source.in_force(dataset).drop(columns="decision_id"))
    # the group survived the move: one undo takes both examples back
    target.undo_last("news.csv", "bob")   # bob's relabel of a
    assert len(target.undo_last("news.csv", "ann")) == 1   # ann's reset of b
    assert {d.example_id for d in target.undo_last("news.csv", "ann")} == {"c", "d"}


def test_importing_twice_adds_nothing_and_later_undos_follow(source, store_place, tmp_path):
    first = tmp_path / "first.parquet"
    export_history(source, first)
    target = DecisionStore(store_place)
    import_history(target, first)
    counts = import_history(target, first)
    assert (counts.added, counts.already_there, counts.marked_undone) == (0, 8, 0)
    assert len(history_export(target)) == 8
    source.undo_last("news.csv", "bob")            # after the first export: undo bob's relabel of a
    source.record("news.csv", "f", "tech", "sport", "relabeled", "ann", text_hash="h-f")
    second = tmp_path / "second.parquet"
    export_history(source, second)
    counts = import_history(target, second)
    assert (counts.added, counts.already_there, counts.marked_undone) == (1, 7, 1)
    assert history_export(target).equals(history_export(source))


def test_a_csv_export_neutralises_formula_notes_unless_raw(source, tmp_path):
    export_history(source, tmp_path / "safe.csv")
    export_history(source, tmp_path / "raw.csv", raw=True)
    assert "'=SUM(A1) café" in (tmp_path / "safe.csv").read_text(encoding="utf-8")
    assert "\n" + "news.csv,a,sport,tech,relabeled,ann," in (tmp_path / "raw.csv").read_text(encoding="utf-8")
    assert ",=SUM(A1) café," in (tmp_path / "raw.csv").read_text(encoding="utf-8")


def test_one_dataset_only(source, tmp_path):
    assert export_history(source, tmp_path / "other.parquet", "other/train") == 1
    assert pd.read_parquet(tmp_path / "other.parquet")["id"].tolist() == ["x"]


# --- decision files made elsewhere -------------------------------------------------------------

@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "news.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "text": ["the match was won", "shares fell", "a new phone"],
                  "label": ["sport", "business", "tech"]}).to_csv(path, index=False)
    return load_dataset(DatasetSource.parse(str(path)), ColumnMapping(id="id"))


def _write(tmp_path, rows: dict, name: str = "decisions.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_decisions_made_elsewhere_apply_to_their_examples(dataset, tmp_path):
    path = _write(tmp_path, {"id": ["a", "b", "c"], "new_label": ["business", "", ""],
                             "status": ["", "confirmed", "ambiguous"], "reviewer": ["ann", "", "bob"],
                             "decided_at": ["2026-01-02 10:00", "2026-01-02T11:00:00+01:00", ""],
                             "note": ["markets story", "", ""]})
    store = DecisionStore(tmp_path / "d.sqlite")
    counts = import_history(store, path, dataset, reviewer="lead")
    assert (counts.added, counts.already_there) == (3, 0)
    rows = history_export(store)
    assert rows["status"].tolist() == ["relabeled", "confirmed", "ambiguous"]
    assert rows["reviewer"].tolist() == ["ann", "lead", "bob"]
    assert rows["decided_at"].tolist()[:2] == ["2026-01-02T10:00:00.000000+00:00", "2026-01-02T10:00:00.000000+00:00"]
    assert rows["original_label"].tolist() == ["sport", "business", "tech"]
    assert rows["text_hash"].tolist() == [text_hash(t) for t in dataset.texts]
    assert rows["note"].tolist() == ["markets story", None, None]
    bound = bind_decisions(dataset, store.in_force(dataset.name))
    assert bound.stale.empty and bound.applied["example_id"].tolist() == ["a", "b", "c"]
    # twice: rows with a time match by time, rows without one by the decision in force
    counts = import_history(store, path, dataset, reviewer="lead")
    assert (counts.added, counts.already_there) == (0, 3)
    assert len(history_export(store)) == 3


@pytest.mark.parametrize("rows, message", [
    ({"id": ["a", "zz"], "new_label": ["tech", "tech"]}, "data row 2: id 'zz' is not an example of 'news.csv'"),
    ({"id": ["a"], "new_label": ["politics"]}, "new_label 'politics' is not one of 'business, sport, tech'"),
    ({"id": ["a"], "status": ["deleted"]}, "status 'deleted' is not one of unreviewed, relabeled"),
    ({"id": ["a"], "status": ["relabeled"]}, "status relabeled needs a new_label"),
    ({"id": ["a"], "new_label": ["tech"], "decided_at": ["yesterday"]}, "decided_at 'yesterday' is not an ISO-8601"),
    ({"id": ["a"], "new_label": ["tech"], "decided_at": ["2026-13-45"]}, "decided_at '2026-13-45' is not an ISO"),
    ({"example": ["a"], "new_label": ["tech"]}, "has no id column"),
    ({"id": ["a"], "label": ["tech"]}, "neither a new_label nor a status column"),
    ({"id": ["a"], "new_label": ["tech"], "dataset": ["elsewhere.csv"]}, "is about dataset 'elsewhere.csv'"),
])
def test_a_bad_row_refuses_the_whole_file(dataset, tmp_path, rows, message):
    store = DecisionStore(tmp_path / "d.sqlite")
    store.record(dataset.name, "b", "business", None, "confirmed", "ann", text_hash=None)
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        import_history(store, _write(tmp_path, rows), dataset)
    assert len(history_export(store)) == 1


def test_a_file_of_decisions_needs_its_dataset(tmp_path):
    path = _write(tmp_path, {"id": ["a"], "new_label": ["tech"]})
    with pytest.raises(DataError, match="not a LossLens history export.*give --data DATASET"):
        read_decisions(path)


# --- the CLI -----------------------------------------------------------------------------------

def test_cli_export_import_between_homes(source, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOSSLENS_DB_URL", str(tmp_path / "source.sqlite"))
    assert main(["decisions", "export", str(tmp_path / "h.parquet")]) == 0
    assert capsys.readouterr().out.strip() == f"rows=8 out={tmp_path / 'h.parquet'}"
    monkeypatch.setenv("LOSSLENS_DB_URL", str(tmp_path / "target.sqlite"))
    assert main(["decisions", "import", str(tmp_path / "h.parquet")]) == 0
    assert capsys.readouterr().out.strip() == "rows=8 added=8 already_there=0 marked_undone=0"
    assert main(["decisions", "import", str(tmp_path / "h.parquet")]) == 0
    assert capsys.readouterr().out.strip() == "rows=8 added=0 already_there=8 marked_undone=0"
    assert history_export(DecisionStore(tmp_path / "target.sqlite")).equals(history_export(source))


def test_cli_import_with_data_and_bad_input(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOSSLENS_DB_URL", str(tmp_path / "d.sqlite"))
    data = str(tmp_path / "news.csv")
    good = _write(tmp_path, {"id": ["c"], "new_label": ["sport"]})
    assert main(["decisions", "import", str(good), "--data", data, "--id-col", "id", "--reviewer", "cy"]) == 0
    assert capsys.readouterr().out.strip() == "rows=1 added=1 already_there=0 marked_undone=0"
    assert DecisionStore(tmp_path / "d.sqlite").in_force("news.csv")["reviewer"].tolist() == ["cy"]
    for argv in (["decisions", "import", str(good), "--data", data],   # ids derived from texts: 'c' unknown
                 ["decisions", "import", str(tmp_path / "missing.csv")],
                 ["decisions", "import", str(good)],
                 ["decisions", "export", str(tmp_path / "folder")],
                 ["decisions", "export", str(tmp_path / "h.json")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("losslens: error: ") and err.count("\n") == 1, argv
    assert len(history_export(DecisionStore(tmp_path / "d.sqlite"))) == 1
