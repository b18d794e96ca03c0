"""Settings and results of an ActiveLab-vs-random simulation (plain data, JSON round trip)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from losslens.errors import SimulationError

STRATEGIES = ("activelab", "random")   # the selection strategies a simulation compares


@dataclass(frozen=True)
class SimulationSettings:
    """Sizes are example counts; rounds x batch annotations; seeds 0..seeds-1."""

    rounds: int = 25
    batch: int = 25
    seeds: int = 5
    initial: int = 100
    pool: int = 1900
    test: int = 480
    initial_annotations: int = 2
    max_annotations: int = 5
    folds: int = 5

    def check(self) -> None:
        for name, value in asdict(self).items():
            if int(value) < (0 if name == "pool" else 1):
                raise SimulationError(f"--{name} must be at least {0 if name == 'pool' else 1} (got {value})")
        if self.initial_annotations > self.max_annotations:
            raise SimulationError("initial annotations per example cannot exceed the maximum per example")


@dataclass
class SimulationResult:
    """accuracy[strategy]: (seeds, rounds) test accuracy; annotations[strategy]: (seeds, rounds) counts.
    ceiling: mean over the seeds of the test accuracy when the classifier trains on the train rows
    (initial + pool) with every one of their annotations: the curves' measure, on their test rows, at
    the point they head for (losslens.activelab.simulation.ceiling_accuracy); chance: mean share of
    the test rows in their commonest class (always guessing it scores this)."""

    settings: SimulationSettings
    accuracy: dict[str, np.ndarray]
    annotations: dict[str, np.ndarray]
    seconds: dict[str, float]
    source: str = ""
    classifier: str = ""
    simulated_annotators: bool = False
    key: str = ""
    from_cache: bool = False
    ceiling: float = float("nan")
    chance: float = float("nan")

    @property
    def flat(self) -> bool:
        """True when the classifier barely beats chance: no strategy can show much."""
        return bool(self.ceiling < self.chance + 0.1)

    def annotations_to_reach(self, target: float) -> dict[str, int | None]:
        """Per strategy: the mean number of annotations at the first round whose mean accuracy
        reaches `target` (a fraction), or None when no round does."""
        reached = {}
        for strategy, accuracy in self.accuracy.items():
            rounds = np.flatnonzero(accuracy.mean(axis=0) >= target)
            reached[strategy] = int(round(self.annotations[strategy].mean(axis=0)[rounds[0]])) if len(rounds) else None
        return reached

    def round_table(self) -> pd.DataFrame:
        """Per round: annotations, mean/std accuracy per strategy, error ratio (activelab / random)."""
        al, rnd = self.accuracy["activelab"], self.accuracy["random"]
        err_al, err_rnd = 1 - al.mean(axis=0), 1 - rnd.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(err_rnd > 0, err_al / err_rnd, np.nan)
        return pd.DataFrame({
            "round": np.arange(1, al.shape[1] + 1),
            "annotations": self.annotations["activelab"].mean(axis=0).round().astype(int),
            "activelab_mean": al.mean(axis=0), "activelab_std": al.std(axis=0),
            "random_mean": rnd.mean(axis=0), "random_std": rnd.std(axis=0),
            "error_ratio": ratio,
        })

    def mean_error_ratio(self, first: int = 2, last: int = 9) -> float:
        """Mean of the per-round error ratio over rounds first..last (1-based, inclusive); the
        default 2-9 are the first rounds in which the selection has acted."""
        ratio = self.round_table()["error_ratio"].to_numpy()[first - 1:last]
        return float(np.nanmean(ratio)) if np.isfinite(ratio).any() else float("nan")

    def format_table(self) -> str:
        """The per-round table as aligned text (accuracy in %), then the mean ratio over rounds 2-9."""
        t = self.round_table()
        lines = [f"{'round':>5} {'annot.':>6} {'ActiveLab %':>14} {'random %':>14} {'error ratio':>11}"]
        for row in t.itertuples(index=False):
            lines.append(f"{row.round:>5} {row.annotations:>6} "
                         f"{100 * row.activelab_mean:>7.1f} ± {100 * row.activelab_std:4.1f} "
                         f"{100 * row.random_mean:>7.1f} ± {100 * row.random_std:4.1f} {row.error_ratio:>11.2f}")
        first, last = min(2, len(t)), min(9, len(t))
        lines.append(f"mean error ratio (ActiveLab / random), rounds {first}-{last}: "
                     f"{self.mean_error_ratio(first, last):.2f}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "rounds": self.settings.rounds, "batch": self.settings.batch,
            "settings": asdict(self.settings),
            "accuracy": {s: a.tolist() for s, a in self.accuracy.items()},
            "annotations": {s: a.tolist() for s, a in self.annotations.items()},
            "seconds": self.seconds, "source": self.source, "classifier": self.classifier,
            "simulated_annotators": self.simulated_annotators, "key": self.key,
            "ceiling": self.ceiling, "chance": self.chance,
        }

    @classmethod
    def from_json(cls, raw: dict) -> "SimulationResult":
        return cls(SimulationSettings(**raw["settings"]),
                   {s: np.asarray(a, dtype=float) for s, a in raw["accuracy"].items()},
                   {s: np.asarray(a, dtype=int) for s, a in raw["annotations"].items()},
                   dict(raw["seconds"]), raw.get("source", ""), raw.get("classifier", ""),
                   bool(raw.get("simulated_annotators", False)), raw.get("key", ""),
                   ceiling=float(raw.get("ceiling", float("nan"))), chance=float(raw.get("chance", float("nan"))))
