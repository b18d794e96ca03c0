"""`losslens simulate`: ActiveLab against random selection on a multi-annotator file or on
simulated annotators."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from losslens.activelab.annotations import FORMATS, load_annotations, simulated_crowd
from losslens.activelab.results import SimulationSettings
from losslens.activelab.simulation import fitted_settings, simulate
from losslens.cli.arguments import MAX_EXAMPLES, MAX_ROUNDS, MAX_SEEDS, StderrProgress, whole_number
from losslens.errors import SimulationError
from losslens.sources.datasets import DatasetSource, load_dataset

SIZE_OPTIONS = ("rounds", "batch", "seeds", "initial", "pool", "test", "folds", "max_annotations")
SIZE_RANGES = {"rounds": (1, MAX_ROUNDS), "seeds": (1, MAX_SEEDS), "pool": (0, MAX_EXAMPLES)}   # others: 1..MAX_EXAMPLES
MAX_EPOCHS = 1_000


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `losslens simulate` (defaults: the published protocol, shrunk to fit small data)."""
    parser.add_argument("--annotations", type=Path, default=None,
                        help="multi-annotator file (CSV/TSV/Parquet/JSONL); omitted: simulated annotators on --dataset")
    parser.add_argument("--format", default="auto", choices=list(FORMATS),
                        help="wide (column per annotator), long (id, annotator, label), politeness (Stanford CSV)")
    parser.add_argument("--classes", default=None, metavar="A,B,...",
                        help="the labels the annotation file may use, in order; any other label is refused")
    parser.add_argument("--dataset", default="demo:bbc", help="dataset for simulated annotators (no --annotations)")
    defaults = SimulationSettings()
    for name in SIZE_OPTIONS:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None,
                            type=whole_number(*SIZE_RANGES.get(name, (1, MAX_EXAMPLES))),
                            help=f"default {getattr(defaults, name)}")
    parser.add_argument("--model", default="bundled:minilm",
                        help="encoder whose embeddings feed the head (or the model to fine-tune)")
    parser.add_argument("--classifier", choices=["head", "finetune"], default="head",
                        help="head: logistic regression on cached embeddings (fast on CPU); "
                             "finetune: fine-tune --model every round (the tutorial's setting; use a GPU)")
    parser.add_argument("--finetune-epochs", type=whole_number(1, MAX_EPOCHS), default=3,
                        help="epochs of each fine-tuning (--classifier finetune; default 3)")
    parser.add_argument("--out", type=Path, default=None, help="write the raw results as JSON")
    parser.add_argument("--no-cache", action="store_true", help="recompute even if a saved result exists")


def simulate_command(args: argparse.Namespace) -> int:
    """Run the simulation described by `args` and print the per-round table."""
    if args.annotations is not None:
        classes = tuple(c.strip() for c in args.classes.split(",") if c.strip()) if args.classes else None
        data = load_annotations(args.annotations, args.format, classes=classes)
    else:
        data = simulated_crowd(load_dataset(DatasetSource.parse(args.dataset)))
        print(f"annotators are SIMULATED (20 annotators, error rates 5%..40%) on {args.dataset}", file=sys.stderr)
    print(f"classes: {', '.join(data.label_names)} · {len(data):,} examples · {data.n_annotations:,} annotations · "
          f"{len(data.annotators):,} annotators", file=sys.stderr)
    overrides = {n: getattr(args, n) for n in SIZE_OPTIONS if getattr(args, n) is not None}
    settings = fitted_settings(data, **overrides)
    settings.check()
    result = simulate(data, settings, model=args.model, classifier=_classifier(args, data),
                      progress=StderrProgress("embedding + simulating"),
                      use_cache=not args.no_cache, simulated_annotators=args.annotations is None)
    if args.out is not None:
        args.out.write_text(json.dumps(result.to_json(), indent=1))
    print(f"{len(data)} examples, {data.n_annotations} annotations, {len(data.annotators)} annotators; "
          f"{settings.seeds} seeds x {settings.rounds} rounds x {settings.batch} annotations"
          f"{' (cached)' if result.from_cache else ''}")
    print(result.format_table())
    return 0


def _classifier(args: argparse.Namespace, data):
    """None (the default head) or a FineTunedTransformer over the annotated texts."""
    if args.classifier == "head":
        return None
    from losslens.scoring.finetune import FineTunedTransformer

    if data.texts is None:
        raise SimulationError("--classifier finetune needs a text column in the annotation file")
    return FineTunedTransformer(tuple(str(t) for t in data.texts), model=args.model, epochs=args.finetune_epochs)
