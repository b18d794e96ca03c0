"""losslens.store.in_force: the decisions in force, as the store reads them and as the shared queue
counts them, equal those of a plain reading of the history (latest row not undone per example, or
per example and reviewer; resets leave it undecided), after a seeded mix of decisions, group
decisions, resets and undos by three reviewers."""
from __future__ import annotations

import random

import pytest

from losslens.review.shared_queue import QueueProgress, queue_progress, release, start_shared_queue, take_next
from losslens.store.decisions import DecisionStore
from losslens.store.records import ExampleRef

DATASET = "news.csv"
EXAMPLES = [f"e{k}" for k in range(6)]
REVIEWERS = ["ann", "bob", "cy"]


def _mixed_history(store: DecisionStore, seed: int) -> None:
    """60 writes of every kind, chosen by `seed`."""
    rng = random.Random(seed)
    for _ in range(60):
        kind, who, example = rng.random(), rng.choice(REVIEWERS), rng.choice(EXAMPLES)
        if kind < 0.45:
            status = rng.choice(["relabeled", "confirmed", "ambiguous", "removed"])
            store.record(DATASET, example, "a", "b" if status == "relabeled" else None, status, who, text_hash=None)
        elif kind < 0.6:
            group = [ExampleRef(e, None, "a") for e in rng.sample(EXAMPLES, 3)]
            store.record_group(DATASET, group, None, "removed", who)
        elif kind < 0.75:
            store.reset(DATASET, example, who)
        else:
            store.undo_last(DATASET, rng.choice([who, None]))


def _read_plainly(store: DecisionStore, per_reviewer: bool) -> list[int]:
    """Ids of the decisions in force, from the whole history in Python."""
    latest: dict[tuple[str, ...], tuple[int, str]] = {}
    for row in store.history_frame(DATASET).itertuples():
        if row.undone_at is None:
            latest[(row.example_id, row.reviewer) if per_reviewer else (row.example_id,)] = (row.id, row.status)
    return sorted(decision_id for decision_id, status in latest.values() if status != "unreviewed")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_store_reads_and_the_shared_queue_see_the_same_decisions_in_force(store_place, seed):
    store = DecisionStore(store_place)
    queue = start_shared_queue(store, DATASET, "fp", EXAMPLES, 2, "lead")
    _mixed_history(store, seed)
    for per_reviewer in (False, True):
        assert store.in_force(DATASET, per_reviewer)["decision_id"].tolist() == _read_plainly(store, per_reviewer)

    each = store.in_force(DATASET, per_reviewer=True)
    deciders = {e: set(each.loc[each["example_id"] == e, "reviewer"]) for e in EXAMPLES}
    seen = [len(deciders[e]) for e in EXAMPLES]
    assert queue_progress(store, queue) == QueueProgress(len(EXAMPLES), sum(n >= 2 for n in seen),
                                                         sum(0 < n < 2 for n in seen), sum(min(n, 2) for n in seen))
    for now, reviewer in enumerate(REVIEWERS):   # no leases held: the first example open to them
        expected = next((e for e in EXAMPLES if reviewer not in deciders[e] and len(deciders[e]) < 2), None)
        assert take_next(store, queue, reviewer, now=float(now)) == expected
        release(store, DATASET, reviewer)
