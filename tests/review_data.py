"""Small labeled review files for tests: a CSV of (id, review, sentiment) with varied text
lengths, the same loaded as LabeledTexts, and the CLI arguments that read it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from loading import load_path
from losslens.sources.datasets import ColumnMapping, LabeledTexts

WORDS = "good great fine bad awful poor movie plot actor scene long short".split()


def write_reviews_csv(path: Path, n: int = 40, labels=("neg", "pos"), seed: int = 0) -> Path:
    """A small CSV (id, review, sentiment) with varied text lengths."""
    rng = np.random.default_rng(seed)
    rows = [
        {
            "id": f"r{i:03d}",
            "review": " ".join(rng.choice(WORDS, size=3 + (i % 9) * 4)),
            "sentiment": labels[i % len(labels)],
        }
        for i in range(n)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def load_reviews(tmp_path: Path, **kwargs) -> LabeledTexts:
    """write_reviews_csv(tmp_path / "reviews.csv", **kwargs), loaded with its columns."""
    csv = write_reviews_csv(tmp_path / "reviews.csv", **kwargs)
    return load_path(str(csv), columns=ColumnMapping(text="review", label="sentiment", id="id"))


def review_args(csv: Path, model: Path) -> list[str]:
    """`losslens score` arguments reading a write_reviews_csv file with `model` in fp32."""
    return [str(csv), "--text-col", "review", "--label-col", "sentiment", "--id-col", "id",
            "--model", str(model), "--precision", "fp32"]
