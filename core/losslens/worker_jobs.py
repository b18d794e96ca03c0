"""The app's heavy work as JobSpecs for worker processes (losslens.workers, run by losslens.jobs):
scoring a request, retraining on the reviewers' decisions, learning from them as the review goes
(re-ranking + errors left), the ActiveLab simulation and evaluate.

Each builder mirrors the call the work stands for and names the function the worker runs
(`run_*(progress, *args)`). Scoring's results travel through the cache: the worker fills it and
the server opens it (`score(request, compute=False)`: a cache hit loads neither torch nor
cleanlab), and a request already scored, like a simulation already run, opens in the server at
once without a worker. Retraining and evaluate send their results back (one table, a few figures).
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd

from losslens import config
from losslens.activelab.annotations import MultiAnnotatorData
from losslens.activelab.results import SimulationResult, SimulationSettings
from losslens.activelab.simulation import cached_simulation, simulate
from losslens.errors import NotScoredError
from losslens.jobs import Progress
from losslens.review.errors_left import ErrorsLeft, estimate_errors_left
from losslens.review.reranking import RerankInputs, Reranking, TrustedLabels, rerank
from losslens.scoring.evaluation import Evaluation, evaluate
from losslens.scoring.models import ModelSpec
from losslens.scoring.pipeline import score
from losslens.scoring.request import ScoreRequest, ScoreSettings
from losslens.scoring.results import ScoredResults
from losslens.scoring.retrain import TrustedAccuracy, rescore_with_decisions
from losslens.sources.datasets import LabeledTexts
from losslens.workers import JobSpec

if TYPE_CHECKING:
    from losslens.scoring.ray_engine import RayEngine


def scoring_job(request: ScoreRequest, compute: bool = True) -> JobSpec:
    """Score `request`; the job's result is score()'s (LabeledTexts, ScoredResults), opened by the
    server from the cache the worker filled (from_cache and seconds are the worker's). A request
    scored before opens at once without a worker; with compute False (a team's reviewer) nothing
    is computed: the job fails with NotScoredError when the request is not scored yet."""
    return JobSpec(run_scoring, (request, compute), cached=scored_in_cache, finish=open_scored)


def run_scoring(progress: Progress, request: ScoreRequest, compute: bool) -> tuple[bool, float]:
    """In the worker: score `request` into the cache (on the Ray cluster of $LOSSLENS_RAY_ADDRESS
    when set); (from_cache, seconds) of the run."""
    _, results = score(request, progress, compute, engine=scoring_engine())
    return results.from_cache, results.seconds


def scored_in_cache(request: ScoreRequest, compute: bool) -> tuple[LabeledTexts, ScoredResults] | None:
    """In the server: score()'s result when the cache holds it; else None (the worker scores), or
    NotScoredError when compute is False."""
    try:
        return score(request, compute=False)
    except NotScoredError:
        if compute:
            return None
        raise


def open_scored(run: tuple[bool, float], request: ScoreRequest, compute: bool) -> tuple[LabeledTexts, ScoredResults]:
    """In the server, after the worker: the results it left in the cache, with its (from_cache, seconds)."""
    data, results = score(request, compute=False)
    from_cache, seconds = run
    return data, replace(results, from_cache=from_cache, seconds=seconds)


def scoring_engine() -> RayEngine | None:
    """The engine that runs the model: a RayEngine on $LOSSLENS_RAY_ADDRESS when it is set (as
    `losslens score --engine ray --address`), else None (this process runs it)."""
    address = config.ray_address()
    if address is None:
        return None
    from losslens.scoring.ray_engine import RayEngine

    engine = RayEngine(address=address)
    engine.check()
    return engine


def retraining_job(data: LabeledTexts, spec: ModelSpec, settings: ScoreSettings, results: ScoredResults,
                   applied: pd.DataFrame) -> JobSpec:
    """rescore_with_decisions(data, spec, settings, results, applied) in a worker; the job's result
    is its (ScoredResults, TrustedAccuracy)."""
    return JobSpec(run_retraining, (data, spec, settings, results, applied))


def run_retraining(progress: Progress, data: LabeledTexts, spec: ModelSpec, settings: ScoreSettings,
                   results: ScoredResults, applied: pd.DataFrame) -> tuple[ScoredResults, TrustedAccuracy]:
    return rescore_with_decisions(data, spec, settings, results, applied)


def simulation_job(data: MultiAnnotatorData, settings: SimulationSettings, simulated_annotators: bool = False,
                   model: str = "bundled:minilm") -> JobSpec:
    """simulate(data, settings, ...) in a worker; a simulation run before opens at once without one."""
    return JobSpec(run_simulation, (data, settings, simulated_annotators, model), cached=simulated_in_cache)


def run_simulation(progress: Progress, data: MultiAnnotatorData, settings: SimulationSettings,
                   simulated_annotators: bool, model: str) -> SimulationResult:
    return simulate(data, settings, model=model, progress=progress, simulated_annotators=simulated_annotators)


def simulated_in_cache(data: MultiAnnotatorData, settings: SimulationSettings, simulated_annotators: bool,
                       model: str) -> SimulationResult | None:
    return cached_simulation(data, settings, model=model)


def evaluation_job(data: LabeledTexts, spec: ModelSpec, settings: ScoreSettings = ScoreSettings(), *,
                   rate: float = 0.05, kind: str = "uniform", seeds: int = 5) -> JobSpec:
    """evaluate(data, spec, settings, rate=, kind=, seeds=) in a worker; the job's result is its Evaluation."""
    return JobSpec(run_evaluation, (data, spec, settings, rate, kind, seeds))


def run_evaluation(progress: Progress, data: LabeledTexts, spec: ModelSpec, settings: ScoreSettings, rate: float,
                   kind: str, seeds: int) -> Evaluation:
    return evaluate(data, spec, settings, rate=rate, kind=kind, seeds=seeds, progress=progress)


CHECKS = 10
"""Rows drawn further down the queue with each refit, for "Check 10 further down"."""


def relearning_job(inputs: RerankInputs, trusted: TrustedLabels) -> JobSpec:
    """Learn from the decisions in a worker: the cheap heads refitted on the trusted labels
    (losslens.review.reranking.rerank) and the errors left among the undecided examples in the new
    order (losslens.review.errors_left) with CHECKS rows drawn further down to check; the job's
    result is (Reranking, ErrorsLeft)."""
    return JobSpec(run_relearning, (inputs, trusted))


def run_relearning(progress: Progress, inputs: RerankInputs, trusted: TrustedLabels) -> tuple[Reranking, ErrorsLeft]:
    reranking = rerank(inputs, trusted)
    verdict_positions, verdict_errors = trusted.verdicts(inputs.labels)
    undecided = ~trusted.decided(len(inputs.labels))
    left = estimate_errors_left(reranking.probs, inputs.labels, verdict_positions, verdict_errors, undecided,
                                reranking.order, checks=CHECKS)
    return reranking, left
