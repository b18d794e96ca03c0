"""`losslens score | export | evaluate`: score a dataset, write the corrected dataset, run the
detection benchmark."""
from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from losslens.cli.arguments import StderrProgress, request_from_args
from losslens.errors import ScoringError
from losslens.export import corrected_frame
from losslens.writers import check_export_path, neutralise_formulas, push_to_hub, write_export
from losslens.review.binding import bind_decisions
from losslens.scoring.pipeline import score
from losslens.sources.datasets import load_dataset

if TYPE_CHECKING:
    from losslens.scoring.ray_engine import RayEngine


def engine_from_args(args: argparse.Namespace) -> RayEngine | None:
    """None for --engine local (the Ray options refused), else the checked RayEngine."""
    options = {"address": args.address, "concurrency": args.concurrency, "num_cpus": args.num_cpus,
               "num_gpus": args.num_gpus}
    given = {name: value for name, value in options.items() if value is not None}
    if args.engine == "local":
        if given:
            names = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ScoringError(f"{names} {'is' if len(given) == 1 else 'are'} only used with --engine ray")
        return None
    from losslens.scoring.ray_engine import RayEngine

    engine = RayEngine(**given)
    engine.check()
    return engine


def score_command(args: argparse.Namespace) -> int:
    if args.out:
        check_export_path(args.out, folder_ok=False)
    _, results = score(request_from_args(args), StderrProgress(), engine=engine_from_args(args))
    if args.out:
        write_export(results.table, args.out)
    print(
        f"rows={len(results.table)} accuracy={results.accuracy:.4f} issues={results.n_issues} "
        f"seconds={results.seconds:.2f} cache={'hit' if results.from_cache else 'miss'} "
        f"probabilities={'out-of-sample' if results.out_of_sample else 'in-sample'} "
        f"truncated={results.n_truncated} heads={'+'.join(results.heads)}"
        + (f" out={args.out}" if args.out else "")
    )
    return 0


def export_command(args: argparse.Namespace) -> int:
    from losslens.store.decisions import DecisionStore

    check_export_path(args.out)
    data, results = score(request_from_args(args), StderrProgress())
    store = DecisionStore()
    bound = bind_decisions(data, store.in_force(data.name))
    consensus = None
    if args.consensus:
        from losslens.activelab.crowd import reviewer_consensus

        found = reviewer_consensus(data, results.probs(),
                                   bind_decisions(data, store.in_force(data.name, True), per_reviewer=True).applied)
        consensus = None if found is None else found.examples
    frame = corrected_frame(data, results.table, bound, labels_as=args.labels, changed_only=args.changed_only,
                            drop_removed=args.drop_removed, drop_ambiguous=args.drop_ambiguous, consensus=consensus)
    write_export(frame, args.out, data.label_names, raw=args.raw)
    hub = f" hub={push_to_hub(frame, data.label_names, args.push_to_hub)}" if args.push_to_hub else ""
    csv = args.out.suffix.lower() == ".csv" and not args.raw
    protected = f" formula_cells_neutralised={neutralise_formulas(frame)[1]}" if csv else ""
    print(f"rows={len(frame)} decisions={len(bound.applied)} stale={len(bound.stale)}{protected} out={args.out}{hub}")
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    """Flip labels, score, print precision / recall of each ranking (see losslens.scoring.evaluation);
    with --simulate-review, the static vs re-ranked review walk (losslens.review.simulated_review)."""
    from losslens.review.reranking import REFIT_EVERY
    from losslens.review.simulated_review import simulate_review
    from losslens.scoring.evaluation import evaluate

    for option, value in (("--refit-every", args.refit_every), ("--check-every", args.check_every)):
        if value is not None and not args.simulate_review:
            raise ScoringError(f"{option} is only used with --simulate-review")
    request = request_from_args(args)
    data = load_dataset(request.source, request.columns, drop_empty=request.drop_empty, name=request.name)
    if args.simulate_review:
        result = simulate_review(data, request.model, request.settings, rate=args.noise, kind=args.kind,
                                 seeds=args.seeds, refit_every=REFIT_EVERY if args.refit_every is None
                                 else args.refit_every, check_every=args.check_every or 0,
                                 progress=StderrProgress("simulating"))
    else:
        result = evaluate(data, request.model, request.settings, rate=args.noise, kind=args.kind, seeds=args.seeds,
                          progress=StderrProgress("evaluating"))
    if args.out is not None:
        args.out.write_text(json.dumps(result.to_json(), indent=1))
    print(result.table())
    return 0
