"""The detection benchmark (`losslens evaluate`): flip a known fraction of a dataset's labels,
score it, and measure how well each ranking puts the flipped examples first.

Protocol, per seed (numpy default_rng(seed), reproducible to the digit):
  uniform            exactly k = round(rate x N) examples, each moved to another class at random;
  class-conditional  the same k examples, each moved to class j with probability proportional
                     to the clean data's confusions i -> j (out-of-fold ensemble predictions on the
                     clean labels) plus one, so every other class stays possible.
Every head is refitted on the noisy labels (same folds as scoring). For each ranking: precision
at k (= recall at k), precision and recall at 2k, and average precision; mean and standard
deviation over seeds. Ties in a ranking are broken by a random order fixed by the seed.
Labels the dataset got wrong before the flips count as "not flipped", so precision is a floor.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from losslens.errors import ScoringError
from losslens.jobs import Progress
from losslens.scoring.cache_entries import OutputsEntry
from losslens.scoring.features import model_features
from losslens.scoring.heads import FoldLabels, HeadInputs, head_probs
from losslens.scoring.models import ModelSpec, clipped_texts, resolve_model
from losslens.scoring.request import ScoreSettings
from losslens.scoring.scores import score_examples, softmax
from losslens.sources.datasets import LabeledTexts

NOISE_KINDS = ("uniform", "class")
METRICS = ("P@k", "P@2k", "R@2k", "AP")


def flip_labels(labels: np.ndarray, n_classes: int, rate: float, kind: str, seed: int,
                transition: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(noisy labels, (N,) bool flipped): exactly round(rate x N) examples get another label;
    kind "uniform" or "class" (rows of the (K, K) `transition` give where class i goes)."""
    if kind not in NOISE_KINDS:
        raise ScoringError(f"unknown noise kind {kind[:20]!r}; choose one of {', '.join(NOISE_KINDS)}")
    if not 0 < rate < 1:
        raise ScoringError(f"the noise rate must be between 0 and 1 (got {rate})")
    rng = np.random.default_rng(seed)
    n = len(labels)
    k = int(round(rate * n))
    if k < 1:
        raise ScoringError(f"a noise rate of {rate} flips no label of {n} examples; raise it")
    rows = rng.choice(n, size=k, replace=False)
    noisy = np.array(labels, dtype=np.int64)
    if kind == "uniform":
        noisy[rows] = (noisy[rows] + rng.integers(1, n_classes, size=k)) % n_classes
    else:
        cumulative = np.cumsum(transition[noisy[rows]], axis=1)
        noisy[rows] = np.minimum((rng.random(k)[:, None] > cumulative).sum(axis=1), n_classes - 1)
    flipped = np.zeros(n, dtype=bool)
    flipped[rows] = True
    return noisy, flipped


def confusion_transition(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, K) rows of where class i's labels go: off-diagonal confusion counts + 1, diagonal 0."""
    counts = np.ones((n_classes, n_classes))
    np.add.at(counts, (labels, predicted), 1)
    np.fill_diagonal(counts, 0)
    return counts / counts.sum(axis=1, keepdims=True)


def detection_metrics(suspicion: np.ndarray, flipped: np.ndarray, tiebreak: np.ndarray) -> dict[str, float]:
    """P@k (= R@k), P@2k, R@2k and average precision of ranking by `suspicion` (high first),
    k = the number flipped; ties go by `tiebreak` (low first)."""
    from sklearn.metrics import average_precision_score

    k = int(flipped.sum())
    hits = flipped[np.lexsort((tiebreak, -suspicion))]
    return {"P@k": float(hits[:k].mean()), "P@2k": float(hits[:2 * k].mean()),
            "R@2k": float(hits[:2 * k].sum() / k), "AP": float(average_precision_score(flipped, suspicion))}


@dataclass
class Evaluation:
    """runs[ranking][metric]: one value per seed; seconds[head]: fit + predict time per 1,000
    texts (median over seeds), plus the model's outputs (embedding) time when they were computed."""

    dataset: str
    n: int
    rate: float
    kind: str
    seeds: list[int]
    runs: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def table(self) -> str:
        """Rankings as rows, mean ± std of each metric as columns."""
        lines = [f"{self.dataset}: {self.n:,} examples, {self.rate:.0%} {self.kind} flips "
                 f"(k={int(round(self.rate * self.n)):,}), seeds {', '.join(map(str, self.seeds))}",
                 f"{'ranking':<34}" + "".join(f"{m:>15}" for m in METRICS)]
        for name, values in self.runs.items():
            lines.append(f"{name:<34}" + "".join(
                f"{np.mean(values[m]):>9.3f} ±{np.std(values[m]):.3f}" for m in METRICS))
        lines.append("seconds per 1,000 texts: " + ", ".join(f"{h} {s:.2f}" for h, s in self.seconds.items()))
        return "\n".join(lines)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class NoisyBenchmark:
    """What every seed of a benchmark on one dataset shares: the heads' inputs (TF-IDF computed),
    a classifier's (N, K') logits (None for an encoder), the (K, K) class-conditional transition
    (None for uniform flips), and seconds per 1,000 texts of the model outputs and TF-IDF."""

    inputs: HeadInputs
    logits: np.ndarray | None
    transition: np.ndarray | None
    seconds: dict[str, float]

    def flips(self, data: LabeledTexts, rate: float, kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """flip_labels of `data` for `seed` under this benchmark's transition."""
        return flip_labels(data.labels, data.n_classes, rate, kind, seed, self.transition)


def check_benchmark(data: LabeledTexts, settings: ScoreSettings, rate: float, kind: str, seeds: int) -> None:
    """ScoringError for a bad setting, rate, kind or seed count: before any work."""
    settings.check()
    if seeds < 1:
        raise ScoringError(f"--seeds must be at least 1 (got {seeds})")
    flip_labels(data.labels, data.n_classes, rate, "uniform", 0)   # bad rate
    if kind not in NOISE_KINDS:
        flip_labels(data.labels, data.n_classes, rate, kind, 0)


def noisy_benchmark(data: LabeledTexts, spec: ModelSpec, settings: ScoreSettings, kind: str,
                    progress: Progress | None = None) -> NoisyBenchmark:
    """The model's features of `data` (cached), TF-IDF, and for class-conditional flips the
    transition from the clean data's confusions (out-of-fold ensemble, or the classifier)."""
    started = time.perf_counter()
    model = resolve_model(spec)
    features = model_features(data.texts, OutputsEntry.of(data.texts, model, settings.max_length), model, settings,
                              progress)
    seconds = {"model outputs": (time.perf_counter() - started) * 1000 / len(data)}
    classifier = model.kind == "classifier"
    inputs = HeadInputs(clipped_texts(data.texts, settings.max_length), features.embeddings, features.neighbours)
    if not classifier:
        started = time.perf_counter()
        tfidf = inputs.tfidf   # computed once here (a cached property), shared by every seed, timed on its own
        seconds["tfidf features"] = (time.perf_counter() - started) * 1000 / tfidf.shape[0]
    logits = features.logits if classifier else None
    transition = None
    if kind == "class":
        predicted = (softmax(logits) if classifier
                     else ensemble_probabilities(inputs, data.labels, data, settings, 0, {})["ensemble"]).argmax(axis=1)
        transition = confusion_transition(data.labels, predicted, data.n_classes)
    return NoisyBenchmark(inputs, logits, transition, seconds)


def evaluate(data: LabeledTexts, spec: ModelSpec, settings: ScoreSettings = ScoreSettings(), *, rate: float = 0.05,
             kind: str = "uniform", seeds: int = 5, progress: Progress | None = None) -> Evaluation:
    """Run the benchmark on `data` (its labels taken as clean) with the model of `spec`."""
    check_benchmark(data, settings, rate, kind, seeds)
    bench = noisy_benchmark(data, spec, settings, kind, progress)
    result = Evaluation(data.name, len(data), rate, kind, list(range(seeds)), seconds=dict(bench.seconds))
    timings: dict[str, list[float]] = {}
    for seed in result.seeds:
        noisy, flipped = bench.flips(data, rate, kind, seed)
        tiebreak = np.random.default_rng([seed, 1]).permutation(len(data))
        rankings = ({"classifier": softmax(bench.logits)} if bench.logits is not None
                    else ensemble_probabilities(bench.inputs, noisy, data, settings, seed, timings))
        for head, probs in rankings.items():
            scores = score_examples(probs, noisy, settings.quality_method)
            named = {f"{head}: loss": scores.loss, f"{head}: cleanlab rank": -scores.rank.astype(float),
                     f"{head}: margin": -scores.margin} if head in ("ensemble", "classifier") else {f"{head}: loss": scores.loss}
            for name, suspicion in named.items():
                for metric, value in detection_metrics(suspicion, flipped, tiebreak).items():
                    result.runs.setdefault(name, {m: [] for m in METRICS})[metric].append(value)
        if progress is not None:
            progress(seed + 1, seeds)
    result.seconds.update({head: float(np.median(t)) * 1000 / len(data) for head, t in timings.items()})
    return result


def ensemble_probabilities(inputs: HeadInputs, labels: np.ndarray, data: LabeledTexts, settings: ScoreSettings,
                           seed: int, timings: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """The ensemble's out-of-fold probabilities on `labels`, then each of its members'."""
    fit = FoldLabels.stratified(labels, data.label_names, settings.folds, settings.seed + seed)
    ensemble, members = head_probs("ensemble", inputs, fit, timings)
    return {"ensemble": ensemble, **members}
