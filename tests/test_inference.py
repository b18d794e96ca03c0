"""losslens.scoring.inference: order, padding invariance, progress, chunk resume, corrupt chunks, bundled encoder."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from losslens.scoring.cache import ChunkStore
from losslens.scoring.inference import forward, length_order, plan_batches, run_inference
from losslens.scoring.models import ModelSpec, load_model

WORDS = "the match ended with a late goal while markets fell and the film won prizes at the festival".split()


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 40)))) for _ in range(n)]


@pytest.fixture(scope="module")
def classifier(tiny_classifier_dir):
    return load_model(ModelSpec(str(tiny_classifier_dir), "cpu", "fp32"))


@pytest.fixture(scope="module")
def encoder(tiny_encoder_dir):
    return load_model(ModelSpec(str(tiny_encoder_dir), "cpu", "fp32"))


def one_by_one(model, texts, max_length=256):
    """Reference: each text alone, unpadded, in the original order."""
    rows = []
    with torch.inference_mode():
        for text in texts:
            enc = model.tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
            rows.append(forward(model, dict(enc)).numpy()[0])
    return np.stack(rows)


def test_plan_batches_respects_count_and_token_budget():
    lengths = np.array([100, 90, 50, 50, 10, 10, 10, 5])
    assert [b.tolist() for b in plan_batches(lengths, 3)] == [[0, 1, 2], [3, 4, 5], [6, 7]]
    budget = plan_batches(lengths, 8, max_tokens=200)
    assert [b.tolist() for b in budget] == [[0, 1], [2, 3, 4, 5], [6, 7]]
    assert all(len(b) * lengths[b].max() <= 200 for b in budget)
    assert [b.tolist() for b in plan_batches(np.array([500]), 8, max_tokens=10)] == [[0]]


def test_length_order_is_longest_first_and_stable():
    assert length_order(np.array([3, 5, 3, 9])).tolist() == [3, 1, 0, 2]


@pytest.mark.parametrize("model_name", ["classifier", "encoder"])
def test_matches_one_by_one_in_original_order(model_name, request):
    model = request.getfixturevalue(model_name)
    texts = make_texts(37)
    out = run_inference(model, texts, batch_size=8, max_tokens=120).values
    ref = one_by_one(model, texts)
    assert out.dtype == np.float32 and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-4)
    embeddings = out[:, 2:] if model_name == "classifier" else out   # a classifier: 2 logits, then its embedding
    assert embeddings.shape == (37, 32)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_truncates_to_max_length(classifier):
    texts = make_texts(5)
    np.testing.assert_allclose(run_inference(classifier, texts, max_length=8).values,
                               one_by_one(classifier, texts, max_length=8), atol=1e-4)


def test_empty_input(classifier, encoder):
    assert run_inference(classifier, []).values.shape == (0, 2 + 32)
    assert run_inference(encoder, []).values.shape == (0, 32)


def test_progress_after_every_batch(classifier):
    calls = []
    run_inference(classifier, make_texts(20), batch_size=6, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(6, 20), (12, 20), (18, 20), (20, 20)]


def test_chunks_are_saved_and_reused(classifier, tmp_path):
    texts = make_texts(50)
    store = ChunkStore(tmp_path / "chunks")
    full = run_inference(classifier, texts, batch_size=8, chunks=store, chunk_size=16).values
    assert sorted(store.load_all()) == [0, 1, 2, 3]
    # Poison the stored chunks: a rerun must serve them, not recompute.
    for index, arr in store.load_all().items():
        store.save(index, arr + 100.0)
    calls = []
    again = run_inference(classifier, texts, batch_size=8, chunks=store, chunk_size=16,
                          progress=lambda d, n: calls.append(d)).values
    np.testing.assert_allclose(again, full + 100.0, atol=1e-5)
    assert calls == [50]  # one up-front call, no batches run


def test_resume_computes_only_missing_chunks(classifier, tmp_path):
    texts = make_texts(50)
    full = run_inference(classifier, texts, batch_size=8).values
    store = ChunkStore(tmp_path / "chunks")
    run_inference(classifier, texts, batch_size=8, chunks=store, chunk_size=16)
    for index in (1, 3):
        (store.root / f"chunk_{index:06d}.npy").unlink()
    calls = []
    resumed = run_inference(classifier, texts, batch_size=8, chunks=store, chunk_size=16,
                            progress=lambda d, n: calls.append(d)).values
    np.testing.assert_allclose(resumed, full, atol=1e-5)
    assert calls[0] == 32 and calls[-1] == 50 and len(calls) == 1 + 2 + 1  # chunks of 16 and 2 rows


def test_corrupt_chunk_is_recomputed(classifier, tmp_path):
    texts = make_texts(40)
    store = ChunkStore(tmp_path / "chunks")
    full = run_inference(classifier, texts, chunks=store, chunk_size=16).values
    path = store.root / "chunk_000001.npy"
    path.write_bytes(path.read_bytes()[:-10])
    np.testing.assert_allclose(run_inference(classifier, texts, chunks=store, chunk_size=16).values, full, atol=1e-5)
    assert sorted(store.load_all()) == [0, 1, 2]


def test_wrong_shape_chunk_is_recomputed(classifier, tmp_path):
    texts = make_texts(20)
    store = ChunkStore(tmp_path / "chunks")
    store.save(0, np.zeros((3, 2), np.float32))
    np.testing.assert_allclose(run_inference(classifier, texts, chunks=store, chunk_size=16).values,
                               run_inference(classifier, texts).values, atol=1e-5)


def test_bf16_close_to_fp32(tiny_classifier_dir):
    texts = make_texts(30)
    fp32 = run_inference(load_model(ModelSpec(str(tiny_classifier_dir), "cpu", "fp32")), texts).values
    bf16 = run_inference(load_model(ModelSpec(str(tiny_classifier_dir), "cpu", "bf16")), texts).values
    np.testing.assert_allclose(bf16, fp32, atol=0.05)


def test_bundled_encoder_embeddings():
    model = load_model(ModelSpec("bundled:minilm", "cpu", "auto"))
    texts = make_texts(24, seed=3)
    out = run_inference(model, texts, batch_size=8, max_length=64).values
    assert out.shape == (24, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    assert np.isfinite(out).all() and len({tuple(np.round(r, 3)) for r in out}) > 1


def test_token_counts_mark_truncated_texts_in_the_one_tokenizing_pass(classifier):
    from losslens.scoring.inference import tokenize

    texts = make_texts(40, seed=5)
    full = np.array([len(classifier.tokenizer(t)["input_ids"]) for t in texts])   # untruncated counts
    max_length = int(np.median(full))
    assert (full == max_length).any() and (full > max_length).any()              # exact fits and longer ones
    tokens = tokenize(classifier, texts, max_length)
    np.testing.assert_array_equal(tokens.lengths, np.minimum(full, max_length))
    np.testing.assert_array_equal(tokens.counts, np.minimum(full, max_length + 1))
    outputs = run_inference(classifier, texts, max_length=max_length)
    np.testing.assert_array_equal(outputs.token_counts, tokens.counts)
