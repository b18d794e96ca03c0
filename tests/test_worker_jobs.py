"""Heavy jobs in worker processes (losslens.workers, losslens.jobs, losslens.worker_jobs): results and
progress, the line of queued jobs, cancel, a killed worker, thread settings, the server's memory and
imports. Waits poll the job with a generous hang guard; no assertion is on wall-clock time."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import worker_targets
from losslens.errors import LabelMismatchError
from losslens.jobs import FINISHED, Job, JobRegistry
from losslens.scoring.cache import load_array
from losslens.scoring.models import ModelSpec
from losslens.scoring.pipeline import score
from losslens.scoring.request import ScoreRequest, ScoreSettings
from losslens.sources.datasets import ColumnMapping, DatasetSource
from losslens.worker_jobs import (evaluation_job, retraining_job, run_scoring, scoring_engine, scoring_job,
                                  simulation_job)
from losslens.workers import JobSpec, WorkerDiedError
from test_pipeline import write_reviews_csv

ROOT = Path(__file__).resolve().parents[1]
HANG_GUARD = 300.0   # seconds: only ever reached when something hangs


def until(condition, what: str, guard: float = HANG_GUARD) -> None:
    deadline = time.monotonic() + guard
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.01)


def finished(job: Job) -> Job:
    until(lambda: job.status in FINISHED, f"job {job.key} to finish")
    return job


def gated(name: str, folder: Path) -> JobSpec:
    """A job that logs `name` to folder/log and runs until the file folder/<name> exists."""
    return JobSpec(worker_targets.wait_for_gate, (name, str(folder / name), str(folder / "log")))


def process_gone(pid: int) -> bool:
    """True when `pid` has exited (a zombie that no one has reaped yet counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def reviews_request(csv: Path, model_dir: Path, **settings) -> ScoreRequest:
    return ScoreRequest(DatasetSource.parse(str(csv)), ColumnMapping("review", "sentiment", "id"),
                        model=ModelSpec(str(model_dir), precision="fp32"), settings=ScoreSettings(**settings))


def test_a_worker_job_returns_its_result_progress_and_cpu():
    job = finished(JobRegistry().submit("count", JobSpec(worker_targets.count_to, (7,))))
    assert job.status == "done" and job.error is None
    assert job.result["sum"] == 28 and job.result["pid"] == job.pid != os.getpid()
    assert (job.done, job.total, job.fraction) == (7, 7, 1.0)
    assert job.cpu_seconds > 0 and job.position is None


def test_queued_jobs_wait_in_line_first_come_first_served(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSLENS_MAX_JOBS", "1")
    registry = JobRegistry()
    first, second, third = (registry.submit(name, gated(name, tmp_path), title=f"Scoring {name}.csv")
                            for name in ("first", "second", "third"))
    until(lambda: first.status == "running", "the first job to start")
    assert (second.status, second.position, third.status, third.position) == ("queued", 1, "queued", 2)
    assert registry.queued() == [second, third] and registry.running() == [first]
    assert [(ahead.title, ahead.status, ahead.position) for ahead in registry.ahead_of(third)] == [
        ("Scoring first.csv", "running", None), ("Scoring second.csv", "queued", 1)]
    assert [ahead.title for ahead in registry.ahead_of(second)] == ["Scoring first.csv"]
    assert registry.ahead_of(first) == []
    (tmp_path / "third").touch()      # the third may finish at once, but only once it has started
    (tmp_path / "first").touch()
    until(lambda: second.status == "running", "the second job to start")
    assert first.result == "first" and (third.status, third.position) == ("queued", 1)
    (tmp_path / "second").touch()
    assert [finished(job).result for job in (second, third)] == ["second", "third"]
    assert (tmp_path / "log").read_text().split() == ["first", "second", "third"]


def test_two_jobs_run_at_once_when_max_jobs_is_two(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSLENS_MAX_JOBS", "2")
    registry = JobRegistry()
    jobs = [registry.submit(name, gated(name, tmp_path)) for name in ("a", "b", "c")]
    until(lambda: [job.status for job in jobs] == ["running", "running", "queued"], "two jobs to start")
    assert jobs[2].position == 1
    for name in ("a", "b", "c"):
        (tmp_path / name).touch()
    assert [finished(job).status for job in jobs] == ["done"] * 3


def test_cancel_stops_a_running_worker_and_removes_a_queued_job(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSLENS_MAX_JOBS", "1")
    registry = JobRegistry()
    running = registry.submit("running", gated("running", tmp_path), watcher="tab")
    waiting = registry.submit("waiting", gated("waiting", tmp_path), watcher="tab")
    until(lambda: running.status == "running" and running.done == 0 and running.total == 1, "the worker to start")
    assert registry.cancel("waiting") is True
    assert waiting.status == "cancelled" and registry.get("waiting") is None and registry.queued() == []
    pid = running.pid
    assert registry.cancel("running") is True
    assert finished(running).status == "cancelled" and running.result is None
    assert process_gone(pid)
    assert registry.cancel("running") is False and registry.cancel("nothing") is False
    assert (tmp_path / "log").read_text().split() == ["running"]     # the queued one never started
    registry.release("running", "tab")
    assert len(registry) == 0


ORPHANED = """
import signal, sys, time
import worker_targets
from losslens.jobs import JobRegistry
from losslens.workers import JobSpec
job = JobRegistry().submit("left", JobSpec(worker_targets.wait_for_gate, ("left", sys.argv[1], sys.argv[2])))
while job.total != 1:
    time.sleep(0.01)
print(job.pid, flush=True)
signal.pause()   # until the test kills this "server"
"""


def test_a_worker_ends_when_its_server_is_killed(tmp_path):
    server = subprocess.Popen([sys.executable, "-c", ORPHANED, str(tmp_path / "never"), str(tmp_path / "log")],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "core"), str(ROOT / "tests")])})
    worker = int(server.stdout.readline())
    assert not process_gone(worker)
    server.kill()
    server.wait()
    until(lambda: process_gone(worker), "the orphaned worker to end")


def test_a_bad_max_jobs_setting_fails_the_job_in_one_line(monkeypatch):
    monkeypatch.setenv("LOSSLENS_MAX_JOBS", "0")
    job = finished(JobRegistry().submit("bad", JobSpec(worker_targets.count_to, (1,))))
    assert job.status == "failed" and job.pid is None
    assert job.error == "LOSSLENS_MAX_JOBS must be a whole number of jobs >= 1, not '0'"


def test_a_thread_job_cannot_be_cancelled():
    import threading

    gate = threading.Event()
    registry = JobRegistry()
    job = registry.submit("thread", lambda progress: gate.wait(HANG_GUARD))
    assert registry.cancel("thread") is False and job.status == "running"
    gate.set()
    assert finished(job).status == "done"


def test_a_killed_worker_fails_its_job_in_one_line_and_the_registry_serves_on(tmp_path):
    registry = JobRegistry()
    job = registry.submit("victim", gated("victim", tmp_path))
    until(lambda: job.total == 1, "the worker to start")
    os.kill(job.pid, signal.SIGKILL)   # what the kernel's out-of-memory killer does
    assert finished(job).status == "failed"
    assert job.error == "the job's process was killed (signal 9): out of memory?"
    assert isinstance(job.exception, WorkerDiedError) and str(job.exception) == job.error
    self_killed = finished(registry.submit("suicide", JobSpec(worker_targets.kill_myself)))
    assert self_killed.error == job.error
    assert finished(registry.submit("next", JobSpec(worker_targets.count_to, (3,)))).result["sum"] == 6


def test_a_worker_error_keeps_its_type_attributes_and_first_line():
    job = finished(JobRegistry().submit("refused", JobSpec(worker_targets.refuse_labels)))
    assert job.status == "failed" and job.error == "the model's labels differ from the dataset's second line"
    assert isinstance(job.exception, LabelMismatchError) and job.exception.__traceback__ is None
    assert (job.exception.model_labels, job.exception.dataset_labels) == (("neg", "pos"), ("bad", "good"))


def test_a_spec_that_cannot_travel_fails_at_submit():
    registry = JobRegistry()
    with pytest.raises(TypeError, match="cannot be sent to a worker process.*module-level function"):
        registry.submit("closure", JobSpec(lambda progress: 1))
    with pytest.raises(TypeError, match="cannot be sent to a worker process"):
        registry.submit("argument", JobSpec(worker_targets.count_to, (lambda: 3,)))
    assert len(registry) == 0


@pytest.mark.parametrize("setting", ["1", None])
def test_the_worker_computes_on_the_threads_it_is_given(monkeypatch, setting):
    if setting is None:
        monkeypatch.delenv("LOSSLENS_JOB_THREADS", raising=False)
    else:
        monkeypatch.setenv("LOSSLENS_JOB_THREADS", setting)
    threads = int(setting) if setting else len(os.sched_getaffinity(0))
    job = finished(JobRegistry().submit("threads", JobSpec(worker_targets.thread_settings)))
    assert job.status == "done", job.error
    assert job.result["torch"] == threads
    assert job.result["blas"] == [threads]
    assert job.result["environment"] == {"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
                                         "MKL_NUM_THREADS": str(threads), "RAYON_NUM_THREADS": str(threads),
                                         "TOKENIZERS_PARALLELISM": "true" if threads > 1 else "false"}


def test_scoring_runs_in_a_worker_then_opens_from_the_cache(tmp_path, tiny_classifier_dir):
    request = reviews_request(write_reviews_csv(tmp_path / "reviews.csv"), tiny_classifier_dir, batch_size=8)
    registry = JobRegistry()
    job = finished(registry.submit("score", scoring_job(request), watcher="tab"))
    assert job.status == "done", job.error
    data, results = job.result
    assert job.pid is not None and results.from_cache is False and (job.done, job.total) == (40, 40)
    _, in_process = score(request)           # the same request here: a cache hit of what the worker wrote
    assert in_process.from_cache is True and in_process.key == results.key
    pd.testing.assert_frame_equal(results.table, in_process.table)
    registry.release("score", "tab")
    again = finished(registry.submit("score", scoring_job(request)))
    assert again is not job and again.pid is None and again.result[1].from_cache is True   # no worker for a hit


def test_a_reviewer_job_on_unscored_data_fails_without_a_worker(tmp_path, tiny_classifier_dir):
    request = reviews_request(write_reviews_csv(tmp_path / "reviews.csv"), tiny_classifier_dir)
    job = finished(JobRegistry().submit("open", scoring_job(request, compute=False)))
    assert job.status == "failed" and job.pid is None and "has not been scored" in job.error


def test_a_killed_scoring_leaves_no_half_file_a_later_run_reads(tmp_path, tiny_classifier_dir, losslens_home,
                                                                monkeypatch):
    request = reviews_request(write_reviews_csv(tmp_path / "reviews.csv", n=1100), tiny_classifier_dir, batch_size=32)
    registry = JobRegistry()
    job = registry.submit("killed", scoring_job(request))
    until(lambda: job.done > 0 or job.status in FINISHED, "the first batch")
    os.kill(job.pid, signal.SIGKILL)
    assert finished(job).status == "failed" and job.done < job.total    # killed mid-run
    for path in (p for p in losslens_home.rglob("*.npy") if not p.name.endswith(".tmp")):
        assert load_array(path) is not None, f"{path} is half written"
    resumed = finished(registry.submit("resumed", scoring_job(request)))
    assert resumed.status == "done", resumed.error
    monkeypatch.setenv("LOSSLENS_HOME", str(tmp_path / "clean_home"))
    _, clean = score(request)
    pd.testing.assert_frame_equal(resumed.result[1].table, clean.table)


def test_retraining_evaluation_and_simulation_jobs_equal_their_calls_here(tmp_path, tiny_encoder_dir, monkeypatch):
    from losslens.activelab.annotations import MultiAnnotatorData, simulate_annotators
    from losslens.activelab.results import SimulationSettings
    from losslens.activelab.simulation import simulate
    from losslens.scoring.evaluation import evaluate
    from losslens.scoring.retrain import rescore_with_decisions

    request = reviews_request(write_reviews_csv(tmp_path / "reviews.csv", n=30), tiny_encoder_dir, folds=3)
    data, results = score(request)
    applied = pd.DataFrame({"position": [0, 1, 2], "example_id": list(data.ids[:3]),
                            "status": ["relabeled", "confirmed", "removed"],
                            "new_label": [data.label_names[1 - data.labels[0]], None, None]})
    registry = JobRegistry()
    retrained = registry.submit("retrain", retraining_job(data, request.model, request.settings, results, applied))
    evaluated = registry.submit("evaluate", evaluation_job(data, request.model, request.settings, seeds=2, rate=0.2))
    truth = np.arange(60) % 2
    labels, _ = simulate_annotators(truth, 2, n_annotators=5, per_example=3, error_range=(0.1, 0.3), seed=0)
    crowd = MultiAnnotatorData(np.array([f"t{i}" for i in range(60)], dtype=object),
                               np.array(list(data.texts) * 2, dtype=object), labels, tuple(f"a{m}" for m in range(5)),
                               ("neg", "pos"), "synthetic")
    settings = SimulationSettings(rounds=2, batch=4, seeds=1, initial=12, pool=20, test=10, folds=2)
    simulated = registry.submit("simulate", simulation_job(crowd, settings, model=str(tiny_encoder_dir)))

    rescored, accuracy = finished(retrained).result
    expected_table, expected_accuracy = rescore_with_decisions(data, request.model, request.settings, results, applied)
    pd.testing.assert_frame_equal(rescored.table, expected_table.table)
    assert accuracy == expected_accuracy and rescored.key == expected_table.key
    assert finished(evaluated).result.runs == evaluate(data, request.model, request.settings, seeds=2, rate=0.2).runs
    result = finished(simulated).result
    assert simulated.status == "done", simulated.error
    hit = simulate(crowd, settings, model=str(tiny_encoder_dir))    # the worker saved it in the simulation cache
    assert hit.from_cache is True
    for strategy in ("activelab", "random"):
        np.testing.assert_array_equal(result.accuracy[strategy], hit.accuracy[strategy])
    again = finished(registry.submit("simulate again", simulation_job(crowd, settings, model=str(tiny_encoder_dir))))
    assert again.pid is None and again.result.from_cache is True


def test_scoring_uses_the_ray_cluster_of_losslens_ray_address(monkeypatch, tmp_path):
    import losslens.worker_jobs

    monkeypatch.delenv("LOSSLENS_RAY_ADDRESS", raising=False)
    assert scoring_engine() is None
    monkeypatch.setenv("LOSSLENS_RAY_ADDRESS", "10.1.2.3:6379")
    engine = scoring_engine()
    assert (type(engine).__name__, engine.address, engine.concurrency) == ("RayEngine", "10.1.2.3:6379", 1)
    engines = []

    class Results:
        from_cache, seconds = False, 1.5

    monkeypatch.setattr(losslens.worker_jobs, "score",
                        lambda request, progress, compute, engine: engines.append(engine) or (None, Results()))
    assert run_scoring(None, "request", True) == (False, 1.5) and engines[0].address == "10.1.2.3:6379"


DRIVER = """
import gc, json, os, sys, time
from losslens.jobs import FINISHED, JobRegistry
from losslens.worker_jobs import scoring_job
from losslens.scoring.models import ModelSpec
from losslens.scoring.request import ScoreRequest, ScoreSettings
from losslens.sources.datasets import ColumnMapping, DatasetSource

csvs, model = json.loads(sys.argv[1]), sys.argv[2]
registry = JobRegistry()

def run(key, csv):
    request = ScoreRequest(DatasetSource.parse(csv), ColumnMapping("review", "sentiment", "id"),
                           model=ModelSpec(model, precision="fp32"), settings=ScoreSettings(batch_size=8))
    job = registry.submit(key, scoring_job(request), watcher="tab")
    deadline = time.monotonic() + 300
    while job.status not in FINISHED and time.monotonic() < deadline:
        time.sleep(0.01)
    registry.release(key, "tab")
    return {"status": job.status, "error": job.error, "worker": job.pid is not None,
            "from_cache": job.result[1].from_cache if job.result else None, "torch": "torch" in sys.modules}

def resident():
    gc.collect()
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

report = {"computed": run("first", csvs[0]), "hit": run("first", csvs[0])}
before = resident()
report["more"] = [run(f"more-{n}", csv) for n, csv in enumerate(csvs[1:])]
report["rss"] = [before, resident()]
report["modules"] = sorted(m for m in ("torch", "cleanlab", "sklearn", "transformers") if m in sys.modules)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def driven_server(tmp_path_factory, tiny_classifier_dir) -> dict:
    """A fresh process standing in for the server: it drives a registry through a scoring job that
    runs in a worker, one that is a cache hit, then four more scorings of new data, and reports."""
    folder = tmp_path_factory.mktemp("driven")
    csvs = [str(write_reviews_csv(folder / f"reviews{n}.csv", n=200, seed=n)) for n in range(5)]
    env = {**os.environ, "LOSSLENS_HOME": str(folder / "home"), "PYTHONPATH": str(ROOT / "core")}
    run = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(csvs), str(tiny_classifier_dir)],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_server_never_imports_torch_for_scoring(driven_server):
    assert driven_server["computed"] == {"status": "done", "error": None, "worker": True, "from_cache": False,
                                         "torch": False}
    assert driven_server["hit"] == {"status": "done", "error": None, "worker": False, "from_cache": True,
                                    "torch": False}
    assert driven_server["modules"] == []      # nor cleanlab, sklearn or transformers


def test_the_server_memory_returns_to_its_level_after_jobs(driven_server):
    assert [job["status"] for job in driven_server["more"]] == ["done"] * 4
    assert all(job["worker"] and not job["from_cache"] for job in driven_server["more"])
    before, after = driven_server["rss"]
    assert after / before < 1.10, f"{before / 2**20:.0f} MB -> {after / 2**20:.0f} MB"


def test_the_worker_environment_sizes_every_pool_and_finds_this_checkout(monkeypatch):
    from losslens.workers import worker_environment

    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setenv("OMP_NUM_THREADS", "64")
    environment = worker_environment(3)
    assert [environment[name] for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                           "RAYON_NUM_THREADS", "TOKENIZERS_PARALLELISM")] == ["3"] * 4 + ["true"]
    assert environment["PYTHONPATH"] == os.pathsep.join([str(ROOT / "core"), "/elsewhere"])
    assert worker_environment(1)["TOKENIZERS_PARALLELISM"] == "false" and os.environ["OMP_NUM_THREADS"] == "64"


def test_death_lines_and_exceptions_that_cannot_travel_whole():
    from losslens.workers import death_message, exception_state, rebuild_exception

    assert death_message(-9) == "the job's process was killed (signal 9): out of memory?"
    assert death_message(-11) == "the job's process was killed (signal 11, SIGSEGV)"
    assert death_message(3) == "the job's process exited with code 3 before it finished"
    unpicklable = ValueError("bad rows", lambda: 0)
    assert rebuild_exception(exception_state(unpicklable)).args == (str(unpicklable),)
    assert isinstance(rebuild_exception(exception_state(unpicklable)), ValueError)
    foreign = exception_state(KeyError("x"))._replace(module="gpu_library_not_imported", name="OutOfMemoryError",
                                                      args=("CUDA out of memory",))
    rebuilt = rebuild_exception(foreign)       # the server imports no library just to name its error
    assert type(rebuilt) is RuntimeError and str(rebuilt) == "OutOfMemoryError: CUDA out of memory"
    assert "gpu_library_not_imported" not in sys.modules
