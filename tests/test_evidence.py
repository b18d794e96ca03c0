"""losslens.scoring.neighbours and losslens.review.evidence on inputs whose answers are known by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from losslens.review.evidence import REASON_TITLES, Evidence, confident_thresholds
from losslens.scoring.neighbours import Neighbours, conflict_groups, knn_graph, similar_to

NAMES = ("business", "sport", "tech")


def unit(rows) -> np.ndarray:
    x = np.asarray(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_knn_graph_matches_brute_force_and_excludes_itself():
    rng = np.random.default_rng(1)
    x = unit(rng.normal(size=(300, 16)))
    graph = knn_graph(x, k=7)
    scores = x @ x.T
    np.fill_diagonal(scores, -np.inf)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :7]
    assert (graph.indices == expected).all()
    np.testing.assert_allclose(graph.similarity, np.take_along_axis(scores, expected, axis=1), atol=1e-6)
    assert not (graph.indices == np.arange(300)[:, None]).any()
    back = Neighbours.from_array(graph.to_array())
    assert (back.indices == graph.indices).all() and (back.similarity == graph.similarity).all()


def test_knn_graph_of_tiny_inputs():
    assert knn_graph(unit([[1, 0]]), k=5).indices.shape == (1, 0)
    two = knn_graph(unit([[1, 0], [0, 1]]), k=5)
    assert two.indices.tolist() == [[1], [0]] and two.similarity.tolist() == [[0.0], [0.0]]


def test_similar_to_returns_rows_above_the_threshold_most_similar_first():
    x = unit([[1, 0], [0.99, 0.14], [0.9, 0.44], [0, 1], [1, 0.01]])
    rows, sims = similar_to(x, 0, threshold=0.95)
    assert rows.tolist() == [4, 1] and sims[0] > sims[1] > 0.95


def test_conflict_groups_join_identical_and_near_identical_texts_with_different_labels():
    #        0 and 3: identical text, labels differ -> group; 1 and 4: near-identical, same label -> none;
    #        2 and 5: near-identical (0.999), labels differ -> group
    x = unit([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0.01], [0, 0.04, 1]])
    texts = np.array([0, 1, 2, 0, 4, 5])
    labels = np.array([0, 1, 2, 1, 1, 0])
    groups = conflict_groups(texts, labels, knn_graph(x, k=2), threshold=0.99)
    assert groups.tolist() == [0, -1, 1, 0, -1, 1]
    assert conflict_groups(texts, labels, None).tolist() == [0, -1, -1, 0, -1, -1]   # without a graph: exact only


def evidence(probs, labels, is_issue, groups=None, neighbours=None) -> Evidence:
    probs, labels = np.asarray(probs, dtype=float), np.asarray(labels)
    n = len(labels)
    return Evidence(ids=np.array([f"e{i}" for i in range(n)], dtype=object), label_names=NAMES, labels=labels,
                    predicted=probs.argmax(axis=1), probs=probs, is_issue=np.asarray(is_issue),
                    thresholds=confident_thresholds(probs, labels),
                    groups=np.full(n, -1) if groups is None else np.asarray(groups), neighbours=neighbours)


PROBS = [[0.05, 0.90, 0.05],   # 0: given business, model sure of sport, flagged
         [0.90, 0.05, 0.05],   # 1: business, agrees
         [0.80, 0.10, 0.10],   # 2: business, agrees
         [0.10, 0.85, 0.05],   # 3: sport, agrees
         [0.40, 0.45, 0.15],   # 4: given business, model leans sport (45% < sport's threshold)
         [0.05, 0.05, 0.90]]   # 5: tech
LABELS = [0, 0, 0, 1, 0, 2]


def test_confident_thresholds_are_mean_self_confidence_per_class():
    t = confident_thresholds(np.asarray(PROBS), np.asarray(LABELS))
    np.testing.assert_allclose(t, [(0.05 + 0.90 + 0.80 + 0.40) / 4, 0.85, 0.90])


def test_reasons_of_a_flagged_confident_error():
    reasons = evidence(PROBS, LABELS, [True, False, False, False, False, False]).reasons(0)
    assert reasons[0] == "The model is 90% sure it is sport, not business."
    assert reasons[1] == "The model gives its label, business, only 5%."
    assert reasons[2] == ("cleanlab flags it: the model's 90% for sport clears that class's confident-learning "
                          "threshold (85%) while its label business gets 5%.")
    assert len(reasons) == 3


def test_reasons_explain_why_cleanlab_does_not_flag():
    ev = evidence(PROBS, LABELS, [True, False, False, False, False, False])
    assert ev.reasons(4) == ["cleanlab does not flag it: the model's 45% for sport is below that class's "
                             "confident-learning threshold (85%), so it is not a confident error."]
    assert ev.reasons(1) == ["cleanlab does not flag it: the model agrees with its label."]


def test_neighbour_and_duplicate_reasons_and_the_nearest_table():
    graph = Neighbours(indices=np.array([[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4]]),
                       similarity=np.array([[0.99, 0.9]] * 6, dtype=np.float32))
    labels = [0, 1, 1, 1, 0, 2]
    ev = evidence([[0.3, 0.4, 0.3]] * 6, labels, [False] * 6, groups=[0, 0, -1, -1, -1, -1], neighbours=graph)
    reasons = ev.reasons(0)
    assert "2 of its 2 nearest neighbours (similarity 0.90–0.99) are labelled otherwise (2 sport)." in reasons
    assert "An identical or near-identical text (id e1) is labelled sport; 1 such example(s)." in reasons
    near = ev.nearest(0, k=2)
    assert near["id"].tolist() == ["e1", "e2"] and near["label"].tolist() == ["sport", "sport"]
    assert ev.group_members(0).tolist() == [1] and ev.group_members(3).tolist() == []
    assert ev.nearest(0).equals(ev.nearest(0, k=5))
    far = Neighbours(indices=graph.indices, similarity=np.array([[0.31, 0.28]] * 6, dtype=np.float32))
    far_ev = evidence([[0.3, 0.4, 0.3]] * 6, labels, [False] * 6, neighbours=far)
    assert not far_ev.reason_masks()["neighbours"].any()          # too far to say anything about a label
    one_close = Neighbours(indices=graph.indices, similarity=np.array([[0.9, 0.3]] * 6, dtype=np.float32))
    assert not evidence([[0.3, 0.4, 0.3]] * 6, labels, [False] * 6, neighbours=one_close).reason_masks()["neighbours"].any()
    no_graph = evidence([[0.3, 0.4, 0.3]] * 6, labels, [False] * 6)
    assert no_graph.nearest(0).empty and not any("neighbours" in r for r in no_graph.reasons(0))


def test_scored_results_carry_neighbours_and_conflict_groups(tmp_path, tiny_encoder_dir):
    from loading import load_path
    from losslens.scoring.models import ModelSpec
    from losslens.scoring.pipeline import score_dataset

    rows = [("the match ended in a draw after extra time", "sport"), ("shares fell sharply on monday", "business"),
            ("the match ended in a draw after extra time", "business"),   # identical text, other label
            ("new phone has a faster chip", "tech"), ("the team won the cup final", "sport"),
            ("profits rose at the bank", "business"), ("a chip maker opened a plant", "tech"),
            ("the striker scored twice", "sport"), ("markets rallied on rates", "business"),
            ("software update fixes bugs", "tech")]
    csv = tmp_path / "news.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(csv, index=False)
    data = load_path(str(csv))
    results = score_dataset(data, ModelSpec(str(tiny_encoder_dir), precision="fp32"), )
    assert results.neighbours is not None and results.neighbours.indices.shape == (10, 9)
    assert results.neighbours.indices[0, 0] == 2 and results.neighbours.similarity[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert results.table["conflict_group"].tolist() == [0, -1, 0, -1, -1, -1, -1, -1, -1, -1]
    embeddings = results.entries.outputs.load_embeddings()
    assert embeddings.shape == (10, 32)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    again = score_dataset(data, ModelSpec(str(tiny_encoder_dir), precision="fp32"))
    assert again.from_cache and (again.neighbours.indices == results.neighbours.indices).all()


def test_each_reason_is_a_mask_over_the_table_and_a_sentence():
    graph = Neighbours(indices=np.array([[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4]]),
                       similarity=np.array([[0.99, 0.9]] * 6, dtype=np.float32))
    ev = evidence(PROBS, LABELS, [True, False, False, False, False, False], groups=[-1, -1, -1, 0, 0, -1],
                  neighbours=graph)
    masks = {name: mask.tolist() for name, mask in ev.reason_masks().items()}
    assert list(masks) == list(REASON_TITLES) == ["prefers_other", "low_given", "cleanlab", "neighbours", "duplicate"]
    assert masks["prefers_other"] == [True, False, False, False, False, False]   # 90% sport, given business
    assert masks["low_given"] == [True, False, False, False, False, False]       # p(given) 5% < 25%
    assert masks["cleanlab"] == [True, False, False, False, False, False]
    # 3's neighbours 4 (business) and 5 (tech) both differ from sport; 4's: 3 sport, 5 tech; 5's: 3, 4
    assert masks["neighbours"] == [False, False, False, True, True, True]
    assert masks["duplicate"] == [False, False, False, True, True, False]        # group 0: sport vs business
    for row in range(6):   # the sentences shown are exactly those of the reasons that fire (+ cleanlab's verdict)
        fired = [check.sentence(row) for check in ev.checks if check.mask[row] or check.name == "cleanlab"]
        assert ev.reasons(row) == fired
    assert ev.reasons(3)[-1] == "An identical or near-identical text (id e4) is labelled business; 1 such example(s)."


def test_a_group_whose_members_share_one_label_is_no_duplicate_reason():
    ev = evidence([[0.3, 0.4, 0.3]] * 4, [0, 0, 1, 2], [False] * 4, groups=[0, 0, 1, 1])
    assert ev.reason_masks()["duplicate"].tolist() == [False, False, True, True]
    assert not ev.reason_masks()["neighbours"].any()                              # no graph: never fires
