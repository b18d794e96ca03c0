"""Scores for millions of rows: peak memory of bounded-memory scoring vs the alternatives.

For each size, synthetic (N, K) float64 probabilities and labels are written to .npy files, then
each way of scoring them runs in a fresh subprocess that reports its peak resident memory
(VmHWM) above its resident memory just before the work (imports done):
  ours        losslens.scoring.batched.score_examples_batched over memory-mapped files
  cleanlab    cleanlab's find_label_issues_batched over the same files (np.load mmap_mode="r"),
              the flags only
  in-memory   losslens.scoring.scores.score_examples on the arrays loaded whole (the path below
              LOSSLENS_BATCHED_SCORING_ROWS)
and how far the flags of ours and of the in-memory path agree. Figures only, no assertions.

    python bench/score_scale.py [--sizes 1000000,2000000,5000000,10000000] [--classes 5]
                                [--in-memory-up-to 10000000]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from machine import describe_cpu

GENERATE_ROWS = 1_000_000


def write_synthetic(folder: Path, n: int, k: int, seed: int = 0) -> None:
    """probs.npy (n, k) float64 rows of a softmax whose given label is favoured (about 20% of the
    argmaxes differ from it), and labels.npy (n,) int64, written a million rows at a time."""
    rng = np.random.default_rng(seed)
    probs = np.lib.format.open_memmap(folder / "probs.npy", mode="w+", dtype=np.float64, shape=(n, k))
    labels = np.lib.format.open_memmap(folder / "labels.npy", mode="w+", dtype=np.int64, shape=(n,))
    for start in range(0, n, GENERATE_ROWS):
        stop = min(start + GENERATE_ROWS, n)
        given = rng.integers(0, k, stop - start)
        logits = rng.normal(size=(stop - start, k)) * 2.0
        logits[np.arange(stop - start), given] += 3.0
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs[start:stop] = exp / exp.sum(axis=1, keepdims=True)
        labels[start:stop] = given
    probs.flush()
    labels.flush()


def measure(mode: str, folder: Path) -> dict:
    """Run `mode` on the files in `folder` in a fresh process: {peak_mib, seconds, flags}."""
    out = subprocess.run([sys.executable, __file__, "--run", mode, str(folder)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(mode: str, folder: Path) -> None:
    """The measured child: one way of scoring, its peak memory above the resident memory before it."""
    from cleanlab.experimental.label_issues_batched import find_label_issues_batched

    from losslens.scoring.batched import ISSUE, score_examples_batched
    from losslens.scoring.scores import score_examples

    before = resident_mib()["VmRSS"]
    started = time.perf_counter()
    if mode == "ours":
        scores = score_examples_batched(folder / "probs.npy", folder / "labels.npy", folder / "scores.npy")
    elif mode == "cleanlab":
        flags = find_label_issues_batched(labels_file=str(folder / "labels.npy"),
                                          pred_probs_file=str(folder / "probs.npy"), batch_size=100_000,
                                          verbose=False, return_mask=True, n_jobs=1)
    else:
        flags = score_examples(np.load(folder / "probs.npy"), np.load(folder / "labels.npy")).is_issue
    seconds = time.perf_counter() - started
    peak = resident_mib()["VmHWM"] - before
    if mode == "ours":   # read after the peak is taken: the (N, 8) table is the result, on disk
        flags = np.load(scores, mmap_mode="r")[:, ISSUE].astype(bool)
    np.save(folder / f"flags_{mode}.npy", flags)
    print(json.dumps({"peak_mib": peak, "seconds": seconds, "flags": int(flags.sum())}))


def resident_mib() -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of this process in MiB, from /proc/self/status."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {key: int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,2000000,5000000,10000000")
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--in-memory-up-to", type=int, default=10_000_000,
                        help="largest size the in-memory path runs at (it needs GBs)")
    parser.add_argument("--run", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run(args.run[0], Path(args.run[1]))
        return
    print(f"{describe_cpu()}, {args.classes} classes, float64 probabilities; peak MiB above the process's "
          "resident memory before scoring")
    print(f"{'rows':>11} | {'ours MiB':>8} {'s':>6} | {'cleanlab batched MiB':>20} {'s':>6} | "
          f"{'in-memory MiB':>13} {'s':>6} | flags ours / in-memory / both")
    for n in (int(size) for size in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="score_scale-") as tmp:
            folder = Path(tmp)
            write_synthetic(folder, n, args.classes)
            ours, cleanlab = measure("ours", folder), measure("cleanlab", folder)
            line = (f"{n:>11,} | {ours['peak_mib']:>8.0f} {ours['seconds']:>6.1f} | "
                    f"{cleanlab['peak_mib']:>20.0f} {cleanlab['seconds']:>6.1f} | ")
            if n <= args.in_memory_up_to:
                memory = measure("in-memory", folder)
                both = int((np.load(folder / "flags_ours.npy") & np.load(folder / "flags_in-memory.npy")).sum())
                line += (f"{memory['peak_mib']:>13.0f} {memory['seconds']:>6.1f} | "
                         f"{ours['flags']:,} / {memory['flags']:,} / {both:,}")
            else:
                line += f"{'-':>13} {'-':>6} | {ours['flags']:,} / - / -"
            print(line, flush=True)


if __name__ == "__main__":
    main()
