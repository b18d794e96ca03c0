"""A shared queue at its allowed size: hand-out, progress and a decision on a 100,000-item plan.

Builds a store whose dataset holds --decisions decisions (imported as a history) by four reviewers
on the first examples of a --items example plan with R = 2: pairs of them complete the first
items, then ann alone decides the next --ahead items (she is ahead of the others, so her hand-out
walks past examples she decided that still need a second look). Then it times, each --repeat
times, with the median and the maximum in milliseconds of wall time and of CPU time:

- start: `start_shared_queue` for the whole plan (once);
- hand-out, search: `take_next` for a reviewer holding nothing (bob: the first open example is
  his; ann: her next one lies past the --ahead ones she decided; eve: a new reviewer);
- hand-out, held: `take_next` again while the lease holds (every rerun of the reviewer's page);
- progress: `queue_progress` (every rerun of every reviewer's page);
- plan: `shared_queue` (the open plan, read on every rerun);
- decision: `DecisionStore.record` on an example of the plan (the write every key press makes).

CPU time is this process's (SQLite runs in it); on PostgreSQL the CPU time of the server's client
backends (utime + stime from /proc) is added. Figures only, no assertions.

    python bench/shared_queue_scale.py [--items 100000] [--decisions 40000] [--ahead 8000]
        [--repeat 15] [--postgres]

Measured on a 2-core Intel(R) Xeon(R) Processor @ 2.80GHz (no AVX-512 BF16, no AMX), SQLite 3.40.1,
PostgreSQL 15, defaults, the machine otherwise idle. Milliseconds, median of 7 (before) and 15
(after), wall / CPU. After, the maxima are first calls: 70 / 100 ms for bob (SQLAlchemy compiling
the statements), 41 / 81 ms for ann (her cursor moving past the 8,000 examples she decided).

                       SQLite before    SQLite after     PostgreSQL before   PostgreSQL after
    hand-out, bob        304 / 303        16 / 15          1,726 / 1,683        18 / 20
    hand-out, ann        296 / 295        16 / 15          2,367 / 1,927        17 / 15
    hand-out, eve        455 / 454        16 / 15          2,249 / 1,764        22 / 19
    hand-out, held       496 / 495         7 / 6           2,191 / 1,631        13 / 12
    progress             424 / 423         1 / 1           1,146 /   805         7 / 6
    plan                 175 / 175         1 / 1             264 /   210         5 / 4
    decision               2 / 1           5 / 4               5 /     4         9 / 7
    start (once)         837 / 827     1,511 / 1,491       2,244 / 3,457     2,928 / 4,098
    import 40,000      10.7 / 7.8 s     10.3 / 7.3 s        19.6 / 18.7 s     20.4 / 19.4 s

Before: schema v6, every item's in-force count recomputed and the plan sorted on each call, and
the plan's 100,000 ids read with it. After: schema v7 (losslens.store.queue_counts). A decision
costs 2-3 ms more (it recounts its example) and a plan's start 0.6 s more (it counts the plan).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core"), str(ROOT / "tests")]

from machine import describe_cpu  # noqa: E402

from losslens.review.shared_queue import (queue_progress, release, shared_queue, start_shared_queue,  # noqa: E402
                                          take_next)
from losslens.store.decisions import DecisionStore  # noqa: E402
from losslens.store.importing import ImportedDecision  # noqa: E402
from losslens.store.records import ExampleRef  # noqa: E402

DATASET = "news.csv"
PAIRS = (("ann", "bob"), ("cy", "dan"), ("bob", "cy"), ("dan", "ann"))


def history(n_items: int, n_decisions: int, ahead: int) -> list[ImportedDecision]:
    """n_decisions decisions: pairs of reviewers on the first (n_decisions - ahead) / 2 examples,
    then ann alone on the next `ahead`."""
    complete = (n_decisions - ahead) // 2
    if complete + ahead > n_items:
        raise SystemExit("--decisions and --ahead need more --items")
    rows = []
    for k in range(complete + ahead):
        who = PAIRS[k % len(PAIRS)] if k < complete else ("ann",)
        for n, reviewer in enumerate(who):
            relabel = (k + n) % 3 == 0
            rows.append(ImportedDecision(
                DATASET, ExampleRef(f"ex{k:06d}", f"h{k}", "sport"), "tech" if relabel else None,
                "relabeled" if relabel else "confirmed", reviewer, f"2024-01-01T00:00:{k % 60:02d}.{k:06d}+00:00"))
    return rows


def server_cpu_seconds(store: DecisionStore) -> Callable[[], float]:
    """A reader of the CPU seconds so far of a PostgreSQL server's client backends (the processes
    that run LossLens's statements; autovacuum and the server's other workers left out), or of
    nothing (0) for SQLite, which runs in this process."""
    if store.path is not None:
        return lambda: 0.0
    with store.connection() as db:
        backend = db.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    postmaster = _field(backend, "PPid")
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        total = 0
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and _field(int(entry.name), "PPid") == postmaster and \
                        b"127.0.0.1" in (entry / "cmdline").read_bytes():
                    total += sum(int(x) for x in (entry / "stat").read_text().rsplit(")", 1)[1].split()[11:13])
            except OSError:   # a process that ended meanwhile
                continue
        return total / tick
    return read


def _field(pid: int, name: str) -> int:
    """A number from /proc/PID/status."""
    return int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith(f"{name}:")))


def timed(label: str, call: Callable[[int], object], repeat: int, server_cpu: Callable[[], float],
          before: Callable[[int], object] = lambda _k: None) -> None:
    """Run call(k) for k < repeat (before(k) untimed first); print median / max wall and CPU ms."""
    walls, cpus = [], []
    for k in range(repeat):
        before(k)
        wall, cpu, server = time.perf_counter(), time.process_time(), server_cpu()
        call(k)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu + server_cpu() - server) * 1000)
    print(f"{label:<34} wall {statistics.median(walls):8.1f} / {max(walls):8.1f} ms   "
          f"CPU {statistics.median(cpus):8.1f} / {max(cpus):8.1f} ms")


def run(place: str | Path, args: argparse.Namespace) -> None:
    store = DecisionStore(place)
    server_cpu = server_cpu_seconds(store)
    wall, cpu, server = time.perf_counter(), time.process_time(), server_cpu()
    store.import_decisions(history(args.items, args.decisions, args.ahead))
    print(f"history of {args.decisions:,} decisions imported: wall {time.perf_counter() - wall:.1f} s, "
          f"CPU {time.process_time() - cpu + server_cpu() - server:.1f} s")
    ids = [f"ex{k:06d}" for k in range(args.items)]
    queue = start_shared_queue(store, DATASET, "fp", ids, 2, "lead")   # untimed: the first start warms the file
    timed("start (whole plan)", lambda _k: start_shared_queue(store, DATASET, "fp", ids, 2, "lead"), 1, server_cpu)
    queue = shared_queue(store, DATASET)
    for reviewer in ("bob", "ann", "eve"):
        timed(f"hand-out, search ({reviewer})", lambda _k, r=reviewer: take_next(store, queue, r), args.repeat,
              server_cpu, before=lambda _k, r=reviewer: release(store, DATASET, r))
    timed("hand-out, held (eve)", lambda _k: take_next(store, queue, "eve"), args.repeat, server_cpu)
    timed("progress", lambda _k: queue_progress(store, queue), args.repeat, server_cpu)
    timed("plan (shared_queue)", lambda _k: shared_queue(store, DATASET), args.repeat, server_cpu)
    timed("decision (record)", lambda k: store.record(DATASET, ids[-1 - k], "sport", None, "confirmed", "fay",
                                                      text_hash=f"h{args.items - 1 - k}"), args.repeat, server_cpu)
    print(f"progress at the end: {queue_progress(store, queue)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=40_000)
    parser.add_argument("--ahead", type=int, default=8_000, help="examples only ann decided (need a second look)")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL cluster")
    args = parser.parse_args()
    print(f"{describe_cpu()}; {args.items:,}-item plan, R = 2, {args.decisions:,} decisions, ann ahead by "
          f"{args.ahead:,}; median / max of {args.repeat}")
    with tempfile.TemporaryDirectory() as folder:
        print("--- SQLite")
        run(Path(folder) / "decisions.sqlite", args)
    if args.postgres:
        from postgres_server import postgres_cluster

        with ExitStack() as stack:
            print("--- PostgreSQL")
            run(stack.enter_context(postgres_cluster()), args)


if __name__ == "__main__":
    main()
