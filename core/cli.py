"""`losslens score | export | simulate | app` — the same core the web app uses.

Bad input exits with code 2 and one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from losslens.activelab.annotations import FORMATS, AnnotationError, load_annotations, simulated_crowd
from losslens.activelab.results import SimulationError, SimulationSettings
from losslens.activelab.simulation import fitted_settings, simulate
from losslens.data import ColumnMapping, DataError, LabeledTexts, load_dataset_source
from losslens.export import ExportError, build_corrected_frame, check_export_path, write_export
from losslens.models import ModelError, ModelSpec
from losslens.pipeline import ScoreSettings, ScoredResults, score_dataset
from losslens.scoring import QUALITY_METHODS, ScoringError

USER_ERRORS = (DataError, ModelError, ScoringError, ExportError, FileNotFoundError, PermissionError)
APP_PATH = Path(__file__).resolve().parent.parent / "app.py"
# Streamlit treats a folder named pages/ beside the entry script as a legacy multipage app
# until some session has run app.py's st.navigation; a bookmarked /review opened first after a
# restart would then run pages/review.py without app.py. Starting the server with the legacy
# mode already off makes every URL go through app.py.
SERVE_STREAMLIT = (
    "import sys; from streamlit.runtime.pages_manager import PagesManager; "
    "PagesManager.uses_pages_directory = False; from streamlit.web.cli import main; "
    "sys.argv[0] = 'streamlit'; sys.exit(main())"
)


class StderrProgress:
    """A one-line progress bar on stderr: `scoring [#####-----] 1200/2225 95.3/s`."""

    def __init__(self, label: str = "scoring", width: int = 30) -> None:
        self.label, self.width = label, width
        self.started = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        filled = int(self.width * done / max(total, 1))
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\n" if done >= total else ""
        print(f"\r{self.label} [{bar}] {done}/{total} {rate:.1f}/s", end=end, file=sys.stderr, flush=True)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """DATASET plus column/model options shared by `score` and `export`."""
    parser.add_argument("dataset", nargs="?", default="demo:bbc",
                        help="demo:bbc (default), a CSV/TSV/Parquet/JSONL file, a save_to_disk folder, or hf:NAME[:CONFIG]")
    parser.add_argument("--text-col", default=None, help="text column (default: text)")
    parser.add_argument("--text-col2", default=None, help="second text column joined to the first (e.g. description)")
    parser.add_argument("--label-col", default=None, help="label column (default: label)")
    parser.add_argument("--id-col", default=None, help="id column (default: row number)")
    parser.add_argument("--drop-empty", action="store_true", help="drop rows whose text is empty instead of refusing")
    parser.add_argument("--split", default="train", help="split of an hf: dataset or save_to_disk folder")
    parser.add_argument("--model", default="bundled:minilm", help="bundled:minilm (default), a Hub id or a local folder")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "int8"])
    parser.add_argument("--batch-size", type=int, default=128, help="most texts per batch")
    parser.add_argument("--max-tokens", type=int, default=8192,
                        help="most padded tokens per batch (long texts get smaller batches)")
    parser.add_argument("--max-length", type=int, default=256, help="tokens per text; longer texts are truncated")
    parser.add_argument("--folds", type=int, default=5, help="K for the out-of-sample head of an encoder")
    parser.add_argument("--quality", default="self_confidence", choices=list(QUALITY_METHODS),
                        help="cleanlab label-quality method")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="losslens", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    score = commands.add_parser("score", help="score a dataset and write the results table")
    add_data_arguments(score)
    score.add_argument("--out", type=Path, help="results table, .parquet or .csv")

    export = commands.add_parser("export", help="write the corrected dataset with reviewer decisions")
    add_data_arguments(export)
    export.add_argument("--out", type=Path, required=True, help="corrected file, .csv or .parquet")
    export.add_argument("--changed-only", action="store_true", help="only rows with a reviewer decision (relabeled, confirmed, ambiguous, removed)")
    export.add_argument("--drop-removed", action="store_true", help="leave out rows marked Remove")
    export.add_argument("--labels", choices=["names", "ints"], default="names")

    add_simulate_arguments(commands.add_parser("simulate", help="ActiveLab vs random selection"))

    app = commands.add_parser("app", help="start the web app")
    app.add_argument("--port", type=int, default=8501)
    app.add_argument("--address", default="127.0.0.1", help="bind address (default: localhost only)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "score":
            return score_command(args)
        if args.command == "export":
            return export_command(args)
        if args.command == "simulate":
            return simulate_command(args)
        return app_command(args)
    except USER_ERRORS as error:
        print(f"losslens: error: {error}", file=sys.stderr)
        return 2


def score_from_args(args: argparse.Namespace) -> tuple[LabeledTexts, ScoredResults]:
    """Load the dataset named by `args` and score it (cache hit when nothing changed)."""
    defaults = ColumnMapping()
    columns = ColumnMapping(
        text=args.text_col or defaults.text,
        label=args.label_col or defaults.label,
        id=args.id_col,
        text2=args.text_col2,
    )
    explicit = any([args.text_col, args.label_col, args.id_col, args.text_col2])
    data = load_dataset_source(args.dataset, columns=columns if explicit else None, split=args.split,
                               drop_empty=args.drop_empty)
    spec = ModelSpec(name=args.model, device=args.device, precision=args.precision)
    settings = ScoreSettings(
        batch_size=args.batch_size, max_tokens=args.max_tokens, max_length=args.max_length, folds=args.folds,
        quality_method=args.quality,
    )
    return data, score_dataset(data, spec, settings, progress=StderrProgress())


def score_command(args: argparse.Namespace) -> int:
    if args.out:
        check_export_path(args.out)
    _, results = score_from_args(args)
    if args.out:
        write_export(results.table, args.out)
    print(
        f"rows={len(results.table)} accuracy={results.accuracy:.4f} issues={results.n_issues} "
        f"seconds={results.seconds:.2f} cache={'hit' if results.from_cache else 'miss'} "
        f"probabilities={'out-of-sample' if results.out_of_sample else 'in-sample'} "
        f"truncated={results.n_truncated}"
        + (f" out={args.out}" if args.out else "")
    )
    return 0


def export_command(args: argparse.Namespace) -> int:
    from losslens.store import DecisionStore

    check_export_path(args.out)
    data, results = score_from_args(args)
    decisions = DecisionStore().current(data.source_key)
    frame = build_corrected_frame(
        data.frame, data.ids, data.labels, data.label_names, results.table, decisions,
        labels_as=args.labels, changed_only=args.changed_only, drop_removed=args.drop_removed,
    )
    write_export(frame, args.out)
    print(f"rows={len(frame)} decisions={len(decisions)} out={args.out}")
    return 0


SIZE_OPTIONS = ("rounds", "batch", "seeds", "initial", "pool", "test", "folds", "max_annotations")


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `losslens simulate` (defaults: the published protocol, shrunk to fit small data)."""
    parser.add_argument("--annotations", type=Path, default=None,
                        help="multi-annotator file (CSV/TSV/Parquet/JSONL); omitted: simulated annotators on --dataset")
    parser.add_argument("--format", default="auto", choices=list(FORMATS),
                        help="wide (column per annotator), long (id, annotator, label), politeness (Stanford CSV)")
    parser.add_argument("--dataset", default="demo:bbc", help="dataset for simulated annotators (no --annotations)")
    defaults = SimulationSettings()
    for name in SIZE_OPTIONS:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=None,
                            help=f"default {getattr(defaults, name)}")
    parser.add_argument("--model", default="bundled:minilm",
                        help="encoder whose embeddings feed the head (or the model to fine-tune)")
    parser.add_argument("--classifier", choices=["head", "finetune"], default="head",
                        help="head: logistic regression on cached embeddings (fast on CPU); "
                             "finetune: fine-tune --model every round (the tutorial's setting; use a GPU)")
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write the raw results as JSON")
    parser.add_argument("--no-cache", action="store_true", help="recompute even if a saved result exists")


def simulate_command(args: argparse.Namespace) -> int:
    """Run the simulation described by `args`; print the table; 0 on success, 2 on bad input."""
    try:
        if args.annotations is not None:
            data = load_annotations(args.annotations, args.format)
        else:
            data = simulated_crowd(load_dataset_source(args.dataset))
            print("annotators are SIMULATED (20 annotators, error rates 5%..40%) on "
                  f"{args.dataset}", file=sys.stderr)
        overrides = {n: getattr(args, n) for n in SIZE_OPTIONS if getattr(args, n) is not None}
        settings = fitted_settings(data, **overrides)
        settings.check()
        result = simulate(data, settings, model=args.model, classifier=_classifier(args, data),
                          progress=StderrProgress("embedding + simulating"),
                          use_cache=not args.no_cache, simulated_annotators=args.annotations is None)
        if args.out is not None:
            args.out.write_text(json.dumps(result.to_json(), indent=1))
    except (AnnotationError, SimulationError, DataError, ModelError, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"losslens simulate: error: {message}", file=sys.stderr)
        return 2
    print(f"{len(data)} examples, {data.n_annotations} annotations, {len(data.annotators)} annotators; "
          f"{settings.seeds} seeds x {settings.rounds} rounds x {settings.batch} annotations"
          f"{' (cached)' if result.from_cache else ''}")
    print(result.format_table())
    return 0


def _classifier(args: argparse.Namespace, data):
    """None (the default head) or a FineTunedTransformer over the annotated texts."""
    if args.classifier == "head":
        return None
    from losslens.finetune import FineTunedTransformer

    if data.texts is None:
        raise SimulationError("--classifier finetune needs a text column in the annotation file")
    return FineTunedTransformer(tuple(str(t) for t in data.texts), model=args.model, epochs=args.finetune_epochs)


def app_command(args: argparse.Namespace) -> int:
    command = [
        sys.executable, "-c", SERVE_STREAMLIT, "run", str(APP_PATH),
        f"--server.port={args.port}", f"--server.address={args.address}",
        "--browser.gatherUsageStats=false",
    ]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
