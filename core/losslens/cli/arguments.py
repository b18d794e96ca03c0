"""The options every command shares: dataset and columns, model and settings, Ray engine; the
one-line argparse and the stderr progress bar."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

from losslens.errors import ScoringError, one_line
from losslens.scoring.heads import HEAD_CHOICES
from losslens.scoring.models import DEVICES, PRECISIONS, ModelSpec
from losslens.scoring.request import ScoreRequest, ScoreSettings
from losslens.scoring.scores import QUALITY_METHODS
from losslens.sources.datasets import ColumnMapping, DatasetSource


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (and exit code 2), like every other error;
    `losslens COMMAND --help` shows the usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"losslens: error: {one_line(message)} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


MAX_SEEDS = 1_000         # repeated runs of evaluate / simulate: result arrays grow with them
MAX_ROUNDS = 10_000       # simulation rounds
MAX_EXAMPLES = 10**9      # a number of examples or annotations: more than any file LossLens reads holds


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`; anything else is argparse's one-line
    error (so no value reaches code that overflows on it, like a port past 65535 or 10**30 seeds)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low:,} to {high:,} (got {text[:40]})")
        return value

    return parse


class StderrProgress:
    """A one-line progress bar on stderr: `scoring [#####-----] 1200/2225 95.3/s`. The rate (units
    per second) counts from the first call, so units resumed from a cache do not inflate it, and is
    left out until some work was timed."""

    def __init__(self, label: str = "scoring", width: int = 30) -> None:
        self.label, self.width = label, width
        self.first: tuple[float, int] | None = None   # (time, done) of the first call

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        self.first = self.first or (now, done)
        filled = int(self.width * done / max(total, 1))
        seconds, worked = now - self.first[0], done - self.first[1]
        rate = f" {worked / seconds:.1f}/s" if seconds > 0 and worked > 0 else ""
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\n" if done >= total else ""
        print(f"\r{self.label} [{bar}] {done}/{total}{rate}", end=end, file=sys.stderr, flush=True)


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


def columns_from_args(args: argparse.Namespace) -> ColumnMapping | None:
    """The column options as a ColumnMapping; None when none was given (the loader's defaults)."""
    if not any([args.text_col, args.label_col, args.id_col, args.text_col2]):
        return None
    defaults = ColumnMapping()
    return ColumnMapping(text=args.text_col or defaults.text, label=args.label_col or defaults.label,
                         id=args.id_col, text2=args.text_col2)


def request_from_args(args: argparse.Namespace) -> ScoreRequest:
    """The ScoreRequest that `score`, `export` and `evaluate` run (its settings are checked once,
    by the run, before anything is loaded)."""
    columns = columns_from_args(args)
    settings = ScoreSettings(batch_size=args.batch_size, max_tokens=args.max_tokens, max_length=args.max_length,
                             folds=args.folds, quality_method=args.quality, head=args.head)
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
