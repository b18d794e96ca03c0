"""Per-example scores for millions of rows in bounded memory.

`score_examples_batched` reads (N, K) probabilities and (N,) labels from .npy files through memory
maps (np.load mmap_mode="r"), BATCH_ROWS rows at a time, and writes the (N, 8) table of
losslens.scoring.scores.ExampleScores.to_array to a .npy file. Every read or write goes through a memory
map that is closed again, so the pages touched never pile up in the process: its working memory
follows BATCH_ROWS and SORT_ROWS, not N (bench/score_scale.py measures it).

How the columns compare with the in-memory losslens.scoring.scores.score_examples:
- predicted_label, loss, p_given, p_predicted, margin, quality: the same function
  (losslens.scoring.scores.row_scores) on each batch, equal to the last bit.
- is_issue: cleanlab's find_label_issues_batched instead of find_label_issues. Both estimate the
  number of issues T from the confident joint; find_label_issues then prunes by noise rate per
  (given, likely true) class pair, find_label_issues_batched flags the T rows of lowest quality,
  less those whose given label is the argmax. The passes here are cleanlab's LabelInspector (the
  engine of find_label_issues_batched) over the same batches, so the flags equal
  find_label_issues_batched(..., batch_size=batch_rows) on float64 probabilities, except, when
  rows tie on the exact quality at the cut, which of them are flagged (cleanlab's argsort is not
  stable; here the earlier rows). find_label_issues_batched itself does not stay bounded: it keeps
  a Python float per row and copies the whole probability matrix.
- rank: losslens.scoring.scores.review_rank's order (flagged first, quality ascending, loss descending,
  position) by an external sort: equal to review_rank of these flags.
"""
from __future__ import annotations

import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Iterator

import numpy as np

from losslens.errors import ScoringError
from losslens.scoring.scores import QUALITY_METHODS, ExampleScores, row_scores

BATCH_ROWS = 100_000     # rows read, scored and written at a time
SORT_ROWS = 250_000      # rows the rank's external sort holds at a time (one bucket)
COLUMNS = tuple(f.name for f in fields(ExampleScores))
LOSS, QUALITY, ISSUE, RANK = (COLUMNS.index(name) for name in ("loss", "quality", "is_issue", "rank"))
_SAMPLE_PER_BUCKET = 1024  # sampled keys per bucket of the external sort (picks its splitters)
# Sort key of the review order: flag (0 first) and quality in one word, loss descending, row.
_REVIEW_KEY = np.dtype([("flag_quality", "<u8"), ("loss_descending", "<u8"), ("row", "<u8")])
_ROW_RANK = np.dtype([("row", "<u8"), ("rank", "<u8")])


def score_examples_batched(probs_path: str | Path, labels_path: str | Path, out_path: str | Path,
                           method: str = "self_confidence", batch_rows: int = BATCH_ROWS,
                           sort_rows: int = SORT_ROWS) -> Path:
    """Write the (N, 8) float64 ExampleScores table for the (N, K) probabilities and (N,) int
    labels saved (np.save) at probs_path and labels_path to out_path (a .npy); returns out_path.
    Scratch files (up to 40 bytes a row) live beside out_path while it runs."""
    from cleanlab.count import _reduce_issues   # what find_label_issues_batched unflags: argmax = given
    from cleanlab.experimental.label_issues_batched import LabelInspector

    if method not in QUALITY_METHODS:
        raise ScoringError(f"unknown quality method {method!r}; choose one of {QUALITY_METHODS}")
    probs_path, labels_path, out_path = Path(probs_path), Path(labels_path), Path(out_path)
    n, k = np.load(probs_path, mmap_mode="r").shape
    if n == 0:
        np.save(out_path, np.zeros((0, len(COLUMNS))))
        return out_path
    np.lib.format.open_memmap(out_path, mode="w+", dtype=np.float64, shape=(n, len(COLUMNS)))
    spans = [(start, min(start + batch_rows, n)) for start in range(0, n, batch_rows)]
    inspector = LabelInspector(num_class=k, store_results=False, verbose=False, n_jobs=1,
                               quality_score_kwargs={"method": method})
    for start, stop in spans:
        inspector.update_confident_thresholds(_read(labels_path, start, stop), _read_probs(probs_path, start, stop))
    for start, stop in spans:
        labels, probs = _read(labels_path, start, stop), _read_probs(probs_path, start, stop)
        inspector.score_label_quality(labels, probs)   # counts this batch's issues
        columns = row_scores(probs, labels, method)
        block = np.zeros((stop - start, len(COLUMNS)))
        for index, name in enumerate(COLUMNS[:QUALITY + 1]):
            block[:, index] = columns[name]
        block[:, ISSUE] = ~_reduce_issues(probs, labels)   # may be flagged; the cut below decides
        _write(out_path, start, block)
    _flag_lowest_quality(out_path, spans, min(int(inspector.get_num_issues(silent=True)), n))
    _write_rank(out_path, spans, sort_rows)
    return out_path


def _read(path: Path, start: int, stop: int) -> np.ndarray:
    """A copy of rows start:stop of the .npy at `path`, read through a memory map closed on return."""
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def _read_probs(path: Path, start: int, stop: int) -> np.ndarray:
    return _read(path, start, stop).astype(np.float64, copy=False)


def _write(path: Path, start: int, values: np.ndarray, column: int | None = None) -> None:
    """Write rows (or one column of the rows) from `start` of the .npy at `path`."""
    table = np.load(path, mmap_mode="r+")
    if column is None:
        table[start:start + len(values)] = values
    else:
        table[start:start + len(values), column] = values


def _sortable_bits(values: np.ndarray) -> np.ndarray:
    """uint64 words ordered like the float64 values >= 0 they come from (-0.0 taken as 0.0)."""
    return (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)


def _quality_bits(path: Path, spans: list[tuple[int, int]]) -> Iterator[np.ndarray]:
    for start, stop in spans:
        yield _sortable_bits(_read(path, start, stop)[:, QUALITY])


def _kth_smallest(path: Path, spans: list[tuple[int, int]], k: int) -> tuple[int, int]:
    """(cut, take): the k-th smallest quality's bits (k >= 1), found by a radix select of 16 bits a
    pass, and how many rows with exactly that quality belong to the k smallest."""
    prefix, remaining = 0, k
    for shift in (48, 32, 16, 0):
        counts = np.zeros(1 << 16, dtype=np.int64)
        for bits in _quality_bits(path, spans):
            if shift < 48:
                bits = bits[(bits >> np.uint64(shift + 16)) == np.uint64(prefix)]
            counts += np.bincount(((bits >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.int64),
                                  minlength=1 << 16)
        cumulative = np.cumsum(counts)
        digit = int(np.searchsorted(cumulative, remaining))
        remaining -= int(cumulative[digit - 1]) if digit else 0
        prefix = (prefix << 16) | digit
    return prefix, remaining


def _flag_lowest_quality(path: Path, spans: list[tuple[int, int]], count: int) -> None:
    """is_issue := among the `count` rows of lowest quality (ties: the earlier rows), those the
    is_issue column marks as eligible."""
    if count == 0:
        for start, stop in spans:
            _write(path, start, np.zeros(stop - start), ISSUE)
        return
    cut, take_at_cut = _kth_smallest(path, spans, count)
    taken_at_cut = 0
    for start, stop in spans:
        block = _read(path, start, stop)
        bits = _sortable_bits(block[:, QUALITY])
        at_cut = bits == np.uint64(cut)
        within = at_cut & (taken_at_cut + np.cumsum(at_cut) <= take_at_cut)
        taken_at_cut += int(at_cut.sum())
        _write(path, start, ((bits < np.uint64(cut)) | within) & (block[:, ISSUE] == 1), ISSUE)


def _review_keys(block: np.ndarray, first_row: int) -> np.ndarray:
    """(B,) _REVIEW_KEY of rows first_row.. whose keys sort in losslens.scoring.scores.review_rank's order."""
    keys = np.empty(len(block), dtype=_REVIEW_KEY)
    unflagged = np.where(block[:, ISSUE] == 1, np.uint64(0), np.uint64(1 << 63))
    keys["flag_quality"] = unflagged | _sortable_bits(block[:, QUALITY])
    keys["loss_descending"] = ~_sortable_bits(block[:, LOSS])
    keys["row"] = np.arange(first_row, first_row + len(block), dtype=np.uint64)
    return keys


def _append(path: Path, records: np.ndarray) -> None:
    with open(path, "ab") as fh:
        fh.write(records.tobytes())


def _write_rank(path: Path, spans: list[tuple[int, int]], sort_rows: int) -> None:
    """rank := 1-based position in the review order, by a distribution sort in bounded memory:
    sampled keys split the rows into buckets of about sort_rows, each bucket is sorted in memory,
    and its (row, rank) pairs go to files by row range, from which the rank column is written in order."""
    n = spans[-1][1]
    buckets = -(-n // sort_rows)
    step = max(1, n // (buckets * _SAMPLE_PER_BUCKET))
    sample = np.concatenate([_review_keys(_read(path, start, stop), start)[np.arange(start, stop) % step == 0]
                             for start, stop in spans])
    sample.sort(order=list(_REVIEW_KEY.names))
    splitters = sample[(np.arange(1, buckets) * len(sample)) // buckets]
    with tempfile.TemporaryDirectory(prefix=".rank-", dir=path.parent) as scratch:
        bucket_files = [Path(scratch) / f"bucket_{b:05d}" for b in range(buckets)]
        range_files = [Path(scratch) / f"rows_{r:05d}" for r in range(buckets)]
        for start, stop in spans:
            keys = _review_keys(_read(path, start, stop), start)
            where = np.searchsorted(splitters, keys)
            for bucket in np.unique(where):
                _append(bucket_files[bucket], keys[where == bucket])
        placed = 0
        for bucket_file in bucket_files:
            if not bucket_file.exists():
                continue
            keys = np.fromfile(bucket_file, dtype=_REVIEW_KEY)
            bucket_file.unlink()
            rows = keys["row"][np.lexsort((keys["row"], keys["loss_descending"], keys["flag_quality"]))]
            pairs = np.empty(len(rows), dtype=_ROW_RANK)
            pairs["row"], pairs["rank"] = rows, np.arange(placed + 1, placed + len(rows) + 1, dtype=np.uint64)
            placed += len(rows)
            where = (rows // np.uint64(sort_rows)).astype(np.int64)
            for part in np.unique(where):
                _append(range_files[part], pairs[where == part])
        for part, range_file in enumerate(range_files):
            first, pairs = part * sort_rows, np.fromfile(range_file, dtype=_ROW_RANK)
            ranks = np.empty(len(pairs), dtype=np.float64)
            ranks[(pairs["row"] - np.uint64(first)).astype(np.int64)] = pairs["rank"]
            for offset in range(0, len(ranks), spans[0][1]):
                _write(path, first + offset, ranks[offset:offset + spans[0][1]], RANK)
