"""losslens.export + losslens.writers: exact CSV content, options, file formats, and a byte-for-byte round trip."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losslens.sources.datasets import LabeledTexts, text_hash
from losslens.errors import ExportError
from losslens.export import corrected_frame
from losslens.writers import to_csv_bytes, write_export
from losslens.store.decisions import IN_FORCE_COLUMNS, DecisionStore

LABEL_NAMES = ("neg", "pos")
IDS = ["r1", "r2", "r3"]
LABELS = np.array([1, 0, 1])


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "text": ["good film", 'bad, "awful"', "so-so\nfine"],
        "label": ["pos", "neg", "pos"],
        "source": ["x", "y", "z"],
    })


def dataset(frame: pd.DataFrame, ids=IDS, labels=LABELS, label_names=LABEL_NAMES) -> LabeledTexts:
    """The dataset `frame` with these ids and labels, as the loader would give it."""
    return LabeledTexts(ids=np.asarray(ids, dtype=object), texts=frame["text"].to_numpy(dtype=object),
                        labels=np.asarray(labels), label_names=tuple(label_names), name="k", fingerprint="",
                        frame=frame)


TEXT_HASHES = dict(zip(IDS, map(text_hash, ["good film", 'bad, "awful"', "so-so\nfine"])))


def current(*rows) -> pd.DataFrame:
    """DecisionStore.in_force-shaped rows (example_id, original, new, status, reviewer, time),
    with the text hash of the `frame` example of that id, so they apply where id and given label match."""
    return pd.DataFrame([(n, r[0], TEXT_HASHES.get(r[0], "h"), *r[1:], None) for n, r in enumerate(rows, start=1)],
                        columns=IN_FORCE_COLUMNS)


@pytest.fixture
def results() -> pd.DataFrame:
    return pd.DataFrame({
        "id": IDS, "text": ["good film", 'bad, "awful"', "so-so\nfine"], "label": LABELS,
        "loss": [0.25, 1.5, 0.75], "quality": [0.75, 0.125, 0.5],
        "is_issue": [False, True, False], "rank": [3, 1, 2],
    })


@pytest.fixture
def decisions() -> pd.DataFrame:
    return current(
        ("r2", "neg", "pos", "relabeled", "ann", "2024-05-01T10:00:00+00:00"),
        ("r3", "pos", None, "removed", "bob", "2024-05-01T11:00:00+00:00"),
        ("gone", "pos", None, "confirmed", "bob", "2024-05-01T12:00:00+00:00"),
    )


EXPECTED_CSV = (
    "text,label,source,corrected_label,status,reviewer,reviewed_at,note,loss,quality,is_issue,rank\r\n"
    "good film,pos,x,pos,unreviewed,,,,0.25,0.75,False,3\r\n"
    '"bad, ""awful""",neg,y,pos,relabeled,ann,2024-05-01T10:00:00+00:00,,1.5,0.125,True,1\r\n'
    '"so-so\nfine",pos,z,pos,removed,bob,2024-05-01T11:00:00+00:00,,0.75,0.5,False,2\r\n'
)


def csv_lines(frame: pd.DataFrame) -> list[str]:
    return to_csv_bytes(frame).decode("utf-8").split("\r\n")


def test_exact_csv_content(frame, results, decisions):
    out = corrected_frame(dataset(frame), results, decisions)
    assert to_csv_bytes(out).decode("utf-8") == EXPECTED_CSV


def test_labels_as_ints(frame, results, decisions):
    out = corrected_frame(dataset(frame), results, decisions, labels_as="ints")
    assert out["corrected_label"].tolist() == [1, 1, 1]
    assert csv_lines(out)[1] == "good film,pos,x,1,unreviewed,,,,0.25,0.75,False,3"


@pytest.mark.parametrize(
    ("changed_only", "drop_removed", "kept"),
    [(False, False, ["x", "y", "z"]), (True, False, ["y", "z"]),
     (False, True, ["x", "y"]), (True, True, ["y"])],
)
def test_changed_only_and_drop_removed(frame, results, decisions, changed_only, drop_removed, kept):
    out = corrected_frame(dataset(frame), results, decisions,
        changed_only=changed_only, drop_removed=drop_removed,
    )
    assert out["source"].tolist() == kept
    assert out.index.tolist() == list(range(len(kept)))


def test_without_results_or_decisions_the_columns_are_empty(frame):
    out = corrected_frame(dataset(frame), None, None)
    assert out["corrected_label"].tolist() == ["pos", "neg", "pos"]
    assert out["status"].tolist() == ["unreviewed"] * 3
    assert csv_lines(out)[1] == "good film,pos,x,pos,unreviewed,,,,,,,"


def test_results_missing_an_id_leave_that_row_empty(frame, results):
    out = corrected_frame(dataset(frame), results.iloc[[0, 1]], None)
    assert out["rank"].tolist()[:2] == [3, 1] and out["rank"].isna().tolist() == [False, False, True]
    assert csv_lines(out)[3].endswith(",pos,unreviewed,,,,,,,")


def test_decisions_from_the_store(frame, results, tmp_path):
    store = DecisionStore(tmp_path / "d.sqlite")
    store.record("k", "r1", "pos", "neg", "relabeled", "ann", text_hash=text_hash("good film"))
    store.record("k", "r2", "neg", None, "confirmed", "ann", text_hash=text_hash('bad, "awful"'))
    store.record("k", "r3", "pos", None, "ambiguous", "ann", text_hash=text_hash("so-so\nfine"))
    store.reset("k", "r3", "ann")
    out = corrected_frame(dataset(frame), results, store.in_force("k"))
    assert out["corrected_label"].tolist() == ["neg", "neg", "pos"]
    assert out["status"].tolist() == ["relabeled", "confirmed", "unreviewed"]
    assert out["reviewer"].tolist()[:2] == ["ann", "ann"] and out["reviewer"].isna().tolist()[2]


def test_relabel_to_a_class_the_dataset_lost_is_not_exported(frame, results):
    decisions = current(("r1", "pos", "meh", "relabeled", "ann", "2024-05-01T10:00:00+00:00"))
    for labels_as, expected in (("names", "pos"), ("ints", 1)):
        out = corrected_frame(dataset(frame), results, decisions, labels_as=labels_as)
        assert out["corrected_label"].tolist()[0] == expected and out["status"].tolist()[0] == "unreviewed"


def test_reexporting_an_export_replaces_the_added_columns(frame, results, decisions):
    once = corrected_frame(dataset(frame), results, decisions)
    twice = corrected_frame(dataset(once), results, None)
    assert list(twice.columns) == list(once.columns)
    assert twice["status"].tolist() == ["unreviewed"] * 3


def test_write_csv_and_parquet(frame, results, decisions, tmp_path):
    out = corrected_frame(dataset(frame), results, decisions)
    csv_path = write_export(out, tmp_path / "sub" / "corrected.csv")
    assert csv_path.read_bytes().decode("utf-8") == EXPECTED_CSV
    back = pd.read_parquet(write_export(out, tmp_path / "corrected.parquet"))
    assert back["text"].tolist() == frame["text"].tolist()
    assert back["corrected_label"].tolist() == ["pos", "pos", "pos"]
    assert back["rank"].tolist() == [3, 1, 2] and back["is_issue"].tolist() == [False, True, False]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrected.parquet", "sub"]
    with pytest.raises(ExportError, match="give a .csv or .parquet file name"):
        write_export(out, tmp_path / "corrected.xlsx")


texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(texts, st.integers(0, 2)), min_size=1, max_size=12),
    label_names=st.lists(texts.filter(bool), min_size=3, max_size=3, unique=True),
    id_texts=st.lists(texts, min_size=12, max_size=12, unique=True),
)
def test_raw_csv_round_trip_is_byte_for_byte(rows, label_names, id_texts):
    n = len(rows)
    ids = id_texts[:n]
    labels = np.array([label for _, label in rows])
    frame = pd.DataFrame({
        "id": ids, "text": [text for text, _ in rows], "label": [label_names[k] for k in labels]
    })
    out = corrected_frame(dataset(frame, ids, labels, label_names), None, None)
    back = pd.read_csv(io.BytesIO(to_csv_bytes(out, raw=True)), dtype=str, keep_default_na=False)
    for column in ("id", "text", "label", "corrected_label"):
        assert [v.encode("utf-8") for v in back[column]] == [v.encode("utf-8") for v in out[column]]


def test_drop_ambiguous_and_notes(frame, results):
    decisions = current(("r1", "pos", None, "ambiguous", "ann", "2024-05-01T10:00:00+00:00"),
                        ("r2", "neg", None, "confirmed", "ann", "2024-05-01T10:01:00+00:00"))
    decisions.loc[1, "note"] = "checked twice"
    out = corrected_frame(dataset(frame), results, decisions, drop_ambiguous=True)
    assert out["source"].tolist() == ["y", "z"] and out["note"][0] == "checked twice" and pd.isna(out["note"][1])


def test_a_hugging_face_dataset_with_corrected_label_as_class_label(frame, results, decisions, tmp_path):
    import datasets

    out = corrected_frame(dataset(frame), results, decisions)
    folder = write_export(out, tmp_path / "corrected", LABEL_NAMES)
    back = datasets.load_from_disk(str(folder))
    assert back.features["corrected_label"] == datasets.ClassLabel(names=["neg", "pos"])
    assert back["corrected_label"] == [1, 1, 1] and back["text"] == frame["text"].tolist()
    assert back["status"] == ["unreviewed", "relabeled", "removed"]
    ints = corrected_frame(dataset(frame), results, decisions, labels_as="ints")
    assert datasets.load_from_disk(str(write_export(ints, tmp_path / "ints", LABEL_NAMES)))["corrected_label"] == [1, 1, 1]
    with pytest.raises(ExportError, match="new or empty folder"):
        write_export(out, tmp_path / "corrected", LABEL_NAMES)   # not empty any more


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"])
def test_csv_neutralises_formula_cells_unless_raw(frame, results, cell, tmp_path):
    """OWASP: a cell a spreadsheet would run starts with ' in the default CSV; Parquet and raw
    CSV keep it exact; numbers stay numbers."""
    risky = frame.assign(text=[cell, "plain", "also plain"], source=["=cmd|' /C calc'!A0", "y", "z"])
    out = corrected_frame(dataset(risky), results, None)
    back = pd.read_csv(io.BytesIO(to_csv_bytes(out)), dtype=str, keep_default_na=False)
    assert back["text"].tolist()[0] == "'" + cell and back["source"].tolist()[0].startswith("'=")
    assert back["text"].tolist()[1:] == ["plain", "also plain"] and back["loss"].tolist()[0] == "0.25"
    raw = pd.read_csv(io.BytesIO(to_csv_bytes(out, raw=True)), dtype=str, keep_default_na=False)
    assert raw["text"].tolist()[0] == cell
    assert pd.read_parquet(write_export(out, tmp_path / "exact.parquet"))["text"].tolist()[0] == cell
