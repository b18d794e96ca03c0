"""DatasetSource: parsed once from the CLI string, round-trips to it; every path a user gives
(local file, Hub field, annotation file, model folder) stays inside LOSSLENS_DATA_DIR when set."""
from __future__ import annotations

import datasets
import pytest

from losslens.activelab.annotations import load_annotations
from losslens.sources.datasets import DatasetSource, load_dataset
from losslens.errors import AnnotationError, DataError, LossLensError
from losslens.scoring.models import ModelSpec, model_identity
from losslens.sources.files import hub_name_or_local_path


@pytest.fixture
def disk_folder(tmp_path):
    folder = tmp_path / "news_disk"
    split = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": ["x", "y", "x"]})
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(folder))
    return folder


@pytest.mark.parametrize("text,split,expected", [
    ("demo:bbc", "train", DatasetSource("demo", "bbc")),
    ("hf:ag_news", "test", DatasetSource("hub", "ag_news", None, "test")),
    ("hf:glue:sst2", "validation", DatasetSource("hub", "glue", "sst2", "validation")),
    ("hf:org/name", "train", DatasetSource("hub", "org/name")),
    ("data/reviews.csv", "train", DatasetSource("file", "data/reviews.csv")),
    ("file:data/reviews.csv", "train", DatasetSource("file", "data/reviews.csv")),
])
def test_parse_and_round_trip_to_the_cli_string(text, split, expected):
    source = DatasetSource.parse(text, split=split)
    assert source == expected
    args = source.cli_args()
    assert DatasetSource.parse(args[0], split=args[2] if len(args) > 1 else "train") == source


def test_a_save_to_disk_folder_is_a_disk_source_from_the_cli_and_the_hub_field(disk_folder):
    source = DatasetSource.parse(str(disk_folder), split="test")
    assert source == DatasetSource("disk", str(disk_folder), split="test")
    assert source.cli_args() == [str(disk_folder), "--split", "test"]
    assert DatasetSource.from_hub_field(str(disk_folder), "test") == source   # the app's HF field
    assert DatasetSource.parse(f"hf:{disk_folder}", split="test") == source
    data = load_dataset(source)
    assert list(data.texts) == ["a", "b", "c"] and data.name == "news_disk/test"


def test_bad_source_strings_are_one_line():
    for text, message in [("", "no dataset given"), ("demo:imdb", "unknown demo 'imdb'"),
                          ("hf:", "hf: needs a dataset name"), ("hf:/etc:cfg", "is not a Hub dataset name")]:
        with pytest.raises(DataError, match=message):
            DatasetSource.parse(text)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """LOSSLENS_DATA_DIR=tmp/data; tmp/outside holds things a user must not reach; cwd=tmp."""
    inside, outside = tmp_path / "data", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    monkeypatch.setenv("LOSSLENS_DATA_DIR", str(inside))
    monkeypatch.chdir(tmp_path)
    return inside, outside


def no_hub(*args, **kwargs):
    pytest.fail("a local path reached datasets.load_dataset")


def test_hub_field_never_opens_folders_outside_the_data_dir(data_dir, monkeypatch):
    inside, outside = data_dir
    (outside / "secrets").mkdir()
    (outside / "secrets" / "train.csv").write_text("text,label\npassword,a\nkey,b\n")
    monkeypatch.setattr(datasets, "load_dataset", no_hub)
    for field in [str(outside / "secrets"), f"{outside / 'secrets'}:default", "../outside/secrets",
                  "outside/secrets"]:
        with pytest.raises(LossLensError) as info:
            load_dataset(DatasetSource.from_hub_field(field))
        assert "outside the data directory" in str(info.value) or "no such folder" in str(info.value)


def test_a_hub_like_name_that_exists_locally_is_never_sent_to_the_hub(data_dir, monkeypatch):
    inside, outside = data_dir
    monkeypatch.setattr(datasets, "load_dataset", no_hub)
    (inside.parent / "org" / "name").mkdir(parents=True)   # in the cwd, outside the data dir
    assert hub_name_or_local_path("org/name") == inside / "org" / "name"
    with pytest.raises(DataError, match="no such folder"):
        load_dataset(DatasetSource.parse("hf:org/name"))


def test_annotation_files_are_confined(data_dir):
    inside, outside = data_dir
    (outside / "crowd.csv").write_text("id,a,b\n1,x,y\n2,y,y\n")
    (inside / "link.csv").symlink_to(outside / "crowd.csv")
    for path in [outside / "crowd.csv", "../outside/crowd.csv", "link.csv"]:
        with pytest.raises(AnnotationError, match="outside the data directory"):
            load_annotations(path)
    (inside / "crowd.csv").write_text("id,a,b\n1,x,y\n2,y,y\n")
    assert len(load_annotations("crowd.csv")) == 2   # relative to the data directory


def test_model_folders_are_confined(data_dir, tiny_classifier_dir):
    inside, outside = data_dir
    (inside / "model").symlink_to(tiny_classifier_dir)   # a link out of the data dir
    for name in [str(tiny_classifier_dir), "model", "../outside/model"]:
        with pytest.raises(LossLensError, match="outside the data directory"):
            model_identity(ModelSpec(name).name)


def test_without_a_data_dir_a_model_folder_anywhere_works(tiny_classifier_dir, monkeypatch):
    monkeypatch.delenv("LOSSLENS_DATA_DIR", raising=False)
    assert model_identity(str(tiny_classifier_dir)).startswith("local:")


def test_datasets_file_loaders_are_not_hub_names(monkeypatch, tmp_path):
    """hf:csv would make datasets read every CSV in the server's working folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "salaries.csv").write_text("text,label\nalice 120k,a\nbob 90k,b\n")
    monkeypatch.setattr(datasets, "load_dataset", no_hub)
    for name in ["csv", "json", "parquet", "text", "CSV"]:
        with pytest.raises(DataError, match="is a datasets file loader, not a Hub dataset"):
            load_dataset(DatasetSource.parse(f"hf:{name}"))


@pytest.mark.parametrize("text", ["a\x00b.csv", "x" * 5000 + ".csv", "hf:" + "y" * 300, "hf:" + "z" * 3000])
def test_paths_the_filesystem_refuses_are_one_short_line(text):
    with pytest.raises(DataError) as info:
        load_dataset(DatasetSource.parse(text))
    assert "cannot be used" in str(info.value) and len(str(info.value)) <= 300


def test_an_escaped_lone_surrogate_in_json_lines_is_refused_and_real_emoji_load(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "a\\ud800b", "label": "x"}\n{"text": "ok", "label": "y"}\n')
    with pytest.raises(DataError, match="line 1 holds text that is not valid Unicode"):
        load_dataset(DatasetSource.parse(str(tmp_path / "bad.jsonl")))
    (tmp_path / "ok.jsonl").write_text('{"text": "smile \\ud83d\\ude00", "label": "x"}\n{"text": "ok", "label": "y"}\n')
    assert load_dataset(DatasetSource.parse(str(tmp_path / "ok.jsonl"))).texts[0] == "smile \U0001F600"


@pytest.mark.parametrize("name", ["notes:2024.csv", " spaced.csv", "hf:looks.csv", "demo:x.csv"])
def test_odd_file_names_round_trip_through_the_cli_string(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    source = DatasetSource("file", name)
    assert DatasetSource.parse(source.cli()) == source

