"""Classes of failure made impossible: a model that reads words as [UNK], a stale cache after
files change, damaged side files, unbounded texts, NUL characters, unwritable homes and files
created against the umask. Each is one LossLensError line, or a correct result."""
from __future__ import annotations

import json
import os
import shutil
import stat

import numpy as np
import pandas as pd
import pytest

from loading import load_path
from losslens.scoring.cache import cache_dir
from losslens.sources.datasets import ColumnMapping
from losslens.errors import ConfigError, DataError, ModelError
from losslens.scoring.models import CHARS_PER_TOKEN, ModelSpec, clipped_texts, load_model, model_identity
from losslens.scoring.features import truncated_mask
from losslens.scoring.inference import tokenize
from losslens.scoring.pipeline import score_dataset
from losslens.scoring.request import ScoreSettings
from review_data import write_reviews_csv

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


@pytest.fixture
def reviews(tmp_path):
    return load_path(str(write_reviews_csv(tmp_path / "reviews.csv", n=20)),
                     ColumnMapping(text="review", label="sentiment", id="id"))


def test_a_model_without_its_vocabulary_is_refused_and_adding_it_is_a_new_identity(tmp_path, tiny_classifier_dir):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_classifier_dir, bare)
    for name in TOKENIZER_FILES:
        (bare / name).unlink(missing_ok=True)
    before = model_identity(str(bare))
    with pytest.raises(ModelError) as info:
        load_model(ModelSpec(str(bare), "cpu", "fp32"))
    assert "tokenizer" in str(info.value) and len(str(info.value)) <= 300
    for name in TOKENIZER_FILES:
        if (tiny_classifier_dir / name).exists():
            shutil.copy(tiny_classifier_dir / name, bare / name)
    assert model_identity(str(bare)) != before      # the cache key moves with the tokenizer files
    assert load_model(ModelSpec(str(bare), "cpu", "fp32")).kind == "classifier"


@pytest.mark.parametrize("damage,expected", [
    (lambda folder: (folder / "config.json").write_text("[1, 2, 3]"), "not an object of settings"),
    (lambda folder: (folder / "config.json").write_text("{not json"), "is not readable JSON"),
    (lambda folder: (folder / "model.safetensors").write_bytes(b"\x00" * 64), "could not be loaded"),
])
def test_damaged_model_files_are_one_line(tmp_path, tiny_classifier_dir, damage, expected):
    folder = tmp_path / "model"
    shutil.copytree(tiny_classifier_dir, folder)
    damage(folder)
    with pytest.raises(ModelError) as info:
        load_model(ModelSpec(str(folder), "cpu", "fp32"))
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_damaged_side_file_is_recomputed_not_trusted(reviews, tiny_encoder_dir, losslens_home):
    first = score_dataset(reviews, ModelSpec(str(tiny_encoder_dir), precision="fp32"))
    assert first.out_of_sample
    (meta,) = (losslens_home / "probs").glob("*.meta.json")
    raw = json.loads(meta.read_text())
    raw["value"]["kind"] = "classifier"          # the old .kind file could say this unchecked
    meta.write_text(json.dumps(raw))
    again = score_dataset(reviews, ModelSpec(str(tiny_encoder_dir), precision="fp32"))
    assert not again.from_cache and again.out_of_sample and again.model_kind == "encoder"


def test_huge_texts_are_clipped_before_tokenizing_and_flagged(tmp_path, tiny_classifier_dir):
    huge = "word " * 2_000_000                                    # 10 MB
    assert [len(t) for t in clipped_texts([huge, "short"], 16)] == [16 * CHARS_PER_TOKEN, 5]
    model = load_model(ModelSpec(str(tiny_classifier_dir), "cpu", "fp32"))
    counts = tokenize(model, clipped_texts([huge, "short text"], 16), 16).counts
    assert truncated_mask([huge, "short text"], counts, 16).tolist() == [True, False]
    csv = tmp_path / "huge.csv"
    pd.DataFrame({"text": [huge, "a fine film", "a bad film", "fine again"],
                  "label": ["pos", "pos", "neg", "neg"]}).to_csv(csv, index=False)
    results = score_dataset(load_path(str(csv)), ModelSpec(str(tiny_classifier_dir), precision="fp32"),
                            ScoreSettings(max_length=16))
    assert results.table["truncated"].tolist() == [True, False, False, False]


def test_texts_with_nul_are_refused_with_their_rows(tmp_path):
    path = tmp_path / "nul.jsonl"
    path.write_text('{"text": "fine", "label": "a"}\n{"text": "bad\\u0000byte", "label": "b"}\n')
    with pytest.raises(DataError, match=r"holds a NUL character in 1 row \(row 1;"):
        load_path(str(path))


def test_an_unwritable_cache_is_one_line(monkeypatch, tmp_path, reviews, tiny_classifier_dir):
    home = tmp_path / "home"
    home.mkdir()
    (home / "probs").write_text("a file where the cache folder goes")
    monkeypatch.setenv("LOSSLENS_HOME", str(home))
    with pytest.raises(ConfigError) as info:
        score_dataset(reviews, ModelSpec(str(tiny_classifier_dir), precision="fp32"))
    assert "point LOSSLENS_HOME at a writable folder" in str(info.value)
    assert cache_dir("scores").is_dir()


def test_exports_honour_the_umask(tmp_path):
    from losslens.writers import write_export

    old = os.umask(0o022)
    try:
        written = write_export(pd.DataFrame({"a": [1]}), tmp_path / "out.csv")
    finally:
        os.umask(old)
    assert stat.S_IMODE(written.stat().st_mode) == 0o644


def test_cache_arrays_never_hold_pickles(losslens_home):
    from losslens.scoring.cache import load_array, save_array

    save_array(losslens_home / "x.npy", np.arange(3))
    assert load_array(losslens_home / "x.npy").tolist() == [0, 1, 2]
    (losslens_home / "y.npy").write_bytes(b"garbage")
    assert load_array(losslens_home / "y.npy") is None and not (losslens_home / "y.npy").exists()
