"""End-to-end `losslens score` on 100,000 short texts: first run vs cached second run.

AG News (120k short news texts, ~54 tokens each) is not available offline, so the texts are
sentence windows cut from the BBC demo articles (labels = the article's topic), which have
a similar length profile. Prints both wall times and their ratio; not a pass/fail test.

    python bench/score_100k.py [--n 100000] [--precision auto] [--max-length N]
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from losslens.sources.datasets import load_demo_bbc


def short_news_texts(n: int) -> pd.DataFrame:
    """n texts of 2 consecutive sentences (~40-60 words) from the BBC articles, with topics."""
    demo = load_demo_bbc()
    rows = []
    for example_id, text, label in zip(demo.ids, demo.texts, demo.labels):
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.replace("\n", " ")) if len(s) > 20]
        for i in range(0, len(sentences) - 1):
            rows.append((f"{example_id}#{i}", f"{sentences[i]} {sentences[i + 1]}", demo.label_names[label]))
    repeats = -(-n // len(rows))
    frame = pd.DataFrame(rows * repeats, columns=["id", "text", "label"])
    frame = frame.sample(frac=1.0, random_state=0).head(n)
    frame["id"] = [f"{i}:{j}" for j, i in enumerate(frame["id"])]
    return frame


def timed_score(csv: Path, home: Path, precision: str, max_length: int | None) -> tuple[float, str]:
    env = {**os.environ, "LOSSLENS_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    extra = ["--max-length", str(max_length)] if max_length else []
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "losslens.cli", "score", str(csv), "--id-col", "id", "--precision", precision,
         *extra, "--out", str(home / "results.parquet")],
        env=env, capture_output=True, text=True, check=True,
    )
    return time.perf_counter() - started, result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--max-length", type=int, default=None, help="default: the pipeline's (256)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        csv = tmp_path / "short_news.csv"
        short_news_texts(args.n).to_csv(csv, index=False)
        print(f"texts: {args.n} sentence pairs from the BBC demo, csv {csv.stat().st_size / 1e6:.1f} MB")
        first, summary1 = timed_score(csv, tmp_path / "home", args.precision, args.max_length)
        print(f"first run:  {first:8.1f} s  {summary1}")
        second, summary2 = timed_score(csv, tmp_path / "home", args.precision, args.max_length)
        print(f"cached run: {second:8.1f} s  {summary2}")
        print(f"cached/first = {second / first:.3%}  ({args.n / first:.0f} examples/s end to end on the first run)")


if __name__ == "__main__":
    main()
