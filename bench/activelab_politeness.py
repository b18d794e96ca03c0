"""ActiveLab vs random selection on the Stanford Politeness Corpus (Wikipedia part).

Runs the default protocol (100 initial examples x 2 annotations, pool 1,900, test 480 unanimous,
25 rounds x 25 annotations, 5 seeds; both strategies train on majority vote in round 1) with
the default classifier (logistic-regression head on bundled MiniLM embeddings) and prints the
classifier's ceiling, the per-round table and the mean error ratio over rounds 2-9 (the first
rounds in which the selection has acted). Binarisation: a worker's label is polite (1) when
their 1..25 score is > 13.

The published tutorial (fine-tuned DistilBERT) reports about half the error rate of random
selection: 91% vs 76% test accuracy at round 4 (275 annotations).

    python bench/activelab_politeness.py [--rounds 25] [--seeds 5] [--csv PATH] [--compare] [--markers]

--compare also runs the alternative heads tried while choosing the default (same protocol).
--markers appends 23 politeness-strategy indicators (please, thanks, could you, why, ...) to the
embeddings: politeness-specific, so not the library default (README: measured figures).
Not a pass/fail test; nothing is cached (the simulation always runs; the embeddings are
cached by losslens.scoring.features after the first run).
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from losslens.activelab.simulation import embed_annotation_texts, run_simulation  # noqa: E402
from losslens.activelab.heads import LogisticHead  # noqa: E402
from losslens.activelab.results import SimulationSettings  # noqa: E402
from losslens.activelab.annotations import load_annotations  # noqa: E402

CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "politeness" / "wikipedia.annotated.csv"
ALTERNATIVES = {
    "logreg, standardised, C=1": LogisticHead(C=1.0, standardize=True),
    "logreg, standardised, C=0.01": LogisticHead(C=0.01, standardize=True),
    "logreg, raw embeddings, C=10": LogisticHead(C=10.0),
}


# Politeness strategies (after Danescu-Niculescu-Mizil et al., 2013), as case-insensitive regexes.
POLITENESS_MARKERS: tuple[str, ...] = (
    r"\bplease\b", r"\bthanks?\b|\bthank you\b|\bappreciate", r"\bsorry\b|\bapolog",
    r"^\s*(could|would|can|will) you\b", r"\b(could|would) you\b", r"\bcan you\b",
    r"\bi think\b|\bi believe\b|\bi guess\b|\bperhaps\b|\bmaybe\b|\bmight\b",
    r"^\s*(hi|hello|hey|dear)\b", r"\bgreat\b|\bgood\b|\bnice\b|\bawesome\b|\bexcellent\b",
    r"^\s*(why|what)\b", r"\bwhy\b", r"\byou\b", r"^\s*you\b", r"\bi\b|\bmy\b|\bme\b",
    r"\bwe\b|\bour\b|\bus\b", r"\bby the way\b|\bbtw\b", r"\bno\b|\bnot\b|n't\b",
    r"\bactually\b|\breally\b|\bin fact\b|\bobviously\b", r"\?", r"!", r"\bwonder(ing)?\b", r"\bhelp\b",
    r"\bhow about\b|\bwhat about\b",
)


def politeness_markers(texts) -> np.ndarray:
    """(N, 23) float32 0/1: which politeness strategies each text uses."""
    patterns = [re.compile(p, re.IGNORECASE) for p in POLITENESS_MARKERS]
    return np.array([[float(bool(p.search(str(t)))) for p in patterns] for t in texts], dtype=np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=CSV)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--compare", action="store_true", help="also run the alternative heads")
    parser.add_argument("--markers", action="store_true",
                        help="append politeness-strategy indicators to the embeddings")
    args = parser.parse_args()
    if not args.csv.exists():
        print(f"politeness data not found at {args.csv}", file=sys.stderr)
        return 2
    data = load_annotations(args.csv, "politeness")
    print(f"{len(data):,} requests, {data.n_annotations:,} annotations by {len(data.annotators)} workers "
          f"(polite = score > 13)")
    start = time.perf_counter()
    features = embed_annotation_texts(data)
    if args.markers:
        features = np.hstack([features, politeness_markers(data.texts)])
    print(f"embeddings {features.shape} in {time.perf_counter() - start:.1f} s (cached after the first run)")
    settings = SimulationSettings(rounds=args.rounds, seeds=args.seeds)
    heads = {"default": LogisticHead(), **(ALTERNATIVES if args.compare else {})}
    for name, head in heads.items():
        start = time.perf_counter()
        result = run_simulation(data, features, settings, classifier=head, use_cache=False)
        print(f"\n== {name}: {head!r} — {time.perf_counter() - start:.0f} s "
              f"(ActiveLab {result.seconds['activelab']:.0f} s, random {result.seconds['random']:.0f} s); ceiling "
              f"{result.ceiling:.1%} with every annotation (chance {result.chance:.1%})")
        print(result.format_table())
        table = result.round_table()
        if len(table) >= 4:
            row = table.iloc[3]
            print(f"round 4 ({int(row.annotations)} annotations): ActiveLab {100 * row.activelab_mean:.1f}% vs "
                  f"random {100 * row.random_mean:.1f}% (published: 91% vs 76%, ratio ~0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
