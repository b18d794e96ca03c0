"""`losslens score | export | evaluate | simulate | decisions | app`: the same use cases the web
app runs, one module per command family (arguments.py holds the options they share).

Bad input exits with code 2 and one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from losslens.cli.app import app_command
from losslens.cli.arguments import (MAX_SEEDS, OneLineParser, add_dataset_arguments, add_engine_arguments,
                                   add_request_arguments, whole_number)
from losslens.cli.decisions import decisions_command
from losslens.cli.score import evaluate_command, export_command, score_command
from losslens.cli.simulate import add_simulate_arguments, simulate_command
from losslens.errors import LossLensError, one_line
from losslens.review.reranking import REFIT_EVERY
from losslens.scoring.evaluation import NOISE_KINDS


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="losslens", description="Find and fix mislabeled examples in a text-classification "
                           "dataset: score, export, evaluate, simulate, decisions, app (the web app).")
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
    evaluate_parser.add_argument("--seeds", type=whole_number(1, MAX_SEEDS), default=5,
                                 help="seeds 0..N-1 (default 5)")
    evaluate_parser.add_argument("--out", type=Path, default=None, help="write every figure as JSON")
    evaluate_parser.add_argument("--simulate-review", action="store_true",
                                 help="a simulated reviewer walks the queue for 2k decisions: the static order vs "
                                      "one re-ranked from the decisions; recall, AP and the errors-left estimate")
    evaluate_parser.add_argument("--refit-every", type=int, default=None, metavar="N",
                                 help=f"(--simulate-review) decisions between refits (default {REFIT_EVERY})")
    evaluate_parser.add_argument("--check-every", type=int, default=None, metavar="N",
                                 help="(--simulate-review) every Nth decision checks an example further down the "
                                      "queue, for the errors-left estimate (default 0: none)")

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
    app.add_argument("--port", type=whole_number(1, 65535), default=8501)
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
