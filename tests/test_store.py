"""losslens.store.decisions: record, decisions in force, history, undo, reset, groups, the checks every
writer makes. (Opening old stores: test_store_migrations.py; URLs and connections: test_store_engine.py.)"""
from __future__ import annotations

from dataclasses import fields

import pytest

from losslens.errors import StoreError
from losslens.store.decisions import IN_FORCE_COLUMNS, DecisionStore
from losslens.store.importing import ImportedDecision
from losslens.store.records import ExampleRef, LabelDecision
from losslens.store.schema import decisions

KEY = "train.csv"


@pytest.fixture
def store(store_place) -> DecisionStore:
    """A store on SQLite and, the same tests again, on a real PostgreSQL database."""
    return DecisionStore(store_place)


def _in_force(store: DecisionStore, key: str = KEY) -> dict[str, tuple]:
    frame = store.in_force(key)
    return {
        row.example_id: (row.original_label, row.new_label, row.status, row.reviewer)
        for row in frame.itertuples()
    }


def test_default_path_is_under_losslens_home(losslens_home):
    store = DecisionStore()
    assert store.path == losslens_home / "decisions.sqlite"
    assert store.path.exists()


def test_record_and_in_force_keep_the_latest_row_per_example(store):
    first = store.record(KEY, "a", "sport", "tech", "relabeled", "ann", text_hash=None)
    store.record(KEY, "b", "tech", None, "confirmed", "bob", text_hash=None)
    store.record(KEY, "a", "sport", "business", "relabeled", "bob", text_hash=None)
    assert first.status == "relabeled" and first.new_label == "tech" and first.id == 1
    assert first.decided_at.endswith("+00:00")
    assert _in_force(store) == {
        "a": ("sport", "business", "relabeled", "bob"),
        "b": ("tech", None, "confirmed", "bob"),
    }
    assert list(store.in_force(KEY).columns) == IN_FORCE_COLUMNS == [
        "decision_id", "example_id", "text_hash", "original_label", "new_label", "status", "reviewer", "decided_at",
        "note",
    ]
    assert store.in_force(KEY)["decision_id"].tolist() == [2, 3]
    assert store.in_force(KEY)["status"].value_counts().to_dict() == {"relabeled": 1, "confirmed": 1}


def test_datasets_are_separate(store):
    store.record(KEY, "a", "x", None, "removed", "ann", text_hash=None)
    store.record("demo:bbc", "a", "y", None, "ambiguous", "ann", text_hash=None)
    assert _in_force(store) == {"a": ("x", None, "removed", "ann")}
    assert _in_force(store, "demo:bbc") == {"a": ("y", None, "ambiguous", "ann")}
    assert store.in_force("nothing").empty
    assert store.dataset_keys() == ["demo:bbc", KEY]


def test_history_lists_every_row_oldest_first(store):
    store.record(KEY, "a", "sport", "tech", "relabeled", "ann", text_hash=None)
    store.record(KEY, "a", "sport", None, "confirmed", "ann", text_hash=None)
    store.reset(KEY, "a", "ann")
    history = store.history(KEY, "a")
    assert [d.status for d in history] == ["relabeled", "confirmed", "unreviewed"]
    assert [d.id for d in history] == [1, 2, 3]
    assert history[2].original_label == "sport" and history[2].new_label is None
    assert store.in_force(KEY).empty
    assert store.in_force(KEY).empty


def test_reset_of_an_unreviewed_example_writes_nothing(store):
    assert store.reset(KEY, "never-seen", "ann") is None
    store.record(KEY, "a", "x", None, "confirmed", "ann", text_hash=None)
    assert store.reset(KEY, "a", "ann").status == "unreviewed"
    assert store.reset(KEY, "a", "ann") is None
    assert len(store.history(KEY, "a")) == 2


def test_undo_walks_back_through_decisions(store):
    store.record(KEY, "a", "sport", "tech", "relabeled", "ann", text_hash=None)
    store.record(KEY, "b", "tech", None, "removed", "ann", text_hash=None)
    store.record(KEY, "a", "sport", "business", "relabeled", "ann", text_hash=None)

    (undone,) = store.undo_last(KEY)
    assert (undone.example_id, undone.new_label, undone.undone_by) == ("a", "business", "ann")
    assert _in_force(store)["a"] == ("sport", "tech", "relabeled", "ann")

    assert store.undo_last(KEY)[0].example_id == "b"
    assert set(_in_force(store)) == {"a"}
    assert store.undo_last(KEY)[0].example_id == "a"
    assert store.in_force(KEY).empty
    assert store.undo_last(KEY) == []
    # history is kept, with the undo marks
    assert [d.undone_at is not None for d in store.history(KEY, "a")] == [True, True]


def test_undo_of_a_reset_restores_the_decision(store):
    store.record(KEY, "a", "sport", "tech", "relabeled", "ann", text_hash=None)
    store.reset(KEY, "a", "ann")
    assert store.in_force(KEY).empty
    assert store.undo_last(KEY)[0].status == "unreviewed"
    assert _in_force(store) == {"a": ("sport", "tech", "relabeled", "ann")}


def test_undo_by_reviewer_leaves_other_reviewers_work(store):
    store.record(KEY, "a", "sport", "tech", "relabeled", "ann", text_hash=None)
    store.record(KEY, "b", "sport", None, "confirmed", "bob", text_hash=None)
    store.record(KEY, "a", "sport", None, "ambiguous", "bob", text_hash=None)
    (undone,) = store.undo_last(KEY, reviewer="ann")
    assert (undone.example_id, undone.reviewer) == ("a", "ann")
    # bob's later decision on "a" stays current
    assert _in_force(store) == {
        "a": ("sport", None, "ambiguous", "bob"),
        "b": ("sport", None, "confirmed", "bob"),
    }
    assert store.undo_last(KEY, reviewer="ann") == []


def test_bad_input_gets_a_clear_error(store):
    with pytest.raises(StoreError, match="status 'fixed' is not one of"):
        store.record(KEY, "a", "x", "y", "fixed", "ann", text_hash=None)
    with pytest.raises(StoreError, match="needs a new_label"):
        store.record(KEY, "a", "x", None, "relabeled", "ann", text_hash=None)
    with pytest.raises(StoreError, match="label name"):
        store.record(KEY, "a", 3, "y", "relabeled", "ann", text_hash=None)
    assert store.history(KEY, "a") == []


def test_text_hash_is_stored_and_kept_by_a_reset(store):
    store.record(KEY, "a", "x", "y", "relabeled", "ann", text_hash="00ff00ff00ff00ff")
    assert store.in_force(KEY)["text_hash"].tolist() == ["00ff00ff00ff00ff"]
    assert store.reset(KEY, "a", "ann").text_hash == "00ff00ff00ff00ff"
    assert [d.text_hash for d in store.history(KEY, "a")] == ["00ff00ff00ff00ff"] * 2
    store.record(KEY, "gone", "x", None, "removed", "ann", text_hash=None)
    assert set(_in_force(store)) == {"gone"}   # a reset example is not current


def test_survives_reopen(tmp_path):
    path = tmp_path / "d.sqlite"
    DecisionStore(path).record(KEY, "a", "x", "y", "relabeled", "ann", text_hash=None)
    reopened = DecisionStore(path)
    assert _in_force(reopened) == {"a": ("x", "y", "relabeled", "ann")}
    assert reopened.record(KEY, "b", "x", None, "confirmed", "ann", text_hash=None).id == 2


def test_a_group_is_recorded_together_and_undone_in_one_step(store):
    store.record(KEY, "z", "x", None, "confirmed", "ann", text_hash=None)
    group = store.record_group(KEY, [ExampleRef("a", "h-a", "x"), ExampleRef("b", "h-b", "y")], "y", "relabeled",
                               "ann", note="  same template  ")
    assert [d.example_id for d in group] == ["a", "b"] and len({d.group_id for d in group}) == 1
    assert group[0].group_id is not None and [d.note for d in group] == ["same template"] * 2
    assert _in_force(store) == {"z": ("x", None, "confirmed", "ann"), "a": ("x", "y", "relabeled", "ann"),
                               "b": ("y", "y", "confirmed", "ann")}   # relabeled to its own label: confirmed
    assert store.in_force(KEY).set_index("example_id").loc["a", "note"] == "same template"
    undone = store.undo_last(KEY, reviewer="ann")
    assert sorted(d.example_id for d in undone) == ["a", "b"] and all(d.undone_by == "ann" for d in undone)
    assert _in_force(store) == {"z": ("x", None, "confirmed", "ann")}
    assert [d.example_id for d in store.undo_last(KEY)] == ["z"]


def test_a_note_without_text_is_no_note(store):
    assert store.record(KEY, "a", "x", None, "ambiguous", "ann", note="   ", text_hash=None).note is None
    assert store.record(KEY, "b", "x", None, "ambiguous", "ann", note="unclear: both topics", text_hash=None).note == "unclear: both topics"


@pytest.mark.parametrize("status, new_label, given, message", [
    ("fixed", "y", "x", "status 'fixed' is not one of"), ("relabeled", None, "x", "needs a new_label"),
    ("relabeled", 3, "x", "new_label must be a label name"),
    ("confirmed", None, 3, "original_label must be a label name"),
])
def test_every_writer_refuses_a_bad_decision_alike(store, status, new_label, given, message):
    example = ExampleRef("e", None, given)
    with pytest.raises(StoreError, match=message):
        store.record(KEY, "e", given, new_label, status, "ann", text_hash=None)
    with pytest.raises(StoreError, match=message):
        store.record_group(KEY, [ExampleRef("ok", None, "x"), example], new_label, status, "ann")
    with pytest.raises(StoreError, match=message):
        store.import_decisions([ImportedDecision(KEY, ExampleRef("ok", None, "x"), "x", "confirmed", "ann", None),
                                ImportedDecision(KEY, example, new_label, status, "ann", None)])
    assert store.history_frame().empty   # nothing of a refused write is kept


def test_every_writer_stores_a_relabel_to_the_given_label_as_confirmed(store):
    store.record(KEY, "a", "x", "x", "relabeled", "ann", text_hash=None)
    store.record_group(KEY, [ExampleRef("b", None, "x"), ExampleRef("c", None, "y")], "x", "relabeled", "ann")
    store.import_decisions([ImportedDecision(KEY, ExampleRef("d", None, "x"), "x", "relabeled", "ann", None)])
    assert store.history_frame()[["example_id", "status"]].values.tolist() == [
        ["a", "confirmed"], ["b", "confirmed"], ["c", "relabeled"], ["d", "confirmed"]]


def test_a_group_of_40000_examples_is_recorded_and_undone_whole(tmp_path):
    """More rows than SQLite takes bound parameters in one statement (32,766)."""
    store = DecisionStore(tmp_path / "d.sqlite")
    examples = [ExampleRef(f"e{k}", f"h{k}", "x") for k in range(40_000)]
    group = store.record_group(KEY, examples, None, "removed", "ann")
    assert [d.id for d in group] == list(range(1, 40_001)) and group[-1].example_id == "e39999"
    assert len(store.in_force(KEY)) == 40_000
    assert len(store.undo_last(KEY, "ann")) == 40_000
    assert store.in_force(KEY).empty


def test_a_decision_has_a_field_for_each_column_of_the_decisions_table():
    assert [f.name for f in fields(LabelDecision)] == [c.name for c in decisions.columns]
