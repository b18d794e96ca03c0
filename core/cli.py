"""`losslens score | export | simulate | app` — the same use cases the web app runs.

Bad input exits with code 2 and one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from losslens import config
from losslens.access import is_loopback, read_secrets
from losslens.activelab.annotations import FORMATS, load_annotations, simulated_crowd
from losslens.activelab.results import SimulationSettings
from losslens.activelab.simulation import fitted_settings, simulate
from losslens.data import ColumnMapping, DatasetSource, load_dataset
from losslens.decisions import bind_decisions
from losslens.errors import ConfigError, LossLensError, ScoringError, SimulationError, StoreError, one_line
from losslens.evaluation import NOISE_KINDS
from losslens.export import check_export_path, corrected_frame, neutralise_formulas, push_to_hub, write_export
from losslens.heads import HEAD_CHOICES
from losslens.models import DEVICES, PRECISIONS, ModelSpec
from losslens.pipeline import ScoreRequest, ScoreSettings, score
from losslens.scoring import QUALITY_METHODS

if TYPE_CHECKING:
    from losslens.ray_engine import RayEngine

# Streamlit treats a folder named pages/ beside the entry script as a legacy multipage app until
# some session has run app.py's st.navigation; a bookmarked /review opened first after a restart
# would then run pages/review.py without app.py. Starting the server with that mode already off
# makes every URL go through app.py. This is the one place that patch lives.
SERVE_STREAMLIT = (
    "import sys; from streamlit.runtime.pages_manager import PagesManager; "
    "PagesManager.uses_pages_directory = False; from streamlit.web.cli import main; "
    "sys.argv[0] = 'streamlit'; sys.exit(main())"
)
SIZE_OPTIONS = ("rounds", "batch", "seeds", "initial", "pool", "test", "folds", "max_annotations")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (and exit code 2), like every other error;
    `losslens COMMAND --help` shows the usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"losslens: error: {one_line(message)} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


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


def add_dataset_arguments(parser: argparse.ArgumentParser, option: str | None = None) -> None:
    """DATASET (positional, or the option `option`) and its split, name and column options."""
    where = ("demo:bbc (default)" if option is None else "demo:bbc") + (
        ", a CSV/TSV/Parquet/JSONL file, a save_to_disk folder, or hf:NAME[:CONFIG]")
    if option is None:
        parser.add_argument("dataset", nargs="?", default="demo:bbc", help=where)
    else:
        parser.add_argument(option, dest="dataset", default=None, help=where)
    parser.add_argument("--split", default="train", help="split of an hf: dataset or save_to_disk folder")
    parser.add_argument("--name", default=None,
                        help="the dataset's name, which groups its review decisions (default: the file's "
                             "name, the demo's, or the Hub name + split)")
    parser.add_argument("--text-col", default=None, help="text column (default: text)")
    parser.add_argument("--text-col2", default=None, help="second text column joined to the first (e.g. description)")
    parser.add_argument("--label-col", default=None, help="label column (default: label)")
    parser.add_argument("--id-col", default=None, help="id column (default: ids derived from the texts)")
    parser.add_argument("--drop-empty", action="store_true", help="drop rows whose text is empty instead of refusing")


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    """DATASET plus the column, model and settings options shared by `score`, `export` and `evaluate`."""
    defaults = ScoreSettings()
    add_dataset_arguments(parser)
    parser.add_argument("--model", default="bundled:minilm", help="bundled:minilm (default), a Hub id or a local folder")
    parser.add_argument("--device", default="auto", choices=list(DEVICES))
    parser.add_argument("--precision", default="auto", choices=list(PRECISIONS))
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="most texts per batch")
    parser.add_argument("--max-tokens", type=int, default=defaults.max_tokens,
                        help="most padded tokens per batch (long texts get smaller batches)")
    parser.add_argument("--max-length", type=int, default=defaults.max_length,
                        help="tokens per text; longer texts are truncated")
    parser.add_argument("--folds", type=int, default=defaults.folds, help="K for the out-of-sample head of an encoder")
    parser.add_argument("--quality", default=defaults.quality_method, choices=list(QUALITY_METHODS),
                        help="cleanlab label-quality method")
    parser.add_argument("--head", default=defaults.head, choices=list(HEAD_CHOICES),
                        help="an encoder's out-of-sample head: ensemble (embedding + TF-IDF + kNN, the CPU "
                             "default), embedding, or finetune (the encoder fine-tuned per fold; the default "
                             "with a CUDA GPU); auto picks")
    parser.add_argument("--label-map", default=None, metavar="MODEL=DATASET,...",
                        help="for a classifier whose labels differ from the dataset's: each model label "
                             "and the dataset label it means")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """--engine and the Ray options of `score` (None when not given, so --engine local can refuse them)."""
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="where the model runs: this process (default), or workers of a Ray cluster "
                             "(pip install 'losslens[ray]'); both write the same cache entry")
    parser.add_argument("--address", default=None,
                        help="(ray) an existing cluster's host:port, or auto; default: a local cluster for this run")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="(ray) workers, each loading the model once (default 1)")
    parser.add_argument("--num-cpus", type=float, default=None,
                        help="(ray) CPUs each worker reserves, and its torch threads (default 1)")
    parser.add_argument("--num-gpus", type=float, default=None,
                        help="(ray) GPUs each worker reserves (default 0; 1: a GPU per worker)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="losslens", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    score_parser = commands.add_parser("score", help="score a dataset and write the results table")
    add_request_arguments(score_parser)
    score_parser.add_argument("--out", type=Path, help="results table, .parquet or .csv")
    add_engine_arguments(score_parser)

    export = commands.add_parser("export", help="write the corrected dataset with reviewer decisions")
    add_request_arguments(export)
    export.add_argument("--out", type=Path, required=True,
                        help="corrected file, .csv or .parquet; a name without an extension: a Hugging Face "
                             "save_to_disk folder (corrected_label as a ClassLabel)")
    export.add_argument("--changed-only", action="store_true",
                        help="only rows with a reviewer decision (relabeled, confirmed, ambiguous, removed)")
    export.add_argument("--drop-removed", action="store_true", help="leave out rows marked Remove")
    export.add_argument("--drop-ambiguous", action="store_true", help="leave out rows marked Ambiguous")
    export.add_argument("--labels", choices=["names", "ints"], default="names")
    export.add_argument("--raw", action="store_true",
                        help="write CSV cells exactly as they are, even ones a spreadsheet would run as formulas "
                             "(by default those starting with = + - @ tab or CR get a leading ')")
    export.add_argument("--consensus", action="store_true",
                        help="add consensus_label and consensus_quality: CROWDLAB's consensus of the reviewers")
    export.add_argument("--push-to-hub", metavar="ORG/NAME", default=None,
                        help="also push the corrected dataset to the Hub (private; needs a token and the network)")

    evaluate_parser = commands.add_parser("evaluate", help="detection benchmark: flip labels, score, measure")
    add_request_arguments(evaluate_parser)
    evaluate_parser.add_argument("--noise", type=float, default=0.05, help="fraction of labels to flip (default 0.05)")
    evaluate_parser.add_argument("--kind", choices=list(NOISE_KINDS), default="uniform",
                                 help="uniform flips, or class-conditional ones that follow the model's confusions")
    evaluate_parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    evaluate_parser.add_argument("--out", type=Path, default=None, help="write every figure as JSON")

    add_simulate_arguments(commands.add_parser("simulate", help="ActiveLab vs random selection"))

    decisions = commands.add_parser("decisions", help="the decision store: export, import, restore a backup")
    decision_commands = decisions.add_subparsers(dest="action", required=True)
    restore_parser = decision_commands.add_parser(
        "restore", help="after a damaged store was moved aside: bring back its latest automatic backup")
    restore_parser.add_argument("--empty", action="store_true", help="start a new, empty store instead")
    export_history_parser = decision_commands.add_parser(
        "export", help="write the store's whole history (undone rows too) as .csv or .parquet")
    export_history_parser.add_argument("out", type=Path, help="history file, .parquet (exact) or .csv")
    export_history_parser.add_argument("--dataset", default=None, help="only this dataset's decisions (its name)")
    export_history_parser.add_argument("--raw", action="store_true",
                                       help="CSV cells exactly as stored (by default formula-like cells get a ')")
    import_parser = decision_commands.add_parser(
        "import", help="add the decisions of a history export, or of a file of decisions made elsewhere "
                       "(id, new_label/status, reviewer, decided_at, note); importing twice adds nothing")
    import_parser.add_argument("file", type=Path, help="CSV/TSV/Parquet/JSONL file of decisions")
    add_dataset_arguments(import_parser, "--data")
    import_parser.add_argument("--reviewer", default="imported", help="reviewer of rows without one")

    app = commands.add_parser("app", help="start the web app")
    app.add_argument("--port", type=int, default=8501)
    app.add_argument("--address", default="127.0.0.1",
                     help="bind address (default: localhost only; any other needs sign-in or --no-sign-in)")
    app.add_argument("--secrets", type=Path, default=None,
                     help="Streamlit secrets file; its [auth] table turns on sign-in (default: "
                          ".streamlit/secrets.toml in the current folder, if there is one)")
    app.add_argument("--no-sign-in", action="store_true",
                     help="serve another address without sign-in (behind your own authenticating proxy)")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:   # --help, or a bad option already reported in one line
        return int(done.code or 0)
    commands = {"score": score_command, "export": export_command, "evaluate": evaluate_command,
                "simulate": simulate_command, "decisions": decisions_command, "app": app_command}
    try:
        return commands[args.command](args)
    except LossLensError as error:
        return _fail(str(error))
    except OSError as error:  # a file the user named cannot be read or written
        where = f" ({error.filename})" if error.filename else ""
        return _fail(f"{error.strerror or error}{where}")


def _fail(message: str) -> int:
    print(f"losslens: error: {one_line(message)}", file=sys.stderr)
    return 2


def columns_from_args(args: argparse.Namespace) -> ColumnMapping | None:
    """The column options as a ColumnMapping; None when none was given (the loader's defaults)."""
    if not any([args.text_col, args.label_col, args.id_col, args.text_col2]):
        return None
    defaults = ColumnMapping()
    return ColumnMapping(text=args.text_col or defaults.text, label=args.label_col or defaults.label,
                         id=args.id_col, text2=args.text_col2)


def request_from_args(args: argparse.Namespace) -> ScoreRequest:
    """The ScoreRequest that `score` and `export` run (validated before anything is loaded)."""
    columns = columns_from_args(args)
    settings = ScoreSettings(batch_size=args.batch_size, max_tokens=args.max_tokens, max_length=args.max_length,
                             folds=args.folds, quality_method=args.quality, head=args.head)
    settings.check()
    return ScoreRequest(source=DatasetSource.parse(args.dataset, split=args.split), columns=columns,
                        drop_empty=args.drop_empty, name=args.name,
                        model=ModelSpec(name=args.model, device=args.device, precision=args.precision),
                        settings=settings, label_map=parse_label_map(args.label_map))


def parse_label_map(text: str | None) -> tuple[tuple[str, str], ...]:
    """"neg=negative,pos=positive" -> (("neg", "negative"), ("pos", "positive"))."""
    if not text:
        return ()
    pairs = []
    for item in text.split(","):
        model_label, sep, dataset_label = item.partition("=")
        if not sep or not model_label.strip() or not dataset_label.strip():
            raise ScoringError(f"--label-map takes MODEL=DATASET pairs separated by commas, not {item[:40]!r}")
        pairs.append((model_label.strip(), dataset_label.strip()))
    return tuple(pairs)


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
    from losslens.ray_engine import RayEngine

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
    from losslens.store import DecisionStore

    check_export_path(args.out)
    data, results = score(request_from_args(args), StderrProgress())
    store = DecisionStore()
    bound = bind_decisions(data, store.current(data.name))
    consensus = None
    if args.consensus:
        from losslens.activelab.crowd import reviewer_consensus

        found = reviewer_consensus(data, results.probs(),
                                   bind_decisions(data, store.current(data.name, True), per_reviewer=True).applied)
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
    """Flip labels, score, print precision / recall of each ranking (see losslens.evaluation)."""
    from losslens.evaluation import evaluate

    request = request_from_args(args)
    data = load_dataset(request.source, request.columns, drop_empty=request.drop_empty, name=request.name)
    result = evaluate(data, request.model, request.settings, rate=args.noise, kind=args.kind, seeds=args.seeds,
                      progress=StderrProgress("evaluating"))
    if args.out is not None:
        args.out.write_text(json.dumps(result.to_json(), indent=1))
    print(result.table())
    return 0


def decisions_command(args: argparse.Namespace) -> int:
    """`losslens decisions restore [--empty] | export OUT | import FILE [--data DATASET]`, on the
    store of LOSSLENS_DB_URL (else the SQLite file in LOSSLENS_HOME)."""
    from losslens import history_files
    from losslens.backups import restore
    from losslens.store import DecisionStore, store_location

    if args.action == "export":
        check_export_path(args.out, folder_ok=False)
        rows = history_files.export_history(DecisionStore(), args.out, args.dataset, raw=args.raw)
        print(f"rows={rows} out={args.out}")
        return 0
    if args.action == "import":
        data = None
        if args.dataset is not None:
            data = load_dataset(DatasetSource.parse(args.dataset, split=args.split), columns_from_args(args),
                                drop_empty=args.drop_empty, name=args.name)
        decisions = history_files.read_decisions(args.file, data, args.reviewer)
        counts = DecisionStore().import_decisions(decisions)
        print(f"rows={len(decisions)} added={counts.added} already_there={counts.already_there} "
              f"marked_undone={counts.marked_undone}")
        return 0
    _, path = store_location(None)
    if path is None:
        raise StoreError("LOSSLENS_DB_URL names a database server: restore it from that server's backups (pg_dump); "
                         "`losslens decisions restore` restores the SQLite file")
    print(restore(path, empty=args.empty))
    return 0


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
    from losslens.finetune import FineTunedTransformer

    if data.texts is None:
        raise SimulationError("--classifier finetune needs a text column in the annotation file")
    return FineTunedTransformer(tuple(str(t) for t in data.texts), model=args.model, epochs=args.finetune_epochs)


def app_script() -> Path:
    """app.py of the web app: losslens/webapp/app.py in an installed wheel, the checkout's app.py
    (beside core/) in an editable install. pages/ sits beside it either way."""
    package = Path(__file__).resolve().parent
    for app in (package / "webapp" / "app.py", package.parent / "app.py"):
        if app.is_file() and (app.parent / "pages" / "session.py").is_file():
            return app
    raise LossLensError("the web app (app.py + pages/) is not installed with this losslens; reinstall it")


def server_flags(app: Path) -> list[str]:
    """The app's .streamlit/config.toml as command-line flags: Streamlit reads that file from the
    current folder only, and `losslens app` may be started anywhere. The upload limit follows
    LOSSLENS_MAX_UPLOAD_MB, so raising it raises both the uploader's and the reader's cap."""
    settings = tomllib.loads((app.parent / ".streamlit" / "config.toml").read_text())
    settings["server"]["maxUploadSize"] = max(1, config.max_file_bytes() // 2**20)   # one setting for both caps
    return [f"--{section}.{key}={str(value).lower() if isinstance(value, bool) else value}"
            for section, values in settings.items() for key, value in values.items()]


def app_command(args: argparse.Namespace) -> int:
    """Serve the app until it exits; SIGTERM / SIGINT are passed on to the server."""
    config.home()  # a bad LOSSLENS_HOME is reported here, not in the browser
    if args.secrets is not None and not args.secrets.exists():
        raise ConfigError(f"--secrets {args.secrets}: no such file")
    args.secrets = args.secrets or Path(".streamlit") / "secrets.toml"
    secrets = read_secrets(args.secrets)   # a damaged secrets file is reported here too
    if not secrets.sign_in and not is_loopback(args.address) and not args.no_sign_in:
        raise ConfigError(f"refusing to serve {args.address} without sign-in: anyone reaching it could review under "
                          f"any name. Configure [auth] in {args.secrets} (README: Running for a team), or pass "
                          "--no-sign-in behind your own authenticating proxy")
    app = app_script()
    command = [sys.executable, "-c", SERVE_STREAMLIT, "run", str(app), *server_flags(app),
               f"--server.port={args.port}", f"--server.address={args.address}",
               f"--secrets.files={args.secrets.resolve()}"]
    server = subprocess.Popen(command)
    forward = lambda signum, _frame: server.send_signal(signum)  # noqa: E731
    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return server.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
