"""Multi-annotator formats: wide, long, Stanford Politeness; bad files give one-line errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from losslens.activelab.annotations import (AnnotationError, detect_format, from_long, from_politeness, from_wide,
                              load_annotations, simulate_annotators, simulated_crowd)

POLITENESS_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "politeness" / "wikipedia.annotated.csv"


def test_wide_shapes_and_label_encoding():
    frame = pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"],
                          "ann1": ["pos", None, "neg"], "ann2": ["pos", "neg", None]})
    data = from_wide(frame)
    assert data.labels.shape == (3, 2)
    assert data.annotators == ("ann1", "ann2")
    assert data.label_names == ("neg", "pos")
    np.testing.assert_array_equal(data.labels, [[1, 1], [np.nan, 0], [0, np.nan]])
    assert list(data.ids) == ["a", "b", "c"] and list(data.texts) == ["x", "y", "z"]
    assert data.n_annotations == 4
    assert list(data.annotation_counts()) == [2, 1, 1]


def test_wide_numeric_labels_keep_their_values_as_names():
    frame = pd.DataFrame({"text": ["x", "y"], "a": [0, 1], "b": [1.0, np.nan]})
    data = from_wide(frame)
    assert data.label_names == ("0", "1")
    np.testing.assert_array_equal(data.labels, [[0, 1], [1, np.nan]])
    assert list(data.ids) == ["0", "1"]


def test_long_pivots_to_one_column_per_annotator(tmp_path):
    path = tmp_path / "long.csv"
    pd.DataFrame({"id": [1, 1, 2, 3], "annotator": ["ann", "bob", "ann", "bob"],
                  "label": ["cat", "dog", "dog", "cat"],
                  "text": ["t1", "t1", "t2", "t3"]}).to_csv(path, index=False)
    data = load_annotations(path)              # auto-detects long
    assert data.annotators == ("ann", "bob")
    assert list(data.ids) == ["1", "2", "3"]
    assert list(data.texts) == ["t1", "t2", "t3"]
    np.testing.assert_array_equal(data.labels, [[0, 1], [1, np.nan], [np.nan, 0]])


def test_politeness_preset_thresholds_scores_above_13():
    frame = pd.DataFrame({"Id": [7, 8], "Request": ["Could you please?", "Fix it."],
                          "Score1": [20, 13], "Score2": [14, 5], "TurkId1": ["W1", "W2"], "TurkId2": ["W2", "W3"]})
    data = from_politeness(frame)
    assert data.label_names == ("impolite", "polite")
    assert data.annotators == ("W1", "W2", "W3")
    # row 0: W1=20 -> polite, W2=14 -> polite; row 1: W2=13 -> impolite (not > 13), W3=5 -> impolite
    np.testing.assert_array_equal(data.labels, [[1, 1, np.nan], [np.nan, 0, 0]])
    assert detect_format(frame) == "politeness"


@pytest.mark.skipif(not POLITENESS_CSV.exists(), reason=f"politeness data not present at {POLITENESS_CSV}")
def test_real_politeness_file():
    data = load_annotations(POLITENESS_CSV, "politeness")
    assert data.labels.shape == (4353, 219)
    assert (data.annotation_counts() == 5).all()
    assert abs(np.nanmean(data.labels) - 0.49) < 0.01           # 49% polite annotations
    unanimous = (np.nanmin(data.labels, axis=1) == np.nanmax(data.labels, axis=1)).sum()
    assert unanimous == 1371


@pytest.mark.parametrize("frame, fmt, message", [
    (pd.DataFrame({"id": [1], "annotator": ["a"]}), "long", "needs column(s) label"),
    (pd.DataFrame({"id": [1, 1], "annotator": ["a", "a"], "label": [0, 1]}), "long", "twice (row 3)"),
    (pd.DataFrame({"id": [1, 2], "annotator": ["a", "b"], "label": [0, None]}), "long", "row 3 has an empty label"),
    (pd.DataFrame({"id": ["x", "x"], "a": [0, 1]}), "wide", "id 'x' appears twice"),
    (pd.DataFrame({"id": ["x", "y"], "a": [0, None], "b": [1, None]}), "wide", "'y' (row 3) has no annotation"),
    (pd.DataFrame({"id": ["x", "y"], "a": [1, 1]}), "wide", "only one label"),
    (pd.DataFrame({"id": ["x"], "text": ["t"]}), "wide", "one column per annotator"),
    (pd.DataFrame({"Request": ["r"], "Score1": ["lots"], "TurkId1": ["w"]}), "politeness", "Score1 in row 2"),
    (pd.DataFrame({"Request": ["r"], "Score1": [3]}), "politeness", "TurkId1"),
])
def test_bad_frames_raise_one_line_errors(frame, fmt, message):
    reader = {"wide": from_wide, "long": from_long, "politeness": from_politeness}[fmt]
    with pytest.raises(AnnotationError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        reader(frame)
    assert "\n" not in str(info.value)


def test_bad_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(AnnotationError, match="empty"):
        load_annotations(empty)
    with pytest.raises(AnnotationError, match="no such file"):
        load_annotations(tmp_path / "missing.csv")
    with pytest.raises(AnnotationError, match="unknown format"):
        load_annotations(empty, "matrix")
    garbage = tmp_path / "bad.parquet"
    garbage.write_bytes(b"not parquet")
    with pytest.raises(AnnotationError, match="not a readable Parquet file"):
        load_annotations(garbage)


def test_upload_bytes_use_the_filename_extension():
    raw = b"id\tannotator\tlabel\n1\ta\tx\n1\tb\ty\n"
    data = load_annotations(raw, filename="crowd.tsv")
    assert data.labels.shape == (1, 2) and data.source == "crowd.tsv"


def test_simulated_annotators_have_their_own_error_rates():
    truth = np.random.default_rng(1).integers(0, 3, 4000)
    labels, rates = simulate_annotators(truth, 3, n_annotators=4, per_example=4, error_range=(0.0, 0.6))
    assert (np.sum(~np.isnan(labels), axis=1) == 4).all()
    observed = [(labels[:, m] != truth).mean() for m in range(4)]
    np.testing.assert_allclose(observed, rates, atol=0.03)
    assert observed[0] == 0.0


def test_simulated_crowd_wraps_a_labeled_dataset():
    class Tiny:
        ids = np.array(["a", "b"], dtype=object)
        texts = np.array(["x", "y"], dtype=object)
        labels = np.array([0, 1])
        label_names = ("no", "yes")
        name = "demo:tiny"

    data = simulated_crowd(Tiny(), n_annotators=6, per_example=3)
    assert data.labels.shape == (2, 6) and (data.annotation_counts() == 3).all()
    assert data.source == "simulated:demo:tiny" and data.annotators[0] == "sim-01"


def test_politeness_ids_are_per_community_when_the_corpus_has_them(tmp_path):
    """The Stack Exchange part repeats Id across communities: (Community, Id) keys the example."""
    rows = []
    for community, ids in (("Wikipedia", [1, 2]), ("StackExchange", [1, 2, 3])):
        for i in ids:
            rows.append({"Community": community, "Id": i, "Request": f"{community} request {i}?",
                         **{f"Score{k}": 10 + k + i for k in range(1, 6)},
                         **{f"TurkId{k}": f"w{(k + i) % 7}" for k in range(1, 6)}})
    path = tmp_path / "politeness_both.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    data = load_annotations(path)
    assert list(data.ids) == ["Wikipedia/1", "Wikipedia/2", "StackExchange/1", "StackExchange/2", "StackExchange/3"]
    assert data.label_names == ("impolite", "polite") and data.labels.shape == (5, 7)


def test_ids_are_read_as_written_and_bad_cells_are_one_line(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text("id,a,b\n001,x,y\n1,x,x\n")
    assert list(load_annotations(wide).ids) == ["001", "1"]          # not merged into one example
    long = tmp_path / "long.csv"
    long.write_text("id,annotator,label\n1,ann,x\n1,,y\n")
    with pytest.raises(AnnotationError, match="empty"):
        load_annotations(long)
    typo = tmp_path / "typo.csv"
    typo.write_text("id,a,b\n1,x,xx\n2,y,y\n")
    assert load_annotations(typo).label_names == ("x", "xx", "y")      # without --classes: a new class
    with pytest.raises(AnnotationError, match=r"unknown label\(s\) xx; expected one of x, y"):
        load_annotations(typo, classes=("x", "y"))


def test_a_single_annotator_file_is_one_clear_line(tmp_path, capsys):
    from losslens import cli

    path = tmp_path / "single.csv"
    path.write_text("id,text,ann\n" + "".join(f"{i},text {i},{'x' if i % 2 else 'y'}\n" for i in range(40)))
    assert cli.main(["simulate", "--annotations", str(path)]) == 2
    err = capsys.readouterr().err
    assert "classes: x, y · 40 examples" in err
    assert "a single-annotator file cannot compare strategies" in err and "--test" not in err
