"""ActiveLab vs random selection: a simulation of collecting annotations round by round.

Protocol (the cleanlab/Hugging Face ActiveLab tutorial): per seed, a test set of examples whose
annotators are unanimous (labels = that consensus), an initial labeled set with
`initial_annotations` annotations each, and an unlabeled pool. The annotations not yet revealed
form the reservoir; collecting one uses it up, and no example gets more than `max_annotations`.
Round r (1..R) trains the classifier on the current consensus labels and records test accuracy,
then (except after the last round) collects `batch` new annotations — one each for `batch`
distinct examples:

- random: majority-vote consensus; examples drawn at random among those with annotations left;
- activelab: majority vote in round 1 (as random: both start from the same model, so round 1
  is a fair start), CROWDLAB consensus from K-fold out-of-sample probabilities from round 2 on;
  the unlabeled pool is scored by the average of the fold models; `get_active_learning_scores`,
  lowest first, skipping examples with no annotation left.

Selection first acts on round 2's accuracy, so the headline ratio is taken over rounds 2-9.
The ceiling is the same test accuracy, per seed, with the classifier trained on every annotation
of the train rows (`ceiling_accuracy`): where both curves head as the reservoir is spent.

Both strategies start from the same split and initial annotations within a seed. The annotator
for a chosen example is drawn among those left for it, preferring annotators already seen.
Accuracy at round r was measured with `initial * initial_annotations + (r-1) * batch` annotations.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from losslens.activelab.annotations import MultiAnnotatorData
from losslens.activelab.crowd import activelab_scores, crowdlab_consensus, majority_vote
from losslens.activelab.heads import LogisticHead, kfold_probs
from losslens.activelab.results import STRATEGIES, SimulationResult, SimulationSettings
from losslens.activelab.work import ENCODER_SETUP_FITS, SimulationWork, embedding_cost
from losslens.scoring.cache import atomic_write, cache_dir, cache_key
from losslens.sources.datasets import texts_digest
from losslens.errors import SimulationError
from losslens.jobs import Progress
from losslens.scoring.heads import Head

RESULT_VERSION = 2   # 2: the ceiling is test accuracy on each seed's test rows (was K-fold on every example)


def unanimous_rows(labels: np.ndarray) -> np.ndarray:
    """Row numbers of examples with 2+ annotations that all agree."""
    counts = np.sum(~np.isnan(labels), axis=1)
    return np.flatnonzero((counts >= 2) & (np.nanmin(labels, axis=1) == np.nanmax(labels, axis=1)))


def fitted_settings(data: MultiAnnotatorData, **overrides: int) -> SimulationSettings:
    """Default settings shrunk to fit `data` (test <= unanimous examples, pool <= what is left).

    `overrides` (e.g. rounds=10) are applied first and never shrunk.
    """
    base = SimulationSettings(**overrides)
    unanimous = len(unanimous_rows(data.labels))
    if "test" not in overrides and min(unanimous, len(data) // 4) < 1:
        raise SimulationError(
            f"{len(data):,} examples, {data.n_annotations:,} annotations: too few examples have 2+ annotators who "
            "agree to make a test set (the comparison needs several annotations per example and some unanimous "
            "ones); a single-annotator file cannot compare strategies")
    test = base.test if "test" in overrides else min(base.test, unanimous, len(data) // 4)
    initial = base.initial if "initial" in overrides else min(base.initial, max(1, (len(data) - test) // 5))
    pool = base.pool if "pool" in overrides else max(0, min(base.pool, len(data) - test - initial))
    return SimulationSettings(**{**asdict(base), "test": test, "initial": initial, "pool": pool})


def embed_annotation_texts(data: MultiAnnotatorData, model: str = "bundled:minilm",
                           progress: Progress | None = None) -> np.ndarray:
    """(N, D) float32 encoder embeddings of the annotated texts (cached on disk by losslens.scoring.features)."""
    from losslens.scoring.features import embed_texts  # torch only when embedding
    from losslens.scoring.models import ModelSpec

    if data.texts is None:
        raise SimulationError("the annotation file has no text column; add one (e.g. 'text') to simulate")
    return embed_texts(list(data.texts), ModelSpec(name=model), progress=progress)


@dataclass(frozen=True)
class Split:
    """Row numbers into the data: test, train (initial rows first, then pool); test consensus labels."""

    test: np.ndarray
    train: np.ndarray
    test_labels: np.ndarray
    initial_revealed: np.ndarray   # (len(train), M) bool: the annotations known at the start


def make_split(labels: np.ndarray, settings: SimulationSettings, seed: int) -> Split:
    """Draw test (unanimous), initial and pool rows and the initial annotations for one seed."""
    rng = np.random.default_rng([seed, 0])
    counts = np.sum(~np.isnan(labels), axis=1)
    unanimous = unanimous_rows(labels)
    if len(unanimous) < settings.test:
        raise SimulationError(f"only {len(unanimous)} examples have 2+ unanimous annotators; "
                              f"lower --test (asked {settings.test})")
    test = np.sort(rng.choice(unanimous, size=settings.test, replace=False))
    rest = np.setdiff1d(np.arange(len(labels)), test)
    starters = rest[counts[rest] >= settings.initial_annotations]
    if len(starters) < settings.initial:
        raise SimulationError(f"only {len(starters)} non-test examples have {settings.initial_annotations}+ "
                              f"annotations; lower --initial (asked {settings.initial})")
    initial = rng.choice(starters, size=settings.initial, replace=False)
    others = np.setdiff1d(rest, initial)
    if len(others) < settings.pool:
        raise SimulationError(f"only {len(others)} examples are left for the pool; lower --pool "
                              f"(asked {settings.pool}) or --test/--initial")
    pool = rng.choice(others, size=settings.pool, replace=False)
    train = np.concatenate([initial, pool])
    revealed = np.zeros((len(train), labels.shape[1]), dtype=bool)
    for n in range(settings.initial):
        given = np.flatnonzero(~np.isnan(labels[train[n]]))
        revealed[n, rng.choice(given, size=settings.initial_annotations, replace=False)] = True
    return Split(test, train, np.nanmax(labels[test], axis=1).astype(int), revealed)


def ceiling_accuracy(data_labels: np.ndarray, features: np.ndarray, n_classes: int, split: Split,
                     settings: SimulationSettings, classifier: Head, seed: int) -> float:
    """Test accuracy of `classifier` trained on the split's train rows (initial + pool) with every
    one of their annotations, on the split's test rows and labels: the curves' own measure at the
    point they head for once every annotation is collected. The better of the two consensus labels
    the strategies train on (majority vote; CROWDLAB on K-fold probabilities), so neither curve's
    consensus is held back. Rows without any annotation are left out."""
    from threadpoolctl import threadpool_limits

    train = split.train[~np.isnan(data_labels[split.train]).all(axis=1)]
    full, x_train = data_labels[train], features[train]
    votes = majority_vote(full, n_classes)
    with threadpool_limits(limits=1, user_api="blas"):
        oof, _ = kfold_probs(classifier, x_train, votes, n_classes, settings.folds, seed, features[:0])
        accuracy = [np.mean(classifier.fit(x_train, labels, n_classes, seed).predict_proba(features[split.test])
                            .argmax(axis=1) == split.test_labels) for labels in (votes, crowdlab_consensus(full, oof))]
    return float(max(accuracy))


def majority_class_share(split: Split) -> float:
    """Share of the split's test rows in their commonest class: the accuracy of always guessing it."""
    return float(np.bincount(split.test_labels).max() / len(split.test_labels))


def available(full: np.ndarray, revealed: np.ndarray, max_annotations: int) -> np.ndarray:
    """(T, M) bool: annotations still in the reservoir and allowed (example below the maximum)."""
    room = revealed.sum(axis=1) < max_annotations
    return ~np.isnan(full) & ~revealed & room[:, None]


def collect(rows: np.ndarray, full: np.ndarray, revealed: np.ndarray, max_annotations: int,
            rng: np.random.Generator) -> None:
    """Reveal one annotation for each row (in place), preferring annotators already seen."""
    seen = revealed.any(axis=0)
    for row in rows:
        left = np.flatnonzero(available(full[row:row + 1], revealed[row:row + 1], max_annotations)[0])
        if len(left) == 0:
            continue
        known = left[seen[left]]
        who = rng.choice(known if len(known) else left)
        revealed[row, who] = seen[who] = True


@dataclass(frozen=True)
class StrategyRun:
    """One strategy, one seed: (rounds,) test accuracy, (rounds,) annotations used, final (T, M) revealed mask."""

    accuracy: np.ndarray
    used: np.ndarray
    revealed: np.ndarray


def run_strategy(strategy: str, data_labels: np.ndarray, features: np.ndarray, n_classes: int,
                 split: Split, settings: SimulationSettings, classifier: Head, seed: int,
                 on_round: Callable[[int], None] = lambda r: None) -> StrategyRun:
    """Play `settings.rounds` rounds of `strategy` ("activelab" | "random") from `split`;
    on_round(r) after round r (0-based) is measured.

    BLAS runs single-threaded here: the many small fits are ~5x faster without thread contention.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _play(strategy, data_labels, features, n_classes, split, settings, classifier, seed, on_round)


def _play(strategy: str, data_labels: np.ndarray, features: np.ndarray, n_classes: int, split: Split,
          settings: SimulationSettings, classifier: Head, seed: int,
          on_round: Callable[[int], None]) -> StrategyRun:
    rng = np.random.default_rng([seed, STRATEGIES.index(strategy) + 1])
    full = data_labels[split.train]
    revealed = split.initial_revealed.copy()
    x_train, x_test = features[split.train], features[split.test]
    accuracy, used = np.zeros(settings.rounds), np.zeros(settings.rounds, dtype=int)
    for r in range(settings.rounds):
        labeled = np.flatnonzero(revealed.any(axis=1))
        unlabeled = np.flatnonzero(~revealed.any(axis=1))
        known = np.where(revealed, full, np.nan)[labeled]
        votes = majority_vote(known, n_classes)
        if strategy == "activelab":
            oof, unl = kfold_probs(classifier, x_train[labeled], votes, n_classes, settings.folds,
                                   seed, x_train[unlabeled])
            consensus = crowdlab_consensus(known, oof) if r > 0 else votes   # round 1: the same start
        else:
            consensus = votes
        model = classifier.fit(x_train[labeled], consensus, n_classes, seed)
        accuracy[r] = np.mean(model.predict_proba(x_test).argmax(axis=1) == split.test_labels)
        used[r] = int(revealed.sum())
        on_round(r)
        if r == settings.rounds - 1:
            break
        open_rows = available(full, revealed, settings.max_annotations).any(axis=1)
        if strategy == "activelab":
            scores = np.full(len(full), np.inf)
            scores[labeled], scores[unlabeled] = activelab_scores(known, oof, unl)
            order = np.argsort(scores, kind="stable")
            chosen = order[open_rows[order]][:settings.batch]
        else:
            candidates = np.flatnonzero(open_rows)
            chosen = rng.choice(candidates, size=min(settings.batch, len(candidates)), replace=False)
        collect(chosen, full, revealed, settings.max_annotations, rng)
    return StrategyRun(accuracy, used, revealed)


def _digest(arr: np.ndarray) -> str:
    arr = np.ascontiguousarray(arr)
    return hashlib.sha256(str(arr.shape).encode() + str(arr.dtype).encode() + arr.tobytes()).hexdigest()


def features_identity(data: MultiAnnotatorData, model: str) -> str:
    """Cheap stand-in for the embeddings' digest: encoder identity + the texts (no model run)."""
    from losslens.scoring.models import model_identity

    return f"{model_identity(model)}:{texts_digest(data.texts if data.texts is not None else data.ids)}"


def simulation_key(data: MultiAnnotatorData, features_id: str, settings: SimulationSettings,
                   classifier: Head) -> str:
    """Cache key: annotation matrix + features identity + settings + classifier (+ code version,
    + RESULT_VERSION)."""
    return cache_key(kind="activelab-simulation", labels=_digest(data.labels), features=features_id,
                     settings=asdict(settings), classifier=repr(classifier), result=RESULT_VERSION)


def simulations_dir() -> Path:
    return cache_dir("simulations")


def load_cached_simulation(key: str) -> SimulationResult | None:
    """The saved result under `key`, or None (a damaged file counts as missing)."""
    path = simulations_dir() / f"{key}.json"
    try:
        result = SimulationResult.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    result.from_cache = True
    return result


def _save(result: SimulationResult) -> None:
    atomic_write(simulations_dir() / f"{result.key}.json", json.dumps(result.to_json()).encode())


def run_simulation(data: MultiAnnotatorData, features: np.ndarray,
                   settings: SimulationSettings = SimulationSettings(), *,
                   classifier: Head | None = None, progress: Progress | None = None, use_cache: bool = True,
                   simulated_annotators: bool = False, features_id: str | None = None) -> SimulationResult:
    """Run every strategy for seeds 0..S-1; features: (N, D) rows aligned with `data`.

    progress(done, total) counts fits (losslens.activelab.work: every round and each seed's
    ceiling, weighted by its cost). A result with the same data, features, settings and classifier
    is read back from the cache instead; the features are identified by `features_id` (see
    `features_identity`) or else by their digest.
    """
    settings.check()
    classifier = classifier or LogisticHead()
    if len(features) != len(data):
        raise SimulationError(f"features have {len(features)} rows but the annotations {len(data)}")
    key = simulation_key(data, features_id or _digest(features), settings, classifier) if use_cache else ""
    if use_cache and (cached := load_cached_simulation(key)) is not None:
        if progress:
            progress(1, 1)
        return cached
    work, done = SimulationWork(settings), 0

    def tick(cost: int) -> None:
        nonlocal done
        done += cost
        if progress:
            progress(done, work.total)

    accuracy = {s: np.zeros((settings.seeds, settings.rounds)) for s in STRATEGIES}
    used = {s: np.zeros((settings.seeds, settings.rounds), dtype=int) for s in STRATEGIES}
    seconds = {s: 0.0 for s in STRATEGIES}
    ceiling, chance = np.zeros(settings.seeds), np.zeros(settings.seeds)
    for seed in range(settings.seeds):
        split = make_split(data.labels, settings, seed)
        for s in STRATEGIES:
            start = time.perf_counter()
            run = run_strategy(s, data.labels, features, data.n_classes, split, settings, classifier, seed,
                               lambda r, s=s: tick(work.round_cost(s, r)))
            accuracy[s][seed], used[s][seed] = run.accuracy, run.used
            seconds[s] += time.perf_counter() - start
        ceiling[seed] = ceiling_accuracy(data.labels, features, data.n_classes, split, settings, classifier, seed)
        chance[seed] = majority_class_share(split)
        tick(work.ceiling_cost)
    result = SimulationResult(settings, accuracy, used, seconds, data.source, repr(classifier),
                              simulated_annotators, key, ceiling=float(ceiling.mean()), chance=float(chance.mean()))
    if use_cache:
        _save(result)
    return result


def request_key(data: MultiAnnotatorData, settings: SimulationSettings, *, model: str = "bundled:minilm",
                classifier: Head | None = None) -> str:
    """The cache key `simulate` will use, computed without embedding anything."""
    classifier = classifier or LogisticHead()
    return simulation_key(data, _features_id(data, model, classifier), settings, classifier)


def _features_id(data: MultiAnnotatorData, model: str, classifier: Head) -> str:
    """Row numbers for a classifier that reads the texts itself, else the encoder's embeddings."""
    return "text-rows" if getattr(classifier, "takes_text_rows", False) else features_identity(data, model)


def cached_simulation(data: MultiAnnotatorData, settings: SimulationSettings, *, model: str = "bundled:minilm",
                      classifier: Head | None = None) -> SimulationResult | None:
    """The saved result for these inputs; None when not run yet."""
    return load_cached_simulation(request_key(data, settings, model=model, classifier=classifier))


def simulate(data: MultiAnnotatorData, settings: SimulationSettings, *, model: str = "bundled:minilm",
             classifier: Head | None = None, progress: Progress | None = None,
             use_cache: bool = True, simulated_annotators: bool = False) -> SimulationResult:
    """Embed the texts with `model` (cached) and run the simulation; a saved result returns at once.

    progress(done, total) counts fits (losslens.activelab.work) over the embedding and the
    simulation as one sequence; embeddings read from the cache cost nothing, so the simulation
    then fills the whole bar."""
    if use_cache and (hit := cached_simulation(data, settings, model=model, classifier=classifier)) is not None:
        return hit
    classifier = classifier or LogisticHead()
    embedded = 0   # fits the encoder's work was counted as, once it ran (none for cached embeddings)
    if getattr(classifier, "takes_text_rows", False):
        from losslens.scoring.finetune import text_rows

        features = text_rows(len(data))
    else:
        rounds, cost = SimulationWork(settings).total, embedding_cost(data.texts if data.texts is not None else ())

        def embedding(done: int, total: int) -> None:
            nonlocal embedded
            embedded = cost
            loaded = ENCODER_SETUP_FITS   # by the first report the encoder is loaded
            progress(loaded + (cost - loaded) * done // max(total, 1), cost + rounds)

        features = embed_annotation_texts(data, model, embedding if progress else None)
    playing = (lambda done, total: progress(embedded + done, embedded + total)) if progress else None  # noqa: E731
    return run_simulation(data, features, settings, classifier=classifier, progress=playing, use_cache=use_cache,
                          simulated_annotators=simulated_annotators,
                          features_id=_features_id(data, model, classifier))
