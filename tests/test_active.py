"""ActiveLab vs random simulation on small synthetic multi-annotator sets (no model needed)."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from losslens import cli
from losslens.activelab import simulation
from losslens.activelab.simulation import (Split, available, ceiling_accuracy, collect, fitted_settings, make_split,
                                             run_simulation, run_strategy)
from losslens.activelab.work import SimulationWork, embedding_cost
from losslens.activelab.heads import LogisticHead, kfold_probs
from losslens.activelab.results import SimulationError, SimulationResult, SimulationSettings
from losslens.activelab.crowd import (activelab_scores, crowdlab_consensus, majority_vote, next_batch,
                            review_annotations)
from losslens.activelab.annotations import MultiAnnotatorData, simulate_annotators

NAN = np.nan


def crowd(n: int = 300, n_annotators: int = 8, seed: int = 0) -> tuple[MultiAnnotatorData, np.ndarray]:
    """Two gaussian clusters (features) + simulated noisy annotators, 4 labels per example."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    features = rng.normal(size=(n, 5)) + 1.5 * truth[:, None]
    labels, _ = simulate_annotators(truth, 2, n_annotators=n_annotators, per_example=4,
                                    error_range=(0.05, 0.35), seed=seed)
    ids = np.array([f"ex{i}" for i in range(n)], dtype=object)
    return MultiAnnotatorData(ids, None, labels, tuple(f"a{m}" for m in range(n_annotators)), ("no", "yes"),
                              "synthetic"), features


SMALL = SimulationSettings(rounds=4, batch=10, seeds=2, initial=30, pool=150, test=60, folds=3)


def test_majority_vote_by_hand():
    labels = np.array([[0, 0, 1], [1, NAN, NAN], [0, 1, NAN], [2, 2, 0]], dtype=float)
    # class totals: 0 -> 4, 1 -> 2, 2 -> 2; the 0/1 tie in row 2 goes to the rarer class 1
    np.testing.assert_array_equal(majority_vote(labels, 3), [0, 1, 1, 2])


def test_split_is_disjoint_unanimous_and_seeded():
    data, _ = crowd()
    split = make_split(data.labels, SMALL, seed=3)
    assert len(split.test) == 60 and len(split.train) == 180
    assert not set(split.test) & set(split.train)
    test_rows = data.labels[split.test]
    assert (np.nanmin(test_rows, axis=1) == np.nanmax(test_rows, axis=1)).all()
    np.testing.assert_array_equal(split.test_labels, np.nanmax(test_rows, axis=1))
    counts = split.initial_revealed.sum(axis=1)
    assert (counts[:30] == 2).all() and (counts[30:] == 0).all()
    assert not np.isnan(data.labels[split.train][split.initial_revealed]).any()   # revealed labels exist
    again = make_split(data.labels, SMALL, seed=3)
    np.testing.assert_array_equal(split.train, again.train)
    np.testing.assert_array_equal(split.initial_revealed, again.initial_revealed)
    assert not np.array_equal(make_split(data.labels, SMALL, seed=4).train, split.train)


def test_collect_takes_from_reservoir_and_prefers_seen_annotators():
    full = np.array([[0, 1, 1, NAN], [1, 1, NAN, 0]], dtype=float)
    revealed = np.array([[True, False, False, False], [False, False, False, False]])
    rng = np.random.default_rng(0)
    collect(np.array([1]), full, revealed, 5, rng)
    # row 1 can get annotator 0 (already seen), 1 or 3; the seen one wins
    assert revealed[1].tolist() == [True, False, False, False]
    collect(np.array([0, 0]), full, revealed, 2, rng)     # max 2 per example: only one more for row 0
    assert revealed[0].sum() == 2
    assert not available(full, revealed, 2)[0].any()


def _hand_split() -> tuple[np.ndarray, np.ndarray, Split]:
    """40 initial examples (4 with a 1-1 disagreement), 20 confident pool examples, 8 test examples."""
    rng = np.random.default_rng(0)
    truth = np.array([0, 1] * 34)
    features = np.where(truth[:, None] == 1, 3.0, -3.0) + 0.3 * rng.normal(size=(68, 2))
    labels = np.tile(truth[:, None], (1, 4)).astype(float)
    disagree = [0, 1, 2, 3]
    labels[disagree, 1] = 1 - truth[disagree]          # annotator 1 contradicts annotator 0 there
    features[disagree] = 0.3 * rng.normal(size=(4, 2))  # ... on ambiguous examples between the clusters
    train, test = np.arange(60), np.arange(60, 68)
    revealed = np.zeros((60, 4), dtype=bool)
    revealed[:40, :2] = True
    return labels, features, Split(test, train, truth[test], revealed)


def test_one_activelab_round_by_hand():
    labels, features, split = _hand_split()
    settings = SimulationSettings(rounds=2, batch=4, seeds=1, initial=40, pool=20, test=8, folds=3)
    run = run_strategy("activelab", labels, features, 2, split, settings, LogisticHead(), seed=0)
    new = run.revealed & ~split.initial_revealed
    chosen = np.flatnonzero(new.any(axis=1))
    # the four ambiguous 1-1 disagreements are the examples whose true label is least certain
    assert chosen.tolist() == [0, 1, 2, 3]
    assert new.sum() == 4 and run.used.tolist() == [80, 84]
    # same choice straight from cleanlab on the same inputs
    known = np.where(split.initial_revealed, labels[:60], NAN)[:40]
    oof, unl = kfold_probs(LogisticHead(), features[:40], majority_vote(known, 2), 2, 3, 0, features[40:60])
    scores, scores_unl = activelab_scores(known, oof, unl)
    assert set(np.argsort(np.concatenate([scores, scores_unl]))[:4]) == {0, 1, 2, 3}
    assert run.accuracy.tolist() == [1.0, 1.0]       # separable clusters


def test_one_random_round_by_hand():
    labels, features, split = _hand_split()
    settings = SimulationSettings(rounds=2, batch=5, seeds=1, initial=40, pool=20, test=8, folds=3)
    run = run_strategy("random", labels, features, 2, split, settings, LogisticHead(), seed=7)
    new = run.revealed & ~split.initial_revealed
    assert new.sum() == 5 and (new.sum(axis=1) <= 1).all()           # 5 distinct examples, one each
    assert not np.isnan(labels[:60][new]).any()                       # all from the reservoir
    assert run.used.tolist() == [80, 85]
    again = run_strategy("random", labels, features, 2, split, settings, LogisticHead(), seed=7)
    np.testing.assert_array_equal(again.revealed, run.revealed)


def test_crowdlab_consensus_sides_with_the_model_on_a_tie():
    labels = np.array([[0, 1, NAN], [0, 0, 0], [1, 1, NAN], [1, NAN, 1], [0, NAN, 0]], dtype=float)
    probs = np.array([[0.05, 0.95], [0.9, 0.1], [0.1, 0.9], [0.2, 0.8], [0.8, 0.2]])
    consensus = crowdlab_consensus(labels, probs)
    assert consensus.tolist() == [1, 0, 1, 1, 0]
    assert not np.isnan(labels).all(axis=1).any()                      # inputs untouched
    assert labels[0, 1] == 1


def test_pool_is_never_reused_and_max_annotations_hold():
    data, features = crowd(n=160)
    settings = SimulationSettings(rounds=12, batch=15, seeds=1, initial=20, pool=30, test=40,
                                  max_annotations=3, folds=3)
    split = make_split(data.labels, settings, seed=0)
    for strategy in ("activelab", "random"):
        run = run_strategy(strategy, data.labels, features, 2, split, settings, LogisticHead(), seed=0)
        assert run.revealed.sum(axis=1).max() <= 3
        assert not np.isnan(data.labels[split.train][run.revealed]).any()
        steps = np.diff(run.used)
        assert (steps <= 15).all() and (steps >= 0).all()
        # 50 train examples x 3 max = 150 annotations: the reservoir runs dry and growth stops
        assert run.used[-1] == run.revealed.sum() == 150
        assert steps[-1] == 0


def test_determinism_per_seed_and_same_start_for_both_strategies():
    data, features = crowd()
    one = run_simulation(data, features, SMALL, use_cache=False)
    two = run_simulation(data, features, SMALL, use_cache=False)
    for s in ("activelab", "random"):
        np.testing.assert_array_equal(one.accuracy[s], two.accuracy[s])
    single = run_simulation(data, features, SimulationSettings(**{**SMALL.__dict__, "seeds": 1}), use_cache=False)
    np.testing.assert_array_equal(single.accuracy["random"][0], one.accuracy["random"][0])
    np.testing.assert_array_equal(one.annotations["activelab"][:, 0], [60, 60])
    np.testing.assert_array_equal(one.annotations["random"], one.annotations["activelab"])
    assert one.accuracy["activelab"].shape == (2, 4)
    # round 1 is a fair start: both train on majority vote of the same annotations -> the same model
    np.testing.assert_array_equal(one.accuracy["activelab"][:, 0], one.accuracy["random"][:, 0])


def test_results_are_cached_and_round_trip_as_json(losslens_home):
    data, features = crowd()
    calls = []
    first = run_simulation(data, features, SMALL, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1] and not first.from_cache
    assert list((losslens_home / "simulations").glob("*.json"))
    second = run_simulation(data, features, SMALL)
    assert second.from_cache
    np.testing.assert_array_equal(second.accuracy["activelab"], first.accuracy["activelab"])
    raw = json.loads(json.dumps(first.to_json()))
    assert raw["rounds"] == 4 and raw["batch"] == 10
    assert len(raw["accuracy"]["activelab"]) == 2 and len(raw["accuracy"]["random"][0]) == 4
    other = run_simulation(data, features, SimulationSettings(**{**SMALL.__dict__, "batch": 5}))
    assert not other.from_cache


MEDIUM = SimulationSettings(rounds=6, batch=20, seeds=3, initial=40, pool=300, test=120, folds=3)


def test_ceiling_is_the_curves_measure_with_every_annotation():
    """The ceiling is test accuracy on the curves' own test rows after training on every annotation
    of the train rows. (It used to be K-fold accuracy against every example's majority label, ambiguous
    ones included: 0.827 here, below ActiveLab's last point 0.883.)"""
    data, features = crowd(n=600)
    result = run_simulation(data, features, MEDIUM, use_cache=False)
    last = {s: a.mean(axis=0)[-1] for s, a in result.accuracy.items()}
    assert last["activelab"] == pytest.approx(0.883, abs=1e-3)
    assert result.ceiling >= max(last.values())
    by_hand = [ceiling_accuracy(data.labels, features, 2, make_split(data.labels, MEDIUM, seed), MEDIUM,
                                LogisticHead(), seed) for seed in range(3)]
    assert result.ceiling == pytest.approx(np.mean(by_hand))
    shares = [np.bincount(make_split(data.labels, MEDIUM, seed).test_labels).max() / 120 for seed in range(3)]
    assert result.chance == pytest.approx(np.mean(shares))


def test_ceiling_trains_on_every_annotation_of_the_train_rows():
    labels, features, split = _hand_split()
    settings = SimulationSettings(rounds=1, batch=1, seeds=1, initial=40, pool=20, test=8, folds=3)
    assert ceiling_accuracy(labels, features, 2, split, settings, LogisticHead(), 0) == 1.0  # separable clusters
    flipped = labels.copy()
    flipped[split.train] = 1 - flipped[split.train]          # every train annotation says the other class
    assert ceiling_accuracy(flipped, features, 2, split, settings, LogisticHead(), 0) == 0.0


def test_work_plan_counts_fits_by_hand():
    work = SimulationWork(SimulationSettings(rounds=3, batch=10, seeds=2, initial=30, pool=15, folds=3))
    # ActiveLab: 3 fold fits + the fit, CROWDLAB from round 2 on, the scores before the last round
    assert [work.round_cost("activelab", r) for r in range(3)] == [5, 6, 5]
    assert [work.round_cost("random", r) for r in range(3)] == [1, 1, 1]
    assert work.ceiling_cost == 3 + 1 + 2                                    # folds, CROWDLAB, two fits
    assert work.total == 2 * (16 + 3 + 6)
    assert embedding_cost(["a" * 40] * 100 + ["b" * 4000] * 10) == 100 + round((100 * 12 + 10 * 256) / 150)


def test_progress_moves_with_the_work(monkeypatch):
    """Embeddings from the cache: the first round reports a small share (it was 94%: texts counted
    as units of work), each seed an equal share, the ceiling counted. Embeddings computed: their
    estimated cost goes first, and the fractions still only grow."""
    data, features = crowd(n=600)
    data = replace(data, texts=np.array([f"text number {i}" for i in range(600)], dtype=object))
    work = SimulationWork(MEDIUM)

    def run(embed_steps: int) -> list[float]:
        def embed(data, model, progress=None):
            for step in range(1, embed_steps + 1):
                progress(step * 200, 600)
            return features

        monkeypatch.setattr(simulation, "embed_annotation_texts", embed)
        calls = []
        simulation.simulate(data, MEDIUM, progress=lambda done, total: calls.append((done, total)), use_cache=False)
        assert len({total for _, total in calls}) == 1                # one plan from the first report on
        fractions = [done / total for done, total in calls]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        return fractions

    cached = run(embed_steps=0)
    assert cached[0] == pytest.approx(work.round_cost("activelab", 0) / work.total) and cached[0] < 0.05
    per_seed = [cached[k] for k in range(2 * MEDIUM.rounds, len(cached), 2 * MEDIUM.rounds + 1)]
    np.testing.assert_allclose(per_seed, [1 / 3, 2 / 3, 1.0])               # after each seed's ceiling
    ceiling_share = cached[2 * MEDIUM.rounds] - cached[2 * MEDIUM.rounds - 1]
    assert ceiling_share == pytest.approx(work.ceiling_cost / work.total)
    embedding = embedding_cost(data.texts)
    computed = run(embed_steps=3)
    loaded = [100 + k * (embedding - 100) // 3 for k in (1, 2, 3)]          # the encoder loaded, then per text
    assert computed[:3] == pytest.approx([e / (embedding + work.total) for e in loaded])
    assert computed[3] == pytest.approx((embedding + work.round_cost("activelab", 0)) / (embedding + work.total))


def test_round_table_and_error_ratio_by_hand():
    s = SimulationSettings(rounds=2, batch=5, seeds=2)
    result = SimulationResult(s, {"activelab": np.array([[0.9, 0.95], [0.9, 0.85]]),
                                  "random": np.array([[0.8, 0.8], [0.8, 0.8]])},
                              {"activelab": np.array([[10, 15], [10, 15]]), "random": np.array([[10, 15], [10, 15]])},
                              {"activelab": 1.0, "random": 1.0})
    table = result.round_table()
    np.testing.assert_allclose(table["activelab_mean"], [0.9, 0.9])
    np.testing.assert_allclose(table["activelab_std"], [0.0, 0.05])
    np.testing.assert_allclose(table["error_ratio"], [0.5, 0.5])
    assert table["annotations"].tolist() == [10, 15]
    assert result.mean_error_ratio() == pytest.approx(0.5)
    assert "rounds 2-2: 0.50" in result.format_table()
    assert result.mean_error_ratio(1, 1) == pytest.approx(0.5)
    assert SimulationResult.from_json(result.to_json()).round_table().equals(table)


def test_settings_errors_are_one_line():
    data, features = crowd(n=100)
    with pytest.raises(SimulationError, match="lower --test"):
        run_simulation(data, features, SimulationSettings(test=500), use_cache=False)
    with pytest.raises(SimulationError, match="lower --pool"):
        run_simulation(data, features, SimulationSettings(test=10, initial=10, pool=500), use_cache=False)
    with pytest.raises(SimulationError, match="at least 1"):
        run_simulation(data, features, SimulationSettings(rounds=0), use_cache=False)
    with pytest.raises(SimulationError, match="features have 3 rows"):
        run_simulation(data, features[:3], SMALL, use_cache=False)


def test_fitted_settings_shrink_to_small_data():
    data, _ = crowd(n=300)
    s = fitted_settings(data, rounds=3)
    assert s.rounds == 3 and s.test <= 75 and s.test + s.initial + s.pool <= 300
    make_split(data.labels, s, seed=0)                                # fits


def test_next_batch_from_given_labels_and_reviewer_decisions():
    ids = np.array(["a", "b", "c", "d", "e", "f"], dtype=object)
    given = np.array([0, 0, 1, 1, 0, 1])
    decisions = pd.DataFrame({
        "example_id": ["a", "c", "d", "zzz"], "original_label": ["neg", "pos", "pos", "neg"],
        "new_label": ["pos", None, "pos", "pos"], "status": ["relabeled", "confirmed", "ambiguous", "relabeled"],
        "reviewer": ["ann", "bob", "ann", "ann"]})
    annotations, annotators = review_annotations(ids, given, decisions, ("neg", "pos"))
    assert annotations.shape == (6, 3) and annotators == ("given label", "ann", "bob")
    np.testing.assert_array_equal(annotations[0], [0, 1, NAN])         # a: given neg, ann says pos
    np.testing.assert_array_equal(annotations[2], [1, NAN, 1])         # c: bob confirmed pos
    assert np.isnan(annotations[3, 1:]).all()                          # ambiguous is no annotation
    probs = np.array([[0.5, 0.5], [0.9, 0.1], [0.1, 0.9], [0.2, 0.8], [0.95, 0.05], [0.3, 0.7]])
    batch = next_batch(ids, annotations, probs, batch=2)
    assert list(batch.columns) == ["id", "activelab_score", "annotations", "consensus"]
    assert batch["id"].iloc[0] == "a"                                  # disagreement + 50/50 model
    assert batch["activelab_score"].is_monotonic_increasing and len(batch) == 2


def test_cli_prints_table_and_writes_json(tmp_path, monkeypatch, capsys):
    data, features = crowd()
    rows = [{"id": i, "text": f"text {i}", **{a: (None if np.isnan(v) else int(v))
                                             for a, v in zip(data.annotators, data.labels[n])}}
            for n, i in enumerate(data.ids)]
    path = tmp_path / "wide.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    monkeypatch.setattr("losslens.activelab.simulation.embed_annotation_texts", lambda d, model, progress=None: features)
    out = tmp_path / "res.json"
    args = ["simulate", "--annotations", str(path), "--rounds", "3", "--batch", "5", "--seeds", "2",
            "--initial", "30", "--pool", "100", "--test", "50", "--out", str(out)]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "error ratio" in printed and "rounds 2-3" in printed
    raw = json.loads(out.read_text())
    assert raw["rounds"] == 3 and len(raw["accuracy"]["activelab"]) == 2
    assert cli.main(["simulate", "--annotations", str(path), "--test", "100000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("losslens: error:") and "lower --test" in err[-1]
    assert cli.main(["simulate", "--annotations", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err

def test_reviewer_consensus_quality_and_agreement():
    """Six examples; ann and bob agree everywhere, carl contradicts them twice; the model agrees
    with ann and bob. CROWDLAB sides with them, rates carl lowest; alpha is Krippendorff's."""
    import krippendorff

    from losslens.activelab.crowd import reviewer_consensus
    from losslens.sources.datasets import labeled_texts_from_frame, ColumnMapping

    frame = pd.DataFrame({"id": list("abcdef"), "text": [f"t{i}" for i in range(6)],
                          "label": ["neg", "neg", "pos", "pos", "neg", "pos"]})
    data = labeled_texts_from_frame(frame, ColumnMapping(id="id"), "crowd")
    truth = {"a": "pos", "b": "neg", "c": "pos", "d": "neg", "e": "neg", "f": "pos"}
    rows = []
    for who in ("ann", "bob", "carl"):
        for example_id, label in truth.items():
            if who == "carl" and example_id in ("a", "d"):
                label = "neg" if label == "pos" else "pos"
            given = frame.set_index("id").loc[example_id, "label"]
            rows.append({"example_id": example_id, "original_label": given, "new_label": label,
                         "status": "relabeled" if label != given else "confirmed", "reviewer": who})
    applied = pd.DataFrame(rows)
    probs = np.array([[0.1, 0.9] if truth[i] == "pos" else [0.9, 0.1] for i in "abcdef"])
    consensus = reviewer_consensus(data, probs, applied)
    assert consensus.examples.set_index("id")["consensus"].to_dict() == truth
    quality = consensus.annotators.set_index("annotator")["quality"]
    assert list(quality.index) == ["given label", "ann", "bob", "carl"]
    assert quality["carl"] < quality["ann"] and quality["given label"] < quality["ann"]
    reviewers = np.array([[1, 0, 1, 0, 0, 1], [1, 0, 1, 0, 0, 1], [0, 0, 1, 1, 0, 1]], dtype=float)
    assert consensus.alpha == pytest.approx(krippendorff.alpha(reliability_data=reviewers,
                                                                level_of_measurement="nominal"))
    assert consensus.overlap == 6 and 0 < consensus.alpha < 1
    assert reviewer_consensus(data, probs, applied.iloc[0:0]) is None
