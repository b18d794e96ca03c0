"""losslens.scoring.heads and losslens.scoring.evaluation on inputs whose answers are known by hand."""
from __future__ import annotations

import numpy as np
import pytest

from losslens.scoring.cache import ChunkStore
from losslens.scoring.char_ngrams import char_wb_counts, word_ngrams
from losslens.errors import ScoringError
from losslens.scoring.evaluation import confusion_transition, detection_metrics, flip_labels
from losslens.scoring.heads import average, finetune_head, folds_of, knn_head, resolve_head, tfidf_features, tfidf_head
from losslens.scoring.neighbours import Neighbours


def test_knn_head_weights_votes_by_similarity_and_smooths():
    graph = Neighbours(indices=np.array([[1, 2], [0, 2], [0, 1]]),
                       similarity=np.array([[0.9, 0.1], [0.9, -0.5], [0.3, 0.3]], dtype=np.float32))
    probs = knn_head(graph, np.array([0, 1, 1]), 2)
    # row 0: votes class 1 = 0.9 + 0.1 = 1.0, class 0 = 0, + 0.5 each -> [0.5, 1.5] / 2
    np.testing.assert_allclose(probs[0], [0.25, 0.75])
    # row 1: class 0 gets 0.9, class 1 gets max(-0.5, 0) = 0 -> [1.4, 0.5] / 1.9
    np.testing.assert_allclose(probs[1], [1.4 / 1.9, 0.5 / 1.9])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_tfidf_features_are_unit_rows_and_the_head_learns_words():
    texts = [f"the striker scored a goal in match {i}" for i in range(20)] + \
            [f"shares and profits rose at the bank in quarter {i}" for i in range(20)]
    labels = np.repeat([0, 1], 20)
    features = tfidf_features(texts)
    np.testing.assert_allclose(np.sqrt(features.multiply(features).sum(axis=1)).A1, 1.0, atol=1e-5)
    probs = tfidf_head(features, labels, 2, folds_of(labels, ["sport", "business"], 5, seed=0))
    assert (probs.argmax(axis=1) == labels).all()


# Texts that test the word cutting: case that lowercases to two characters, tabs, runs of spaces,
# Unicode spaces, one-letter words, a padded word shorter than 5, an empty text, repeated words.
AWKWARD = ["İstanbul   Stock\tExchange", "a b c", "", "Straße\u00a0Ünïcode\u2003spaces  and\n\nlines",
           "the the the theatre", "x", "Goal! Goal!! 3-2 win", "  leading and trailing  ", "İİ ii", "a"]


def test_word_ngrams_are_scikit_learns_char_wb_cuts_of_one_word():
    from sklearn.feature_extraction.text import CountVectorizer

    analyze = CountVectorizer(analyzer="char_wb", ngram_range=(2, 5)).build_analyzer()
    for word in ("a", "ab", "abc", "goal!!", "straße"):
        assert word_ngrams(word, 2, 5) == analyze(word)
    assert word_ngrams("a", 2, 5) == [" a", "a ", " a "]   # " a " is no longer than 3: taken once, then no more
    with pytest.raises(ValueError, match="whole number"):
        char_wb_counts(["ab cd"], (2, 5), 0.5)
    with pytest.raises(ValueError, match="empty vocabulary"):
        char_wb_counts(["", "  "], (2, 5), 1)


@pytest.mark.parametrize("min_df", [1, 2])
def test_char_counts_are_scikit_learns_matrix_to_the_stored_order(min_df):
    """The very matrix CountVectorizer(analyzer="char_wb") builds: vocabulary, values, and the
    order each row is stored in (the order a logistic regression sums a row in)."""
    from sklearn.feature_extraction.text import CountVectorizer

    texts = AWKWARD * 3 + [f"match {i} ended {i % 7}-{i % 3}" for i in range(40)]
    reference = CountVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=min_df, dtype=np.float32)
    expected = reference.fit_transform(texts)
    counts, names = char_wb_counts(texts, (2, 5), min_df)
    assert names == list(reference.get_feature_names_out())
    for part in ("data", "indices", "indptr"):
        assert getattr(counts, part).dtype == getattr(expected, part).dtype
        np.testing.assert_array_equal(getattr(counts, part), getattr(expected, part))
    assert counts.shape == expected.shape and counts.has_sorted_indices == expected.has_sorted_indices


def test_tfidf_features_equal_scikit_learns_vectorizers_bit_for_bit():
    import scipy.sparse as sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = AWKWARD * 6 + [f"shares in bank {i} rose {i % 5} points" for i in range(60)]   # > 50 texts: min_df 1
    blocks = [TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, dtype=np.float32),
              TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1, dtype=np.float32)]
    expected = (sparse.hstack([b.fit_transform(texts) for b in blocks]).tocsr() * np.float32(1 / np.sqrt(2))).tocsr()
    features = tfidf_features(texts)
    for part in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(features, part), getattr(expected, part))


def test_average_and_resolve_head():
    np.testing.assert_allclose(average([np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])]), [[0.75, 0.25]])
    assert resolve_head("ensemble", "auto") == "ensemble" and resolve_head("auto", "cpu") == "ensemble"
    assert resolve_head("auto", "cuda") == "finetune"
    with pytest.raises(ScoringError, match="unknown head"):
        resolve_head("forest", "cpu")


def test_flips_are_exact_deterministic_and_always_change_the_label():
    labels = np.repeat([0, 1, 2], 100)
    noisy, flipped = flip_labels(labels, 3, 0.05, "uniform", seed=7)
    assert flipped.sum() == 15 and (noisy[flipped] != labels[flipped]).all() and (noisy[~flipped] == labels[~flipped]).all()
    again, flipped_again = flip_labels(labels, 3, 0.05, "uniform", seed=7)
    assert (again == noisy).all() and (flipped_again == flipped).all()
    assert not (flip_labels(labels, 3, 0.05, "uniform", seed=8)[1] == flipped).all()
    with pytest.raises(ScoringError, match="between 0 and 1"):
        flip_labels(labels, 3, 1.5, "uniform", seed=0)


def test_class_conditional_flips_follow_the_transition():
    labels = np.repeat([0, 1, 2], 100)
    transition = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float)   # 0->1, 1->2, 2->0
    noisy, flipped = flip_labels(labels, 3, 0.1, "class", seed=0, transition=transition)
    assert ((noisy[flipped] - labels[flipped]) % 3 == 1).all() and flipped.sum() == 30
    t = confusion_transition(np.array([0, 0, 1]), np.array([1, 1, 1]), 2)
    np.testing.assert_allclose(t, [[0, 1], [1, 0]])   # each row's only other class


def test_detection_metrics_by_hand():
    flipped = np.array([True, False, True, False, False, False])
    suspicion = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.3])   # order: 0 1 3 5 4 2
    metrics = detection_metrics(suspicion, flipped, np.arange(6))
    assert metrics["P@k"] == 0.5                 # k=2: rows 0, 1 -> one hit
    assert metrics["P@2k"] == 0.25 and metrics["R@2k"] == 0.5   # rows 0 1 3 5 -> one hit
    assert metrics["AP"] == pytest.approx((1 / 1 + 2 / 6) / 2)


def test_finetune_head_is_out_of_fold_and_resumes_per_fold(tiny_encoder_dir, tmp_path):
    texts = [f"good great fine movie {i}" for i in range(12)] + [f"bad awful poor plot {i}" for i in range(12)]
    labels = np.repeat([0, 1], 12)
    splits = folds_of(labels, ["neg", "pos"], 3, seed=0)
    seen = []
    chunks = ChunkStore(tmp_path / "folds")
    probs = finetune_head(texts, labels, 2, splits, str(tiny_encoder_dir), 16, 0, chunks,
                          lambda done, total: seen.append((done, total)), device="cpu")
    assert probs.shape == (24, 2) and np.allclose(probs.sum(axis=1), 1.0)
    assert seen[-1][0] == seen[-1][1] == sum(len(t) * 3 + len(h) for t, h in splits)
    assert sorted(chunks.load_all()) == [0, 1, 2]
    stored = chunks.load_all()
    chunks.clear()   # as if killed during fold 2: folds 0 and 1 finished (fold 1 marked to prove it is read)
    chunks.save(0, stored[0])
    chunks.save(1, np.full_like(stored[1], 0.5))
    again = finetune_head(texts, labels, 2, splits, str(tiny_encoder_dir), 16, 0, chunks, None, device="cpu")
    np.testing.assert_allclose(again[splits[1][1]], 0.5)
    np.testing.assert_allclose(again[splits[0][1]], probs[splits[0][1]])
    np.testing.assert_allclose(again[splits[2][1]], probs[splits[2][1]], atol=1e-5)   # refitted, same seed


def test_trusted_accuracy_by_hand_and_excluded_neighbours_do_not_vote():
    from losslens.scoring.retrain import trusted_accuracy

    report = trusted_accuracy(np.array([0, 1, 1, 0]), np.array([1, 1, 0, 0]), np.array([0, 1, 1, 0]))
    assert (report.n, report.before, report.after) == (4, 0.5, 1.0)
    assert report.after_interval == (1.0, 1.0) and report.before_interval[0] < 0.5 < report.before_interval[1]
    graph = Neighbours(indices=np.array([[1, 2], [0, 2], [0, 1]]), similarity=np.full((3, 2), 0.9, dtype=np.float32))
    probs = knn_head(graph, np.array([0, 1, 1]), 2, exclude=np.array([False, False, True]))
    np.testing.assert_allclose(probs[0], [0.5 / 1.9, 1.4 / 1.9])   # only row 1 votes for row 0


class RowRecordingHead:
    """A Head whose fit remembers its training rows; predict_proba says, per row, [1, 0] if that
    row was trained on and [0, 1] if not."""

    def fit(self, features, labels, n_classes, seed):
        trained = set(features[:, 0].tolist())
        return type("Fitted", (), {"predict_proba": lambda self, rows: np.array(
            [[1.0, 0.0] if r in trained else [0.0, 1.0] for r in rows[:, 0]])})()


def test_out_of_fold_never_predicts_a_row_with_a_fit_that_saw_it():
    from losslens.scoring.heads import out_of_fold

    labels = np.repeat([0, 1], 10)
    rows = np.arange(30)[:, None]
    splits = folds_of(labels, ["a", "b"], 4, seed=0)
    held_out, pooled = out_of_fold(RowRecordingHead(), rows, labels, 2, splits, 0, unlabeled=rows[20:])
    np.testing.assert_array_equal(held_out, np.tile([0.0, 1.0], (20, 1)))
    np.testing.assert_allclose(pooled, np.tile([0.0, 1.0], (10, 1)))     # the mean of 4 fits
    _, none = out_of_fold(RowRecordingHead(), rows, labels, 2, splits, 0)
    assert none.shape == (0, 2)


def test_the_probability_key_names_the_resolved_head_and_not_the_machine(tmp_path, monkeypatch, tiny_encoder_dir):
    from losslens.scoring import models
    from losslens.scoring.cache_entries import ScoringEntries
    from losslens.scoring.models import ModelSpec, resolve_model
    from losslens.scoring.request import ScoreSettings
    from test_pipeline import load_reviews

    data = load_reviews(tmp_path, n=20)
    driver = tmp_path / "nvidia-version"
    driver.write_text("NVRM version: faked")

    def entries(head: str, gpu_driver: bool) -> ScoringEntries:
        monkeypatch.setattr(models, "NVIDIA_DRIVER", driver if gpu_driver else tmp_path / "absent")
        return ScoringEntries.of(data, resolve_model(ModelSpec(str(tiny_encoder_dir))), ScoreSettings(head=head))

    laptop, gpu_box = entries("ensemble", False), entries("ensemble", True)
    assert laptop == gpu_box and laptop.probs_parts["head"] == "ensemble"
    auto_laptop, auto_gpu = entries("auto", False), entries("auto", True)
    assert (auto_laptop.probs_parts["head"], auto_gpu.probs_parts["head"]) == ("ensemble", "finetune")
    assert auto_laptop.probs_key == laptop.probs_key and auto_gpu.probs_key != laptop.probs_key
    assert auto_gpu.outputs == laptop.outputs      # the same model outputs either way
    assert resolve_head("auto", "auto") == "finetune"   # the driver is still faked here
