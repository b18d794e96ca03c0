"""Re-ranking cost at scale: one refit from 500 decisions on synthetic embeddings.

10,000 rows: the full ensemble (embedding + TF-IDF on synthetic 8-word texts + kNN vote), every
row trained on. 1,000,000 rows: the embedding head alone (no texts; no neighbour graph above
losslens.scoring.neighbours.EXACT_KNN_LIMIT), trained on MAX_TRAIN_ROWS rows and predicting
all. Prints wall and CPU seconds of the refit (single-threaded by design) and peak memory.
Figures only, no assertions.

    python bench/rerank_scale.py [--rows 10000 1000000] [--dim 384]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from losslens.review.reranking import RerankInputs, TrustedLabels, rerank
from losslens.scoring.heads import HeadInputs
from losslens.scoring.neighbours import EXACT_KNN_LIMIT, knn_graph
from machine import describe_cpu

NAMES = ("business", "entertainment", "politics", "sport", "tech")


def synthetic(rows: int, dim: int, seed: int = 0) -> tuple[HeadInputs, np.ndarray]:
    """Five noisy clusters of unit vectors, 10% of labels flipped; texts only up to 100,000 rows."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(NAMES), rows)
    centres = rng.standard_normal((len(NAMES), dim)).astype(np.float32)
    vectors = centres[labels]
    vectors += rng.standard_normal((rows, dim), dtype=np.float32) * np.float32(3.0)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    small = rows <= EXACT_KNN_LIMIT
    words = np.array([f"w{k}_{i}" for k in range(len(NAMES)) for i in range(200)]).reshape(len(NAMES), 200)
    texts = ([" ".join(words[k, rng.integers(0, 200, 8)]) for k in labels] if small else [""] * rows)
    flipped = rng.random(rows) < 0.1
    labels[flipped] = (labels[flipped] + rng.integers(1, len(NAMES), flipped.sum())) % len(NAMES)
    return HeadInputs(texts, vectors, knn_graph(vectors) if small else None), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--decisions", type=int, default=500)
    args = parser.parse_args()
    print(describe_cpu())
    for rows in args.rows:
        heads, labels = synthetic(rows, args.dim)
        head = "ensemble" if rows <= EXACT_KNN_LIMIT else "embedding"
        inputs = RerankInputs(heads, labels, NAMES, head=head)
        if head == "ensemble":
            started = time.perf_counter()
            _ = heads.tfidf   # computed once per results (a cached property)
            print(f"{rows:>9,} rows: TF-IDF features {time.perf_counter() - started:.2f} s (once per results)")
        positions = np.random.default_rng(1).choice(rows, args.decisions, replace=False)
        trusted = TrustedLabels(positions, labels[positions], np.full(len(positions), "confirmed"))
        result = rerank(inputs, trusted)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{rows:>9,} rows, {head}: refit from {result.decisions_used} decisions, {result.trained_rows:,} rows "
              f"trained: {result.seconds:.2f} s wall, {result.cpu_seconds:.2f} s CPU; peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
