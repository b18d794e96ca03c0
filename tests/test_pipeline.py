"""losslens.scoring.pipeline: dataset + model → results table, cache hits/misses, label alignment."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loading import load_path
from losslens.scoring import features
from losslens.scoring.features import embed_texts
from review_data import load_reviews, write_reviews_csv
from losslens.scoring.models import LabelMismatchError, ModelSpec
from losslens.scoring.pipeline import score_dataset
from losslens.scoring.request import ScoreSettings
from losslens.sources.datasets import ColumnMapping

def test_classifier_results_table_values(tmp_path, tiny_classifier_dir):
    data = load_reviews(tmp_path)
    results = score_dataset(data, ModelSpec(str(tiny_classifier_dir), precision="fp32"), ScoreSettings(batch_size=8))
    table = results.table
    assert list(table.columns[:11]) == [
        "id", "text", "label", "predicted_label", "loss", "p_given", "p_predicted",
        "margin", "quality", "is_issue", "rank",
    ]
    assert list(table.columns[11:]) == ["truncated", "conflict_group", "prob_neg", "prob_pos"]
    assert not table["truncated"].any()
    assert list(table["id"]) == list(data.ids)
    probs = table[["prob_neg", "prob_pos"]].to_numpy(np.float64)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    p_given = probs[np.arange(len(table)), table["label"]]
    np.testing.assert_allclose(table["loss"], -np.log(p_given), rtol=1e-4)
    assert sorted(table["rank"]) == list(range(1, len(table) + 1))
    assert results.model_kind == "classifier" and results.out_of_sample is False
    assert results.from_cache is False
    assert results.accuracy == pytest.approx((table["predicted_label"] == table["label"]).mean())


def test_second_run_is_a_cache_hit_without_loading_the_model(tmp_path, tiny_classifier_dir, monkeypatch):
    data = load_reviews(tmp_path)
    spec = ModelSpec(str(tiny_classifier_dir), precision="fp32")
    first = score_dataset(data, spec)

    def no_model(*_args, **_kwargs):
        raise AssertionError("the model must not be loaded on a cache hit")

    monkeypatch.setattr(features, "load_model", no_model)
    second = score_dataset(data, spec)
    assert second.from_cache is True and second.key == first.key
    pd.testing.assert_frame_equal(first.table, second.table)


@pytest.mark.parametrize(
    "change",
    [
        {"settings": ScoreSettings(max_length=16)},
        {"precision": "bf16"},
        {"data_seed": 1},
    ],
)
def test_changed_settings_model_or_data_is_a_new_key(tmp_path, tiny_classifier_dir, change):
    data = load_reviews(tmp_path)
    base = score_dataset(data, ModelSpec(str(tiny_classifier_dir), precision="fp32"))
    other_data = load_reviews(tmp_path, seed=change["data_seed"]) if "data_seed" in change else data
    spec = ModelSpec(str(tiny_classifier_dir), precision=change.get("precision", "fp32"))
    other = score_dataset(other_data, spec, change.get("settings", ScoreSettings()))
    assert other.key != base.key and other.from_cache is False


def test_changed_weights_are_a_new_key(tmp_path, tiny_classifier_dir):
    from tiny_models import build_tiny_classifier

    data = load_reviews(tmp_path)
    other_model = build_tiny_classifier(tmp_path / "other", ["neg", "pos"], seed=7)
    first = score_dataset(data, ModelSpec(str(tiny_classifier_dir), precision="fp32"))
    second = score_dataset(data, ModelSpec(str(other_model), precision="fp32"))
    assert first.key != second.key and second.from_cache is False
    assert not np.allclose(first.table["loss"], second.table["loss"])


def test_label_mismatch_is_explained_and_a_mapping_aligns_columns(tmp_path, tiny_classifier_dir):
    good_bad = load_reviews(tmp_path, labels=("bad", "good"))
    spec = ModelSpec(str(tiny_classifier_dir), precision="fp32")
    with pytest.raises(LabelMismatchError) as error:
        score_dataset(good_bad, spec)
    assert "neg" in str(error.value) and "good" in str(error.value)

    neg_pos = load_reviews(tmp_path, labels=("neg", "pos"))
    reference = score_dataset(neg_pos, spec).table
    # map the model's neg -> dataset's good and pos -> bad: columns must swap
    swapped = score_dataset(good_bad, spec, label_map={"neg": "good", "pos": "bad"}).table
    np.testing.assert_allclose(swapped["prob_bad"], reference["prob_pos"], rtol=1e-5)
    np.testing.assert_allclose(swapped["prob_good"], reference["prob_neg"], rtol=1e-5)


def test_encoder_gives_out_of_sample_probabilities(tmp_path, tiny_encoder_dir):
    data = load_reviews(tmp_path, n=30)
    results = score_dataset(data, ModelSpec(str(tiny_encoder_dir), precision="fp32"), ScoreSettings(folds=3))
    assert results.model_kind == "encoder" and results.out_of_sample is True
    probs = results.table[["prob_neg", "prob_pos"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_corrupt_probability_cache_is_recomputed_not_served(tmp_path, tiny_classifier_dir, losslens_home):
    data = load_reviews(tmp_path)
    spec = ModelSpec(str(tiny_classifier_dir), precision="fp32")
    first = score_dataset(data, spec)
    (cached,) = [p for p in (losslens_home / "probs").glob("*.npy") if p.name.count(".") == 1]
    cached.write_bytes(cached.read_bytes()[:-40])  # truncated file
    again = score_dataset(data, spec)
    assert again.from_cache is False
    pd.testing.assert_frame_equal(first.table, again.table)
    assert score_dataset(data, spec).from_cache is True


def test_embed_texts_with_bundled_encoder_is_cached(monkeypatch):
    texts = [f"The match ended {i} to {i + 1} after extra time." for i in range(12)]
    embeddings = embed_texts(texts, ModelSpec(precision="fp32"), max_length=32)
    assert embeddings.shape == (12, 384) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)
    monkeypatch.setattr(features, "load_model", lambda *_: pytest.fail("cache miss"))
    np.testing.assert_array_equal(embed_texts(texts, ModelSpec(precision="fp32"), max_length=32), embeddings)


def test_cache_hit_loads_neither_torch_nor_cleanlab(tmp_path, tiny_classifier_dir, losslens_home):
    import subprocess
    import sys

    csv = write_reviews_csv(tmp_path / "reviews.csv")
    script = (
        "import sys\n"
        "from losslens.sources.datasets import ColumnMapping, DatasetSource\n"
        "from losslens.scoring.models import ModelSpec\n"
        "from losslens.scoring.pipeline import score\n"
        "from losslens.scoring.request import ScoreRequest\n"
        f"request = ScoreRequest(DatasetSource.parse({str(csv)!r}), ColumnMapping('review', 'sentiment', 'id'),\n"
        f"                       model=ModelSpec({str(tiny_classifier_dir)!r}, precision='fp32'))\n"
        "data, result = score(request)\n"
        "print(result.from_cache, sorted(m for m in ('torch', 'cleanlab', 'sklearn') if m in sys.modules))\n"
    )
    env = {"LOSSLENS_HOME": str(losslens_home), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "core")}   # this checkout's losslens
    run = lambda: subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,  # noqa: E731
                                 cwd=Path(__file__).resolve().parents[1], check=True).stdout.strip()
    assert run().startswith("False")
    assert run() == "True []"


def test_changed_labels_rescore_without_rerunning_the_model(tmp_path, tiny_encoder_dir, monkeypatch):
    import losslens.scoring.inference

    data = load_reviews(tmp_path, n=30)
    spec = ModelSpec(str(tiny_encoder_dir), precision="fp32")
    first = score_dataset(data, spec, ScoreSettings(folds=3))
    csv = tmp_path / "reviews.csv"
    frame = pd.read_csv(csv)
    frame.loc[0, "sentiment"] = "pos" if frame.loc[0, "sentiment"] == "neg" else "neg"
    frame.to_csv(csv, index=False)
    relabeled = load_path(str(csv), columns=ColumnMapping(text="review", label="sentiment", id="id"))
    monkeypatch.setattr(losslens.scoring.inference, "run_inference", lambda *a, **k: pytest.fail("texts did not change"))
    second = score_dataset(relabeled, spec, ScoreSettings(folds=3))
    assert second.key != first.key and second.table["label"][0] != first.table["label"][0]


def count_calls(monkeypatch, module, name: str) -> list:
    """Wrap module.name so that every call is appended (its arguments) to the returned list."""
    calls, real = [], getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("model_dir", ["tiny_classifier_dir", "tiny_encoder_dir"])
def test_a_request_resolves_its_model_once_and_tokenizes_its_texts_once(tmp_path, monkeypatch, model_dir, request):
    from losslens.scoring import models, pipeline
    from losslens.scoring.pipeline import score
    from losslens.scoring.request import ScoreRequest
    from losslens.sources.datasets import DatasetSource
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

    folder = request.getfixturevalue(model_dir)
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=30)
    scoring = ScoreRequest(DatasetSource.parse(str(csv)), ColumnMapping("review", "sentiment", "id"),
                           model=ModelSpec(str(folder)), settings=ScoreSettings(folds=3))
    resolved = count_calls(monkeypatch, pipeline, "resolve_model")    # the resolver the use case calls
    configs = count_calls(monkeypatch, models, "_config_at")
    identities = count_calls(monkeypatch, models, "_folder_identity")
    checks = count_calls(monkeypatch, ScoreSettings, "check")
    batches = count_calls(monkeypatch, PreTrainedTokenizerBase, "__call__")
    _, cold = score(scoring)
    texts_tokenized = [args for args in batches if isinstance(args[1], list) and len(args[1]) == 30]
    assert not cold.from_cache and cold.n_truncated == 0
    assert (len(resolved), len(configs), len(identities), len(checks), len(texts_tokenized)) == (1, 1, 1, 1, 1)
    for calls in (resolved, configs, identities, checks, batches):
        calls.clear()
    _, warm = score(scoring)
    assert warm.from_cache and warm.key == cold.key
    assert (len(resolved), len(configs), len(identities), len(checks), len(batches)) == (1, 1, 1, 1, 0)


def test_the_cli_checks_the_settings_once(tmp_path, monkeypatch, tiny_classifier_dir, capsys):
    from losslens import cli

    checks = count_calls(monkeypatch, ScoreSettings, "check")
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=12)
    assert cli.main(["score", str(csv), "--text-col", "review", "--label-col", "sentiment",
                     "--model", str(tiny_classifier_dir)]) == 0
    assert len(checks) == 1 and "cache=miss" in capsys.readouterr().out


def test_the_outputs_key_names_the_resolved_precision(tmp_path, monkeypatch, tiny_classifier_dir):
    from losslens.scoring import models
    from losslens.scoring.cache_entries import OutputsEntry

    texts = ["a short text", "another one"]
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: True)
    auto = OutputsEntry.of(texts, models.resolve_model(ModelSpec(precision="auto")), 64)
    assert auto.parts["precision"] == "bf16"
    assert auto == OutputsEntry.of(texts, models.resolve_model(ModelSpec(precision="bf16")), 64)
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: False)
    plain = OutputsEntry.of(texts, models.resolve_model(ModelSpec(precision="auto")), 64)
    assert plain.parts["precision"] == "fp32" and plain.key != auto.key
    data = load_reviews(tmp_path)        # "auto" keeps the tiny classifier in fp32: one cache entry for both
    first = score_dataset(data, ModelSpec(str(tiny_classifier_dir), precision="auto"))
    second = score_dataset(data, ModelSpec(str(tiny_classifier_dir), precision="fp32"))
    assert second.from_cache and second.entries == first.entries
