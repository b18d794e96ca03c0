"""losslens.review.snapshot: one look at a dataset's decisions, each part read from the store once."""
from __future__ import annotations

import pandas as pd

from losslens.review.binding import decide
from losslens.review.shared_queue import queue_examples, start_shared_queue
from losslens.review.snapshot import DecisionsSnapshot
from losslens.sources.datasets import ColumnMapping, DatasetSource, load_dataset
from losslens.store.decisions import DecisionStore


def test_each_part_is_read_once_and_answers_for_the_loaded_dataset(tmp_path, monkeypatch):
    path = tmp_path / "news.csv"
    pd.DataFrame({"id": list("abcd"), "text": [f"story {k}" for k in "abcd"],
                  "label": ["sport", "tech", "sport", "tech"]}).to_csv(path, index=False)
    data = load_dataset(DatasetSource.parse(str(path)), ColumnMapping(id="id"))
    store = DecisionStore(tmp_path / "d.sqlite")
    at = {example: position for position, example in enumerate(data.ids)}
    decide(store, data, [at["a"]], "relabeled", "tech", "ann")
    decide(store, data, [at["a"]], "confirmed", None, "bob")
    decide(store, data, [at["c"]], "removed", None, "ann")
    start_shared_queue(store, data.name, data.fingerprint, ["a", "b"], 2, "lead")
    reads = []
    in_force = DecisionStore.in_force
    monkeypatch.setattr(DecisionStore, "in_force",
                        lambda self, name, per_reviewer=False: reads.append(per_reviewer) or in_force(self, name,
                                                                                                     per_reviewer))
    snapshot = DecisionsSnapshot(store, data)
    assert reads == []                                                     # nothing read before it is asked for
    assert snapshot.status_by_id.to_dict() == {"a": "confirmed", "c": "removed"}
    assert snapshot.bound.applied["example_id"].tolist() == ["a", "c"] and snapshot.bound.stale.empty
    assert snapshot.decided_by("ann") == ["a", "c"] and snapshot.decided_by("bob") == ["a"]
    assert snapshot.decisions_on("a")[["reviewer", "status"]].values.tolist() == [["ann", "relabeled"],
                                                                                  ["bob", "confirmed"]]
    assert snapshot.disagreements() == ["a"]
    assert queue_examples(store, snapshot.shared_queue_here) == ("a", "b")
    progress = snapshot.shared_progress
    assert (progress.n_examples, progress.complete, progress.started) == (2, 1, 0)
    assert reads == [False, True]                                          # once per kind, however often asked
    decide(store, data, [at["b"]], "confirmed", None, "ann")
    assert DecisionsSnapshot(store, data).status_by_id.to_dict() == {"a": "confirmed", "b": "confirmed",
                                                                     "c": "removed"}   # a new look sees the write


def test_a_shared_queue_on_another_version_of_the_data_is_not_this_ones(tmp_path):
    path = tmp_path / "news.csv"
    pd.DataFrame({"text": ["one", "two"], "label": ["x", "y"]}).to_csv(path, index=False)
    data = load_dataset(DatasetSource.parse(str(path)), ColumnMapping())
    store = DecisionStore(tmp_path / "d.sqlite")
    start_shared_queue(store, data.name, "another fingerprint", [str(data.ids[0])], 1, "lead")
    snapshot = DecisionsSnapshot(store, data)
    assert snapshot.shared_queue is not None and snapshot.shared_queue_here is None
    assert snapshot.shared_progress is None
