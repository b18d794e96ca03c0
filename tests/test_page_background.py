"""pages.background: the one job helper of every page, outside any script run (plain threads)."""
from __future__ import annotations

import threading
import time
import uuid

import app_harness  # noqa: F401 — puts the app's `pages` package on the path
from losslens.errors import LossLensError
from losslens.jobs import Job, JobAhead
from pages.background import Outcome, WatchedJob, duration_text, job_registry, waiting_text


def key() -> str:
    return f"test:{uuid.uuid4().hex}"


def finished(watched: WatchedJob, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while watched.running and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not watched.running


def test_the_result_is_taken_in_once_and_the_job_released():
    gate, watched, k = threading.Event(), WatchedJob(), key()
    watched.start(k, lambda progress: (progress(1, 2), gate.wait(5), "scored")[-1])
    assert watched.key == k and watched.running and watched.take_outcome() is None   # still running
    gate.set()
    finished(watched)
    assert watched.take_outcome() == Outcome("scored", failed=False)
    assert watched.key is None and job_registry().get(k) is None                     # released, no longer awaited
    assert watched.take_outcome() is None


def test_a_failure_is_kept_until_the_next_start():
    watched, k = WatchedJob(), key()

    def fail(progress):
        raise LossLensError("column 'txt' missing")

    watched.start(k, fail)
    finished(watched)
    assert watched.take_outcome() == Outcome(None, failed=True)
    assert str(watched.failure) == "column 'txt' missing"
    watched.start(key(), lambda progress: 1)
    assert watched.failure is None


def test_a_new_key_gives_up_the_old_job_and_following_starts_nothing():
    gate, watched, old = threading.Event(), WatchedJob(), key()
    watched.start(old, lambda progress: gate.wait(5))
    other = WatchedJob()
    assert not other.follow(key()) and other.key is None                 # nothing under that key: nothing started
    assert other.follow(old) and job_registry().get(old).watchers == {watched.watcher, other.watcher}
    new = key()
    watched.start(new, lambda progress: "new")
    assert job_registry().get(old).watchers == {other.watcher}           # the first session let go of it
    gate.set()
    finished(other)
    assert other.take_outcome() == Outcome(True, failed=False) and job_registry().get(old) is None


def test_a_job_dropped_while_the_session_was_away_is_no_longer_awaited():
    watched, k = WatchedJob(), key()
    watched.start(k, lambda progress: 1)
    finished(watched)
    job_registry().release(k, watched.watcher)                           # e.g. pruned after keep_seconds
    assert watched.take_outcome() is None and watched.key is None and not watched.running


def test_the_waiting_line_names_each_job_ahead_with_its_progress_or_place():
    running = Job(key="a", title="Scoring *news*.csv with bundled:minilm", done=300, total=1_000)
    running._first, running._last = (0.0, 100), (100.0, 300)     # 2 examples/s: 700 left take 350 s
    unmeasured = Job(key="b", title="Retraining on news", done=0, total=0)
    queued = Job(key="c", title="", status="queued", position=1)
    text = waiting_text([JobAhead.of(job) for job in (running, unmeasured, queued)], "one heavy job runs at a time")
    assert text.split("\n") == [
        "Waiting for 3 job(s) ahead of it to finish (one heavy job runs at a time on this server; it starts by itself).",
        r"- Scoring \*news\*\.csv with bundled\:minilm: running, 30% done, about 6 min left",   # title escaped
        "- Retraining on news: running, 0% done, time left not known yet",
        "- a job: waiting, number 1 in line"]


def test_durations_read_in_seconds_minutes_or_hours():
    assert [duration_text(s) for s in (0.2, 40, 89, 3_540, 3_900)] == ["1 s", "40 s", "1 min", "59 min", "1 h 05 min"]


def test_a_scoring_title_names_local_files_and_folders_without_their_path(tmp_path):
    from losslens import DatasetSource, ModelSpec, ScoreRequest
    from pages.session import scoring_title

    folder = tmp_path / "models" / "my-model"
    folder.mkdir(parents=True)
    csv = tmp_path / "data" / "news.csv"
    assert scoring_title(ScoreRequest(DatasetSource("file", str(csv)), model=ModelSpec(str(folder)))) == \
        "Scoring news.csv with my-model"
    assert scoring_title(ScoreRequest(DatasetSource("hub", "org/reviews", config="en"), model=ModelSpec("org/bert"))) == \
        "Scoring hf:org/reviews:en with org/bert"
    assert scoring_title(ScoreRequest(DatasetSource.parse("demo:bbc"), name="my name")) == \
        "Scoring my name with bundled:minilm"
