"""A decision follows its example: re-scoring with another model, editing and reloading the file,
and restarting (a new DecisionStore on the same file) keep every decision; decisions for ids that
disappeared are kept and reported, not dropped."""
import pandas as pd

from losslens.data import ColumnMapping, load_dataset_source
from losslens.export import build_corrected_frame
from losslens.models import ModelSpec
from losslens.pipeline import score_dataset
from losslens.store import DecisionStore
from test_pipeline import write_reviews_csv
from tiny_models import build_tiny_classifier

COLUMNS = ColumnMapping(text="review", label="sentiment", id="id")


def corrected(data, results, store):
    return build_corrected_frame(
        data.frame, data.ids, data.labels, data.label_names, results.table, store.current(data.source_key)
    ).set_index("id")


def test_decisions_survive_rescoring_file_edits_and_restart(tmp_path, tiny_classifier_dir):
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=20)
    data = load_dataset_source(str(csv), columns=COLUMNS)
    first = score_dataset(data, ModelSpec(str(tiny_classifier_dir), precision="fp32"))
    store = DecisionStore()
    store.record(data.source_key, "r001", "pos", "neg", "relabeled", "ana")
    store.record(data.source_key, "r004", "neg", "neg", "confirmed", "ana")
    store.record(data.source_key, "r007", "pos", "pos", "ambiguous", "ben")

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
    reloaded = load_dataset_source(str(csv), columns=COLUMNS)
    assert reloaded.source_key == data.source_key and reloaded.fingerprint != data.fingerprint
    results = score_dataset(reloaded, ModelSpec(str(tiny_classifier_dir), precision="fp32"))
    frame = corrected(reloaded, results, DecisionStore())
    assert frame.loc["r001", ["review", "corrected_label", "status"]].tolist() == [
        "rewritten text of the first review", "neg", "relabeled"]
    assert frame.loc["r007", "status"] == "ambiguous" and frame.loc["r900", "status"] == "unreviewed"

    store = DecisionStore()
    assert set(store.current(data.source_key)["example_id"]) == {"r001", "r004", "r007"}  # kept
    orphans = store.orphans(data.source_key, reloaded.ids)
    assert list(orphans["example_id"]) == ["r004"]  # and reported
