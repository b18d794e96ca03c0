"""losslens.scoring.finetune: the fine-tuning classifier learns, plugs into the simulation, and is cached
under its own key (tiny random BERT from a config, so it runs on the CPU in seconds)."""
import numpy as np

from losslens.activelab.simulation import request_key, simulate
from losslens.activelab.results import SimulationSettings
from losslens.activelab.annotations import MultiAnnotatorData, simulate_annotators
from losslens.scoring.finetune import FineTunedTransformer, text_rows

POSITIVE = ["great lovely superb film", "wonderful acting great plot", "superb lovely cast", "great fun"]
NEGATIVE = ["awful boring mess", "terrible dull plot", "boring awful acting", "dull terrible film"]


def texts_and_truth(n: int) -> tuple[tuple[str, ...], np.ndarray]:
    truth = np.arange(n) % 2
    texts = tuple((POSITIVE if t else NEGATIVE)[i % 4] + f" number {i}" for i, t in enumerate(truth))
    return texts, truth


def test_fine_tuning_learns_separable_texts(tiny_encoder_dir):
    texts, truth = texts_and_truth(40)
    classifier = FineTunedTransformer(texts, model=str(tiny_encoder_dir), epochs=8, batch_size=8,
                                      learning_rate=2e-3, device="cpu")
    rows = text_rows(40)
    head = classifier.fit(rows[:30], truth[:30], 2, seed=0)
    probs = head.predict_proba(rows[30:])
    assert probs.shape == (10, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs.argmax(axis=1) == truth[30:]).mean() >= 0.9
    again = classifier.fit(rows[:30], truth[:30], 2, seed=0).predict_proba(rows[30:])
    np.testing.assert_allclose(again, probs, atol=1e-5)  # deterministic per seed


def test_simulation_with_fine_tuning_uses_text_rows_and_its_own_cache_key(tiny_encoder_dir, monkeypatch):
    import losslens.activelab.simulation

    texts, truth = texts_and_truth(80)
    labels, _ = simulate_annotators(truth, 2, n_annotators=5, per_example=4, error_range=(0.05, 0.2), seed=0)
    data = MultiAnnotatorData(np.array([f"t{i}" for i in range(80)], dtype=object), np.array(texts, dtype=object),
                              labels, tuple(f"a{m}" for m in range(5)), ("neg", "pos"), "synthetic")
    settings = SimulationSettings(rounds=2, batch=4, seeds=1, initial=10, pool=30, test=20, folds=2)
    classifier = FineTunedTransformer(texts, model=str(tiny_encoder_dir), epochs=2, batch_size=8,
                                      learning_rate=2e-3, device="cpu")
    monkeypatch.setattr(losslens.activelab.simulation, "embed_annotation_texts", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("a fine-tuning classifier reads the texts itself")))
    result = simulate(data, settings, classifier=classifier)
    assert result.accuracy["activelab"].shape == (1, 2) and result.accuracy["random"].shape == (1, 2)
    assert ((result.accuracy["activelab"] >= 0) & (result.accuracy["activelab"] <= 1)).all()
    assert request_key(data, settings, classifier=classifier) != request_key(data, settings)
    assert simulate(data, settings, classifier=classifier).from_cache
