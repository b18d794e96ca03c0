"""losslens.sources.datasets: every dataset source, label mapping and the fingerprint."""
from __future__ import annotations

import collections
import json

import datasets
import numpy as np
import pandas as pd
import pytest

from loading import load_path, load_upload
from losslens.sources.datasets import (
    ColumnMapping, DataError, LabeledTexts, content_ids, labeled_texts_from_frame, load_demo_bbc, text_hash,
)
from losslens.sources.files import read_table

ROWS = pd.DataFrame({
    "id": ["a1", "a2", "a3", "a4"],
    "title": ["Good film", "Bad film", "Fine, okay", "Awful"],
    "review": ["Loved it", "Hated it", 'A "so-so"\nfilm', "Never again"],
    "sentiment": ["pos", "neg", "pos", "neg"],
})


def write(frame: pd.DataFrame, path) -> str:
    """Write `frame` in the format given by the suffix of `path`; return the path as str."""
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    return str(path)


MAPPING = ColumnMapping(text="review", label="sentiment", id="id")


def test_demo_bbc_counts_ids_and_labels():
    demo = load_demo_bbc()
    assert len(demo) == 2225 and demo.n_classes == 5
    assert demo.label_names == ("business", "entertainment", "politics", "sport", "tech")
    counts = dict(zip(demo.label_names, np.bincount(demo.labels)))
    assert counts == {"business": 510, "entertainment": 386, "politics": 417, "sport": 511, "tech": 401}
    assert demo.ids[0] == "business/001" and "sport/001" in set(demo.ids) and demo.ids[-1] == "tech/401"
    assert len(set(demo.ids)) == 2225
    assert demo.name == "demo:bbc"
    assert list(demo.frame.columns[:3]) == ["id", "text", "label"]
    assert demo.frame["label"].iloc[0] == "business"
    assert demo.frame["title"].iloc[0] == demo.texts[0].split("\n")[0]
    duplicates = sum(n - 1 for n in collections.Counter(demo.texts).values())
    assert duplicates == 98  # real data: kept


def test_demo_bbc_non_utf8_file_decoded_and_cached():
    demo = load_path("demo:bbc")
    text = demo.texts[list(demo.ids).index("sport/199")]
    assert text.startswith("Chelsea sack Mutu") and "a £15.8m signing" in text
    assert demo is load_demo_bbc()  # in-process cache
    assert not demo.labels.flags.writeable and not demo.texts.flags.writeable


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_local_files_load_the_same(tmp_path, suffix):
    data = load_path(write(ROWS, tmp_path / f"reviews{suffix}"), columns=MAPPING)
    assert isinstance(data, LabeledTexts)
    assert list(data.ids) == ["a1", "a2", "a3", "a4"]
    assert list(data.texts) == list(ROWS["review"])
    assert data.label_names == ("neg", "pos") and list(data.labels) == [1, 0, 1, 0]
    assert data.labels.dtype == np.int64 and data.name == f"reviews{suffix}"
    assert list(data.frame.columns) == list(ROWS.columns)


def test_upload_bytes_and_default_ids(tmp_path):
    payload = ROWS.drop(columns="id").to_csv(index=False).encode()
    data = load_upload("upload/reviews.csv", payload, ColumnMapping(text="review", label="sentiment"))
    assert list(data.ids) == content_ids(ROWS["review"]) and data.name == "reviews.csv"
    assert list(data.ids)[0] == text_hash("Loved it") and len(data.ids[0]) == 16
    assert data.texts[2] == 'A "so-so"\nfilm'


def test_text2_is_joined_with_newline(tmp_path):
    path = write(ROWS, tmp_path / "r.csv")
    data = load_path(path, columns=ColumnMapping(text="title", text2="review", label="sentiment"))
    assert data.texts[0] == "Good film\nLoved it"


def test_read_table_reads_cells_as_exact_strings(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,text,label\n001,NA,1\n002,null,2\n")
    frame = read_table(path)
    assert frame["id"].tolist() == ["001", "002"] and frame["text"].tolist() == ["NA", "null"]
    assert read_table(path.read_bytes(), filename="t.csv").equals(frame)


def test_integer_labels_sorted_numerically(tmp_path):
    frame = pd.DataFrame({"text": list("abcde"), "label": [10, 2, 1, 2, 10]})
    for suffix in (".csv", ".jsonl", ".parquet"):
        data = load_path(write(frame, tmp_path / f"n{suffix}"))
        assert data.label_names == ("1", "2", "10"), suffix
        assert list(data.labels) == [2, 1, 0, 1, 2], suffix


def test_string_labels_sorted_and_names_kept(tmp_path):
    frame = pd.DataFrame({"text": list("abcd"), "label": ["World", "Sci/Tech", "World", "Business"]})
    data = load_path(write(frame, tmp_path / "s.csv"))
    assert data.label_names == ("Business", "Sci/Tech", "World")
    assert list(data.labels) == [2, 1, 2, 0]


def test_save_to_disk_dataset_dict_uses_split_and_class_label(tmp_path):
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["world", "sports", "business"])})
    train = datasets.Dataset.from_dict({"text": ["x", "y", "z"], "label": [0, 1, 0]}, features=features)
    test = datasets.Dataset.from_dict({"text": ["p", "q"], "label": [1, 0]}, features=features)
    folder = tmp_path / "news_disk"
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(folder))
    data = load_path(str(folder), split="test")
    assert list(data.texts) == ["p", "q"] and list(data.labels) == [1, 0]
    assert data.label_names == ("world", "sports", "business")  # ClassLabel order, absent class kept
    assert data.name == "news_disk/test"
    with pytest.raises(DataError, match=r"split 'validation' not found .*available splits: train, test"):
        load_path(str(folder), split="validation")


def test_save_to_disk_single_dataset(tmp_path):
    folder = tmp_path / "plain"
    datasets.Dataset.from_dict({"body": ["one", "two"], "y": ["b", "a"]}).save_to_disk(str(folder))
    data = load_path(str(folder), columns=ColumnMapping(text="body", label="y"))
    assert data.label_names == ("a", "b") and list(data.labels) == [1, 0]
    assert data.name == "plain"


def test_hf_offline_gives_one_line_message():
    with pytest.raises(DataError, match=r"offline: the Hub is unreachable; use a local file or a datasets "
                                        r"save_to_disk folder") as info:
        load_path("hf:surely_not_cached_dataset_xyz:cfg", split="train")
    assert "\n" not in str(info.value) and "hf:surely_not_cached_dataset_xyz:cfg" in str(info.value)


def test_not_a_dataset_folder(tmp_path):
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(DataError, match="'empty_folder' is not a datasets save_to_disk folder"):
        load_path(str(tmp_path / "empty_folder"))


def test_fingerprint_stable_and_sensitive(tmp_path):
    path = write(ROWS, tmp_path / "r.csv")
    first = load_path(path, columns=MAPPING).fingerprint
    assert first == load_path(write(ROWS, tmp_path / "r.jsonl"), columns=MAPPING).fingerprint
    assert len(first) == 64 and int(first, 16) >= 0
    changes = {
        "text": ROWS.assign(review=["Loved it!", *ROWS["review"][1:]]),
        "label": ROWS.assign(sentiment=["neg", "neg", "pos", "neg"]),
        "id": ROWS.assign(id=["b1", "a2", "a3", "a4"]),
        "label name": ROWS.assign(sentiment=["positive", "neg", "positive", "neg"]),
    }
    prints = {first}
    for name, frame in changes.items():
        prints.add(load_path(write(frame, tmp_path / f"{name}.csv"), columns=MAPPING).fingerprint)
    assert len(prints) == 1 + len(changes)


def test_demo_fingerprint_is_fixed():
    """Content hash of the bundled demo: changes only if the data or the hashing changes."""
    assert load_demo_bbc().fingerprint == "340cf4030117b4daaea122f3dd52d4eef5cb3e25636b436cb4850f06f4067855"


def test_jsonl_keeps_json_types(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"id": 7, "text": "a\u2028b", "label": True}, {"id": 8, "text": "c", "label": False}]) + "\n")
    data = load_path(str(path), columns=ColumnMapping(id="id"))
    assert list(data.ids) == ["7", "8"] and data.texts[0] == "a\u2028b"
    assert data.label_names == ("False", "True")


def test_frame_without_rows():
    with pytest.raises(DataError, match=r"the dataset 'hf:x:default:test' has no rows"):
        labeled_texts_from_frame(pd.DataFrame({"text": [], "label": []}), ColumnMapping(), "hf:x:default:test")


def test_hf_source_uses_load_dataset_and_class_label(monkeypatch):
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["World", "Sports"])})
    calls = []

    def fake_load_dataset(name, config, split):
        calls.append((name, config, split))
        return datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [1, 0, 1]}, features=features)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    data = load_path("hf:ag_news", split="test")
    assert calls == [("ag_news", None, "test")]
    assert data.label_names == ("World", "Sports") and list(data.labels) == [1, 0, 1]
    assert data.name == "ag_news/test"
    assert load_path("hf:glue:sst2", split="train").name == "glue:sst2/train"
    assert calls[-1] == ("glue", "sst2", "train")


@pytest.mark.parametrize("error,expected", [
    (ValueError('Unknown split "dev".\nShould be one of [\'train\', \'test\'].'),
     "could not load hf:ag_news split 'dev': Unknown split \"dev\"."),
    (datasets.exceptions.DatasetNotFoundError("Dataset 'nope' doesn't exist on the Hub"),
     "no dataset 'ag_news' on the Hub (or it is private/gated)"),
    (TimeoutError("read timed out"), "cannot load hf:ag_news offline: the Hub is unreachable"),
])
def test_hf_failures_become_one_line(monkeypatch, error, expected):
    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(datasets, "load_dataset", failing)
    with pytest.raises(DataError) as info:
        load_path("hf:ag_news", split="dev")
    assert str(info.value).startswith(expected) and "\n" not in str(info.value)
