"""The TF-IDF head's character n-gram counts: scikit-learn's CountVectorizer(analyzer="char_wb")
against losslens.scoring.char_ngrams.char_wb_counts, side by side in one run, on the demo's
2,225 articles (whole, and clipped to the 256 tokens the bundled encoder reads, as the head sees
them). Checks the two matrices are identical (values, columns, stored order), then prints CPU
and wall seconds of each. Figures only, no assertions.

    python bench/char_ngrams.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from losslens.scoring.char_ngrams import char_wb_counts
from losslens.scoring.models import clipped_texts
from losslens.sources.datasets import load_demo_bbc
from machine import describe_cpu


def timed(work):
    """(result, best CPU seconds, its wall seconds) of calling `work` --repeats times."""
    best = None
    for _ in range(ARGS.repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        result = work()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        best = (cpu, wall) if best is None or cpu < best[0] else best
    return result, *best


def main() -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    articles = [str(t) for t in load_demo_bbc().texts]
    print(f"{describe_cpu()}; best of {ARGS.repeats}; ngram_range (2, 5), min_df 2")
    for name, texts in (("whole articles", articles), ("clipped to 256 tokens", clipped_texts(articles, 256))):
        reference = CountVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, dtype=np.float32)
        expected, sk_cpu, sk_wall = timed(lambda: reference.fit_transform(texts))
        (ours, names), our_cpu, our_wall = timed(lambda: char_wb_counts(texts, (2, 5), 2))
        same = names == list(reference.get_feature_names_out()) and all(
            np.array_equal(getattr(ours, p), getattr(expected, p)) and getattr(ours, p).dtype == getattr(expected, p).dtype
            for p in ("data", "indices", "indptr"))
        print(f"{name}: {expected.shape[1]:,} n-grams, identical={same}; scikit-learn {sk_cpu:.2f} CPU-s "
              f"({sk_wall:.2f} s wall), LossLens {our_cpu:.2f} CPU-s ({our_wall:.2f} s wall), "
              f"{sk_cpu / our_cpu:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    ARGS = parser.parse_args()
    main()
