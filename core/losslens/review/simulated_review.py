"""The simulated review (`losslens evaluate --simulate-review`): does learning from every decision
find the flipped labels sooner than the ranking fixed when scoring ended, and how right is the
errors-left estimate along the way?

Protocol, per seed: flip labels as `losslens evaluate` does (losslens.scoring.evaluation; k =
the number flipped), score them with the cheap heads' ensemble, then a simulated reviewer, who
knows which labels were flipped, decides the top undecided example 2k times: a flipped one is
relabeled to its clean label, any other confirmed. "static" walks the first ranking; "re-ranked"
refits the heads with the decisions every `refit_every` decisions (losslens.review.reranking)
and walks the new order of what is left. Both break ties by a random order fixed by the seed.
With `check_every` N > 0, every Nth decision is instead a check drawn further down the queue for
the errors-left estimate's sake (losslens.review.errors_left.draw_checks, seeded): fewer flips
found early, an estimate that knows how fast errors thin out.

Figures per walk: recall of the flips after k and 2k decisions; AP@2k, the average precision of
the reviewed sequence (the mean over all k flips of the precision at each flip's turn, 0 for
flips not reached); the errors-left estimate's relative error (estimate - truth) / truth after
k/4, k/2 and k decisions (truth: flips not yet decided; losslens.review.errors_left), and whether
its 90% interval covered the truth after k/2. Labels the dataset got wrong before the flips count
as fine, as the reviewer here knows only the flips.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from losslens.errors import ScoringError
from losslens.jobs import Progress
from losslens.review.errors_left import calibrate_verdicts, draw_checks, estimate_errors_left
from losslens.review.reranking import (
    REFIT_EVERY,
    RerankInputs,
    TrustedLabels,
    rerank,
    undecided_order,
)
from losslens.scoring.evaluation import check_benchmark, noisy_benchmark
from losslens.scoring.models import ModelSpec, resolve_model
from losslens.scoring.request import ScoreSettings
from losslens.scoring.scores import per_example_loss
from losslens.sources.datasets import LabeledTexts

WALKS = ("static", "re-ranked")
CHECKPOINTS = {"k/4": 0.25, "k/2": 0.5, "k": 1.0}
METRICS = ("R@k", "R@2k", "AP@2k", *(f"left err @{c}" for c in CHECKPOINTS), "covered @k/2")


@dataclass
class ReviewSimulation:
    """runs[walk][metric]: one value per seed (walks: WALKS, metrics: METRICS); refit_seconds and
    refit_cpu_seconds: every refit's wall and CPU time, all seeds together."""

    dataset: str
    n: int
    rate: float
    kind: str
    seeds: list[int]
    refit_every: int
    check_every: int = 0
    runs: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    refit_seconds: list[float] = field(default_factory=list)
    refit_cpu_seconds: list[float] = field(default_factory=list)

    def table(self) -> str:
        """Walks as rows, mean ± std over seeds of each metric as columns, then the refit times."""
        k = round(self.rate * self.n)
        lines = [(f"{self.dataset}: {self.n:,} examples, {self.rate:.0%} {self.kind} flips (k={k:,}), "
                  f"simulated review of 2k decisions, refit every {self.refit_every}, "
                  + (f"every {self.check_every}th a check further down, " if self.check_every else "") +
                  f"seeds {', '.join(map(str, self.seeds))}"),
                 f"{'walk':<11}" + "".join(f"{m:>17}" for m in METRICS)]
        for name, values in self.runs.items():
            lines.append(f"{name:<11}" + "".join(
                f"{np.mean(values[m]):>10.3f} ±{np.std(values[m]):.3f}" for m in METRICS))
        if self.refit_seconds:
            lines.append(f"refits: {len(self.refit_seconds)}, median {np.median(self.refit_seconds):.2f} s wall "
                         f"({np.median(self.refit_cpu_seconds):.2f} s CPU), max {max(self.refit_seconds):.2f} s")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return asdict(self)


def simulate_review(data: LabeledTexts, spec: ModelSpec, settings: ScoreSettings = ScoreSettings(), *,
                    rate: float = 0.1, kind: str = "class", seeds: int = 5, refit_every: int = REFIT_EVERY,
                    check_every: int = 0, progress: Progress | None = None) -> ReviewSimulation:
    """Run the simulated review on `data` (its labels taken as clean) with the encoder of `spec`."""
    check_benchmark(data, settings, rate, kind, seeds)
    if refit_every < 1:
        raise ScoringError(f"--refit-every must be at least 1 decision (got {refit_every})")
    if check_every < 0 or check_every == 1:
        raise ScoringError(f"--check-every must be 0 (no checks) or at least 2 decisions (got {check_every})")
    if 2 * round(rate * len(data)) > len(data):
        raise ScoringError(f"a review of 2k decisions needs a noise rate of at most 0.5 (got {rate})")
    if resolve_model(spec).kind != "encoder":
        raise ScoringError("the simulated review refits an encoder's heads; give an encoder (e.g. bundled:minilm)")
    bench = noisy_benchmark(data, spec, settings, kind, progress)
    result = ReviewSimulation(data.name, len(data), rate, kind, list(range(seeds)), refit_every, check_every)
    for seed in result.seeds:
        noisy, flipped = bench.flips(data, rate, kind, seed)
        tiebreak = np.random.default_rng([seed, 1]).permutation(len(data))
        inputs = RerankInputs(bench.inputs, noisy, tuple(data.label_names), settings.folds, settings.seed + seed)
        first = rerank(inputs, trusted_labels(np.zeros(0, dtype=np.int64), data.labels, noisy)).probs
        refit = _refitter(inputs, data.labels, noisy, tiebreak, result)
        for walk, refitter in (("static", None), ("re-ranked", refit)):
            figures = walk_queue(first, noisy, flipped, tiebreak, refitter, refit_every, check_every,
                                 np.random.default_rng([seed, 2]))
            for metric, value in figures.items():
                result.runs.setdefault(walk, {m: [] for m in METRICS})[metric].append(value)
        if progress is not None:
            progress(seed + 1, seeds)
    return result


def _refitter(inputs: RerankInputs, clean: np.ndarray, noisy: np.ndarray, tiebreak: np.ndarray,
              result: ReviewSimulation) -> Callable[[np.ndarray], np.ndarray]:
    """refit(reviewed rows) -> (N, K) probabilities refitted on the simulated reviewer's decisions,
    each refit's times appended to `result`."""
    def refit(reviewed: np.ndarray) -> np.ndarray:
        refitted = rerank(inputs, trusted_labels(reviewed, clean, noisy), tiebreak)
        result.refit_seconds.append(refitted.seconds)
        result.refit_cpu_seconds.append(refitted.cpu_seconds)
        return refitted.probs

    return refit


def trusted_labels(reviewed: np.ndarray, clean: np.ndarray, noisy: np.ndarray) -> TrustedLabels:
    """The simulated reviewer's decisions on the `reviewed` rows: each relabeled to its clean label
    where it was flipped, confirmed elsewhere."""
    reviewed = np.asarray(reviewed, dtype=np.int64)
    flipped = clean[reviewed] != noisy[reviewed]
    return TrustedLabels(reviewed, np.asarray(clean, dtype=np.int64)[reviewed],
                         np.where(flipped, "relabeled", "confirmed"))


def walk_queue(probs: np.ndarray, noisy: np.ndarray, flipped: np.ndarray, tiebreak: np.ndarray,
               refit: Callable[[np.ndarray], np.ndarray] | None = None,
               refit_every: int = REFIT_EVERY, check_every: int = 0,
               rng: np.random.Generator | None = None) -> dict[str, float]:
    """Decide the top undecided row 2k times (k = flipped.sum()) from the order of `probs` (N, K)
    by loss against `noisy` (ties by `tiebreak`); every `refit_every` decisions, refit(reviewed
    rows in order) gives new (N, K) probabilities and the undecided rows are ordered again; with
    check_every N > 0, every Nth decision is a check drawn by `rng` (draw_checks) instead. The
    figures of METRICS (see the module docstring)."""
    n, k = len(noisy), int(flipped.sum())
    steps = min(2 * k, n)
    checkpoints = {name: max(1, round(share * k)) for name, share in CHECKPOINTS.items()}
    decided = np.zeros(n, dtype=bool)
    reviewed: list[int] = []
    order, cursor = undecided_order(per_example_loss(probs, noisy), decided, tiebreak), 0
    figures: dict[str, float] = {}
    while len(reviewed) < steps:
        if check_every and (len(reviewed) + 1) % check_every == 0:
            done = np.array(reviewed, dtype=np.int64)
            row = int(draw_checks(calibrate_verdicts(probs, noisy, done, flipped[done]), ~decided, 1, rng)[0])
        else:
            while decided[order[cursor]]:        # a row decided as a check
                cursor += 1
            row = int(order[cursor])
            cursor += 1
        reviewed.append(row)
        decided[row] = True
        if refit is not None and len(reviewed) % refit_every == 0 and len(reviewed) < steps:
            probs = refit(np.array(reviewed, dtype=np.int64))
            order, cursor = undecided_order(per_example_loss(probs, noisy), decided, tiebreak), 0
        for checkpoint in (name for name, step in checkpoints.items() if step == len(reviewed)):
            upcoming = order[cursor:]
            figures.update(_estimate_figures(checkpoint, probs, noisy, flipped, decided, np.array(reviewed),
                                             upcoming[~decided[upcoming]]))
    hits = flipped[np.array(reviewed, dtype=np.int64)]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    ordered = {"R@k": float(hits[:k].sum() / k), "R@2k": float(hits.sum() / k),
               "AP@2k": float((precision_at * hits).sum() / k)}
    return {**ordered, **{m: figures[m] for m in METRICS if m in figures}}


def _estimate_figures(checkpoint: str, probs: np.ndarray, noisy: np.ndarray, flipped: np.ndarray,
                      decided: np.ndarray, reviewed: np.ndarray, queue: np.ndarray) -> dict[str, float]:
    """The errors-left estimate's relative error at `checkpoint` (and, at k/2, its coverage)."""
    truth = int(flipped[~decided].sum())
    estimate = estimate_errors_left(probs, noisy, reviewed, flipped[reviewed], ~decided, queue)
    figures = {f"left err @{checkpoint}": (estimate.expected - truth) / truth if truth else float("nan")}
    if checkpoint == "k/2":
        figures["covered @k/2"] = float(estimate.interval[0] <= truth <= estimate.interval[1])
    return figures
