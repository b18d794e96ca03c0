"""Review at scale: a synthetic 1,000,000-row results table, sorted / filtered / paged in core.

Prints the time to load the table from Parquet, to sort by each key (first and cached), to
filter (given label, flagged, review status, text search), to produce one page of a combined
query, and the resident memory. Targets (issue 4): load < 2 s; sort+filter+page < 300 ms.
Figures only, no assertions.

    python bench/review_scale.py [--rows 1000000] [--seed 0]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from losslens.review.queue import SORT_KEYS, ReviewIndex, ReviewQuery, query_results  # noqa: E402

LABEL_NAMES = ("business", "entertainment", "politics", "sport", "tech")


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB (Linux /proc)."""
    fields = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line
    )
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def synthetic_table(n: int, seed: int) -> pd.DataFrame:
    """n rows shaped like losslens.scoring.pipeline's results table; texts ~60 characters from a vocabulary."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "qu", "dre", "str"]
    vocabulary = np.array(
        ["".join(rng.choice(syllables, size=rng.integers(1, 4))) for _ in range(5000)]
        + ["market", "Goal", "election", "chip", "film", "<b>bold</b>"],
        dtype=object,
    )
    lengths = rng.integers(8, 16, size=n)  # ~11.5 words of ~5.2 chars -> ~60 chars
    words = vocabulary[rng.integers(0, len(vocabulary), size=int(lengths.sum()))]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    texts = [" ".join(words[bounds[i] : bounds[i + 1]]) for i in range(n)]

    k = len(LABEL_NAMES)
    probs = rng.dirichlet(np.full(k, 0.3), size=n).astype(np.float32)
    predicted = probs.argmax(axis=1)
    noisy = rng.random(n) < 0.1  # 10% of given labels drawn at random
    labels = np.where(noisy, rng.integers(0, k, size=n), predicted)
    p_given = probs[np.arange(n), labels]
    p_predicted = probs[np.arange(n), predicted]
    others = probs.copy()
    others[np.arange(n), labels] = -1
    margin = p_given - others.max(axis=1)
    quality = p_given.astype(np.float64)
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((-(-np.log(np.clip(p_given, 1e-12, 1))), quality))] = np.arange(1, n + 1)
    table = pd.DataFrame({
        "id": [f"ex{i:07d}" for i in range(n)],
        "text": texts,
        "label": labels,
        "predicted_label": predicted,
        "loss": -np.log(np.clip(p_given, 1e-12, 1)).astype(np.float64),
        "p_given": p_given,
        "p_predicted": p_predicted,
        "margin": margin,
        "quality": quality,
        "is_issue": (predicted != labels) & (margin < -0.5),
        "rank": rank,
    })
    for j, name in enumerate(LABEL_NAMES):
        table[f"prob_{name}"] = probs[:, j]
    return table


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """(median milliseconds over `repeat` calls, last result)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.parquet"
        ms, table = timed(lambda: synthetic_table(args.rows, args.seed))
        table.to_parquet(path, index=False)
        avg_chars = float(table["text"].str.len().mean())
        print(f"rows={len(table):,}  avg text chars={avg_chars:.1f}  parquet={path.stat().st_size / 2**20:.1f} MiB"
              f"  (generated in {ms / 1000:.1f} s)")
        del table

        base_rss = rss_mib()[0]
        print(f"RSS before load: {base_rss:.0f} MiB")
        ms, table = timed(lambda: pd.read_parquet(path))
        print(f"load parquet             {ms:8.1f} ms   (target < 2000 ms)   RSS {rss_mib()[0]:.0f} MiB")
        ms, index = timed(lambda: ReviewIndex(table))
        print(f"build ReviewIndex        {ms:8.1f} ms")

        for key in SORT_KEYS:
            cold, _ = timed(lambda: index.order(key, True))
            warm, _ = timed(lambda: index.order(key, True), repeat=5)
            flip, _ = timed(lambda: index.order(key, False))
            print(f"sort {key:<8} first {cold:7.1f} ms   cached {warm:6.2f} ms   flipped first {flip:7.1f} ms")

        rng = np.random.default_rng(1)
        decided = rng.choice(len(table), size=10_000, replace=False)
        statuses = pd.Series(
            rng.choice(["relabeled", "confirmed", "ambiguous", "removed"], size=decided.size),
            index=table["id"].to_numpy()[decided],
        )
        cases = {
            "page, no filter": ReviewQuery(),
            "page 2000 of 20000": ReviewQuery(page=2000),
            "filter given label": ReviewQuery(given_labels=(2,)),
            "filter predicted label": ReviewQuery(predicted_labels=(0, 1)),
            "filter flagged": ReviewQuery(flagged_only=True),
            "filter cell (1,3)": ReviewQuery(cell=(1, 3)),
            "filter status unreviewed (10k decisions)": ReviewQuery(statuses=("unreviewed",)),
            "search 'MARKET' (repeated: cached)": ReviewQuery(search="MARKET"),
            "combined rank+flag+label+search, page 3": ReviewQuery(
                sort_by="rank", given_labels=(1,), flagged_only=True, search="lo", page=3, page_size=100
            ),
        }
        for name, query in cases.items():
            ms, page = timed(lambda: query_results(index, query, statuses), repeat=5)
            print(f"{name:<42} {ms:7.1f} ms   matches {page.total:>9,}   page rows {len(page.rows)}")
        needles = ["film", "Goal", "election", "chip", "dreka", "ka", "zzz"]
        times = []
        for needle in needles:  # each needle new to the index: a full scan of 1M lowercased texts
            ms, page = timed(lambda: query_results(index, ReviewQuery(search=needle), statuses))
            times.append(ms)
        print(f"{'search, new needle (median of 7)':<42} {statistics.median(times):7.1f} ms   "
              f"(min {min(times):.1f}, max {max(times):.1f})")

        ms, fresh = timed(lambda: ReviewIndex(table))
        print(f"second ReviewIndex build                   {ms:7.1f} ms")
        query = ReviewQuery(sort_by="quality", flagged_only=True, search="market", page_size=50)
        ms, page = timed(lambda: query_results(fresh, query, statuses))
        print(f"first query, fresh index (sort+flag+search+page) {ms:7.1f} ms   (target < 300 ms)   "
              f"matches {page.total:,}")
        statuses["ex0000007"] = "relabeled"  # a rerun after one more decision
        ms, page = timed(lambda: query_results(fresh, query, statuses), repeat=5)
        print(f"same query after a decision (rerun)              {ms:7.1f} ms   (target < 300 ms)")
        query = ReviewQuery(sort_by="margin", given_labels=(3,), search="vi", page=10, page_size=25)
        ms, page = timed(lambda: query_results(fresh, query, statuses))
        print(f"new key + new filter + new search + page 10      {ms:7.1f} ms   (target < 300 ms)")
        current, peak = rss_mib()
        print(f"RSS now {current:.0f} MiB, peak {peak:.0f} MiB "
              f"(table in pandas: {table.memory_usage(deep=True).sum() / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
