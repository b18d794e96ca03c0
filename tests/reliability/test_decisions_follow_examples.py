"""A decision follows its example and never lands on another one.

It survives re-scoring with another model, reordering and reloading the file, and restarts (a new
DecisionStore on the same file). It is *stale* (kept, listed, never applied or exported) when its
id disappears, when the example's text changed, when a different file with the same name is
loaded, or when its new label is not one of the dataset's labels. Without an id column, ids come
from the texts, so a row inserted at the top moves no decision."""
import pandas as pd

from loading import load_path
from losslens.sources.datasets import ColumnMapping, text_hash
from losslens.review.binding import bind_decisions
from losslens.export import corrected_frame
from losslens.scoring.models import ModelSpec
from losslens.scoring.pipeline import score_dataset
from losslens.store.decisions import DecisionStore
from review_data import write_reviews_csv
from tiny_models import build_tiny_classifier

COLUMNS = ColumnMapping(text="review", label="sentiment", id="id")


def decide(store, data, example_id, new_label, status, reviewer="ana"):
    """Record a decision the way the app does: with the example's text hash and given label."""
    row = list(data.ids).index(example_id)
    given = data.label_names[data.labels[row]]
    return store.record(data.name, example_id, given, new_label, status, reviewer, text_hash=text_hash(data.texts[row]))


def corrected(data, results, store):
    return corrected_frame(data, results.table, store.in_force(data.name)).set_index(
        pd.Index(data.ids, name="example"))


def test_decisions_survive_rescoring_reordering_and_restart_and_go_stale_on_text_edits(tmp_path,
                                                                                        tiny_classifier_dir):
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=20)
    data = load_path(str(csv), columns=COLUMNS)
    first = score_dataset(data, ModelSpec(str(tiny_classifier_dir), precision="fp32"))
    store = DecisionStore()
    decide(store, data, "r001", "neg", "relabeled")
    decide(store, data, "r004", "neg", "confirmed")
    decide(store, data, "r007", "pos", "ambiguous", "ben")

    other_model = build_tiny_classifier(tmp_path / "other_model", ["neg", "pos"], seed=3)
    rescored = score_dataset(data, ModelSpec(str(other_model), precision="fp32"))
    assert rescored.key != first.key
    frame = corrected(data, rescored, DecisionStore())  # a new store object: as after a restart
    assert frame.loc["r001", ["corrected_label", "status"]].tolist() == ["neg", "relabeled"]
    assert frame.loc["r004", "status"] == "confirmed" and frame.loc["r007", "status"] == "ambiguous"

    edited = pd.read_csv(csv)
    edited = edited[edited["id"] != "r004"]  # an example disappears
    edited.loc[edited["id"] == "r001", "review"] = "rewritten text of the first review"
    edited = pd.concat([edited, pd.DataFrame([{"id": "r900", "review": "new one", "sentiment": "pos"}])])
    edited.sample(frac=1.0, random_state=1).to_csv(csv, index=False)  # and the rows move
    reloaded = load_path(str(csv), columns=COLUMNS)
    assert reloaded.name == data.name and reloaded.fingerprint != data.fingerprint
    results = score_dataset(reloaded, ModelSpec(str(tiny_classifier_dir), precision="fp32"))
    frame = corrected(reloaded, results, DecisionStore())
    assert frame.loc["r001", ["review", "corrected_label", "status"]].tolist() == [
        "rewritten text of the first review", "pos", "unreviewed"]      # text edited: not applied
    assert frame.loc["r007", "status"] == "ambiguous" and frame.loc["r900", "status"] == "unreviewed"

    store = DecisionStore()
    assert set(store.in_force(data.name)["example_id"]) == {"r001", "r004", "r007"}  # all kept
    stale = bind_decisions(reloaded, store.in_force(data.name)).stale
    assert dict(zip(stale["example_id"], stale["reason"])) == {"r001": "text", "r004": "missing"}


def test_same_name_different_file_gets_no_decisions(tmp_path):
    first = tmp_path / "a" / "reviews.csv"
    first.parent.mkdir()
    first.write_text("text,label\nthe plot was great,pos\nawful acting,neg\n")
    data = load_path(str(first))
    store = DecisionStore()
    decide(store, data, data.ids[0], "neg", "relabeled")
    decide(store, data, data.ids[1], "pos", "relabeled")

    other = tmp_path / "b" / "reviews.csv"   # same file name, other content and other labels
    other.parent.mkdir()
    other.write_text("text,label\nstocks fell,business\nthe plot was great,sport\n")
    reloaded = load_path(str(other))
    assert reloaded.name == data.name == "reviews.csv"
    bound = bind_decisions(reloaded, store.in_force(reloaded.name))
    assert bound.applied.empty
    assert sorted(bound.stale["reason"]) == ["given", "missing"]  # same text, but given sport, not pos
    frame = corrected_frame(reloaded, None, store.in_force(reloaded.name))
    assert frame["status"].tolist() == ["unreviewed", "unreviewed"]
    assert frame["corrected_label"].tolist() == ["business", "sport"]


def test_row_inserted_at_the_top_moves_no_decision(tmp_path):
    csv = tmp_path / "news.csv"
    rows = pd.DataFrame({"text": [f"story number {i}" for i in range(6)], "label": ["a", "b"] * 3})
    rows.to_csv(csv, index=False)
    data = load_path(str(csv))
    store = DecisionStore()
    decide(store, data, data.ids[3], "a", "relabeled")   # "story number 3", given b
    decide(store, data, data.ids[4], None, "removed")    # "story number 4"

    pd.concat([pd.DataFrame({"text": ["a brand new first story"], "label": ["a"]}), rows]).to_csv(csv, index=False)
    shifted = load_path(str(csv))
    frame = corrected_frame(shifted, None, store.in_force(shifted.name))
    by_text = frame.set_index("text")
    assert by_text.loc["story number 3", ["corrected_label", "status"]].tolist() == ["a", "relabeled"]
    assert by_text.loc["story number 4", "status"] == "removed"
    assert (frame["status"] != "unreviewed").sum() == 2
    assert bind_decisions(shifted, store.in_force(shifted.name)).stale.empty


def test_duplicate_texts_get_distinct_content_ids(tmp_path):
    csv = tmp_path / "dups.csv"
    csv.write_text("text,label\nsame words,a\nother,b\nsame words,b\n")
    data = load_path(str(csv))
    digest = text_hash("same words")
    assert list(data.ids) == [digest, text_hash("other"), f"{digest}-2"]


def test_legacy_row_number_decisions_are_never_applied(tmp_path):
    """Stores written before content ids keyed files without an id column by row number; without a
    text hash nothing ties them to a text (issue 22 item 2): stale, even where every label matches."""
    csv = tmp_path / "old.csv"
    csv.write_text("text,label\nfirst,a\nsecond,b\nthird,a\n")
    data = load_path(str(csv))
    store = DecisionStore()
    store.record(data.name, "1", "b", "a", "relabeled", "old", text_hash=None)   # no text hash: as written by v2
    store.record(data.name, "2", "a", None, "removed", "old", text_hash=None)
    bound = bind_decisions(data, store.in_force(data.name))
    assert bound.applied.empty and bound.stale["reason"].tolist() == ["missing", "missing"]   # ids are hashes now
    assert corrected_frame(data, None, bound)["status"].tolist() == ["unreviewed", "unreviewed", "unreviewed"]

    csv.write_text("text,label\nnew top,b\nfirst,a\nsecond,b\nthird,a\n")   # rows moved down
    moved = load_path(str(csv))
    bound = bind_decisions(moved, store.in_force(moved.name))
    assert bound.applied.empty and len(bound.stale) == 2


def test_legacy_decisions_on_another_file_and_superseded_ones(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("id,text,label\n1,first,a\n2,second,b\n3,third,a\n")
    data = load_path(str(csv), ColumnMapping(id="id"))
    store = DecisionStore()
    store.record(data.name, "1", "a", "b", "relabeled", "old", text_hash=None)   # v2 rows: no text hash
    store.record(data.name, "2", "a", None, "removed", "old", text_hash=None)    # ... and "2" was given b
    bound = bind_decisions(data, store.in_force(data.name))
    assert bound.applied.empty and sorted(bound.stale["reason"]) == ["unchecked", "unchecked"]

    store = DecisionStore(tmp_path / "other.sqlite")
    store.record(data.name, "1", "a", "b", "relabeled", "old", text_hash=None)
    decide(store, data, "1", "a", "confirmed")                                    # newer, with a text hash
    bound = bind_decisions(data, store.in_force(data.name))
    assert bound.applied["status"].tolist() == ["confirmed"] and bound.stale.empty   # in_force() keeps the latest

    legacy = pd.concat([store.in_force(data.name)] * 2, ignore_index=True)        # the same example twice
    legacy.loc[0, ["decision_id", "text_hash"]] = [0, None]
    bound = bind_decisions(data, legacy)
    assert len(bound.applied) == 1 and bound.stale["reason"].tolist() == ["unchecked"]


def test_a_non_ascii_digit_id_is_just_missing(tmp_path):
    csv = tmp_path / "plain.csv"
    csv.write_text("text,label\nfirst,a\nsecond,b\n")
    data = load_path(str(csv))
    store = DecisionStore()
    store.record(data.name, "²", "a", None, "removed", "old", text_hash=None)
    assert bind_decisions(data, store.in_force(data.name)).stale["reason"].tolist() == ["missing"]
