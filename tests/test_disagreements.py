"""losslens.review.binding: the examples whose reviewers' decisions in force differ, and each reviewer's
decision on one example."""
from __future__ import annotations

import pandas as pd

from losslens.sources.datasets import ColumnMapping, DatasetSource, load_dataset, text_hash
from losslens.review.binding import bind_decisions, decide, decisions_by_reviewer, disagreements
from losslens.store.decisions import DecisionStore


def test_only_examples_whose_verdicts_differ(tmp_path):
    path = tmp_path / "news.csv"
    pd.DataFrame({"id": list("abcdef"), "text": [f"story {k}" for k in "abcdef"],
                  "label": ["sport", "tech", "sport", "tech", "sport", "tech"]}).to_csv(path, index=False)
    data = load_dataset(DatasetSource.parse(str(path)), ColumnMapping(id="id"))
    store = DecisionStore(tmp_path / "d.sqlite")
    at = {example: position for position, example in enumerate(data.ids)}
    decide(store, data, [at["a"]], "relabeled", "tech", "ann")       # a: tech vs sport (bob confirms)
    decide(store, data, [at["a"]], "confirmed", None, "bob")
    decide(store, data, [at["b"]], "relabeled", "sport", "ann")      # b: both relabel to sport: agree
    decide(store, data, [at["b"]], "relabeled", "sport", "bob")
    decide(store, data, [at["c"]], "confirmed", None, "ann")         # c: confirm vs relabel-to-own-label: agree
    decide(store, data, [at["c"]], "relabeled", "sport", "bob")
    decide(store, data, [at["d"]], "removed", None, "ann")           # d: removed vs ambiguous
    decide(store, data, [at["d"]], "ambiguous", None, "bob")
    decide(store, data, [at["e"]], "relabeled", "tech", "ann")       # e: one reviewer only
    decide(store, data, [at["f"]], "relabeled", "sport", "ann")      # f: bob disagreed, then undid it
    decide(store, data, [at["f"]], "confirmed", None, "bob")
    store.undo_last(data.name, "bob")
    applied = bind_decisions(data, store.in_force(data.name, per_reviewer=True), per_reviewer=True).applied
    assert disagreements(applied) == ["a", "d"]
    decide(store, data, [at["a"]], "relabeled", "tech", "bob")       # bob comes round
    applied = bind_decisions(data, store.in_force(data.name, per_reviewer=True), per_reviewer=True).applied
    assert disagreements(applied) == ["d"]
    assert disagreements(applied.iloc[:0]) == []


def test_each_reviewers_decision_in_force_on_one_example(tmp_path):
    store = DecisionStore(tmp_path / "d.sqlite")
    store.record("n", "a", "sport", "tech", "relabeled", "ann", text_hash=text_hash("story a"), note="tech desk")
    store.record("n", "a", "sport", None, "confirmed", "bob", text_hash=text_hash("story a"))
    store.record("n", "a", "sport", None, "removed", "cy", text_hash=text_hash("story a"))
    store.undo_last("n", "cy")                                                   # cy undid: no decision
    store.record("n", "a", "sport", None, "ambiguous", "dee", text_hash=text_hash("an older text"))  # other text
    store.record("n", "a", "sport", None, "ambiguous", "eve", text_hash=None)   # imported without text
    store.reset("n", "a", "eve")                                                 # eve reset it
    found = decisions_by_reviewer(store.history("n", "a"), "story a")
    assert {name: (d.status, d.new_label, d.note) for name, d in found.items()} == {
        "ann": ("relabeled", "tech", "tech desk"), "bob": ("confirmed", None, None)}
