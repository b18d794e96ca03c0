"""`losslens score --engine ray` on one local Ray cluster (2 CPUs) per module, tiny classifier:
equal to the local engine, resumable after a killed driver, a cache hit for `losslens score` and
for the app. Option checks need no cluster. Skipped only where the Ray extra is not installed."""
from __future__ import annotations

import logging
import os
import re
import signal
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app_harness import scored_app, scoring, use_app_defaults, write_review_fixture
from losslens import cli
from losslens.scoring.cache import ChunkStore
from losslens.sources.datasets import ColumnMapping, DatasetSource
from losslens.scoring.inference import CHUNK_ROWS, run_inference
from losslens.scoring.models import ModelSpec, load_model, resolve_model
from losslens.scoring.pipeline import score
from losslens.scoring.request import ScoreRequest, ScoreSettings, default_request
from cli_runner import SUMMARY, losslens_killed_after_first_chunk
from review_data import review_args, write_reviews_csv



@pytest.fixture(scope="module")
def ray_address() -> str:
    """A local 2-CPU Ray cluster started in this process (RayEngine reuses the connection);
    its GCS address lets `losslens score --address` subprocesses join it. The environment
    variables and SIGTERM handler ray.init sets are put back after."""
    ray = pytest.importorskip("ray", reason="the Ray extra is not installed: pip install 'losslens[ray]'")
    environment, sigterm = dict(os.environ), signal.getsignal(signal.SIGTERM)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    os.environ.clear()
    os.environ.update(environment)
    signal.signal(signal.SIGTERM, sigterm)


def reviews_request(csv: Path, model: Path, batch_size: int = 16) -> ScoreRequest:
    return ScoreRequest(DatasetSource.parse(str(csv)), ColumnMapping(text="review", label="sentiment", id="id"),
                        model=ModelSpec(str(model), precision="fp32"), settings=ScoreSettings(batch_size=batch_size))


def test_ray_engine_equals_the_local_engine(ray_address, tmp_path, monkeypatch, tiny_classifier_dir):
    from losslens.scoring.ray_engine import RayEngine

    request = reviews_request(write_reviews_csv(tmp_path / "reviews.csv", n=700), tiny_classifier_dir)
    monkeypatch.setenv("LOSSLENS_HOME", str(tmp_path / "local"))
    _, local = score(request)
    monkeypatch.setenv("LOSSLENS_HOME", str(tmp_path / "ray"))
    progress = []
    _, distributed = score(request, lambda done, total: progress.append((done, total)),
                           engine=RayEngine(concurrency=2))
    assert not distributed.from_cache and progress[-1] == (700, 700)
    outputs_key = local.entries.outputs.key
    assert (distributed.key, distributed.entries.outputs.key) == (local.key, outputs_key)
    assert sorted(p.name for p in (tmp_path / "ray" / "outputs").iterdir()) == [f"{outputs_key}.npy",
                                                                                f"{outputs_key}.tokens.npy"]
    np.testing.assert_array_equal(distributed.table["rank"], local.table["rank"])
    np.testing.assert_array_equal(distributed.table["is_issue"], local.table["is_issue"])
    np.testing.assert_allclose(distributed.probs(), local.probs(), atol=1e-5)
    assert not (tmp_path / "ray" / "chunks" / outputs_key).exists()   # dropped once the outputs are saved


def test_ray_engine_finishes_a_run_the_local_engine_began(ray_address, tmp_path, tiny_encoder_dir):
    """Both engines cut the same chunks: Ray computes only those missing, and the outputs match."""
    from losslens.scoring.ray_engine import RayEngine

    rng = np.random.default_rng(1)
    words = "the match ended with a late goal while markets fell and the film won prizes".split()
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 30)))) for _ in range(3 * CHUNK_ROWS + 40)]
    spec = ModelSpec(str(tiny_encoder_dir), "cpu", "fp32")
    model = load_model(spec)
    chunks = ChunkStore(tmp_path / "chunks")
    local = run_inference(model, texts, batch_size=8, chunks=chunks)
    for index in (1, 3):
        (tmp_path / "chunks" / f"chunk_{index:06d}.npy").unlink()
    progress = []
    outputs = RayEngine()(resolve_model(spec), model, texts, ScoreSettings(batch_size=8), chunks,
                          lambda done, total: progress.append(done))
    assert progress[0] == 2 * CHUNK_ROWS                     # chunks 0 and 2 resumed, 1 and 3 computed
    assert sorted(chunks.load_all()) == [0, 1, 2, 3]
    np.testing.assert_allclose(outputs.values, local.values, atol=1e-5)
    np.testing.assert_array_equal(outputs.token_counts, local.token_counts)


def test_a_killed_ray_driver_resumes_from_its_chunks(ray_address, tmp_path, tiny_classifier_dir, losslens_home,
                                                     capsys, monkeypatch):
    n = 4 * CHUNK_ROWS - 100
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=n)
    args = ["score", *review_args(csv, tiny_classifier_dir), "--batch-size", "16", "--max-length", "64",
            "--engine", "ray", "--address", ray_address]
    losslens_killed_after_first_chunk(*args, env_home=losslens_home)
    finished = sorted(int(p.stem.removeprefix("chunk_")) for p in (losslens_home / "chunks").glob("*/chunk_*.npy"))
    assert len(finished) == 1
    resumed_rows = sum(min(CHUNK_ROWS, n - i * CHUNK_ROWS) for i in finished)

    assert cli.main([*args, "--out", str(tmp_path / "resumed.csv")]) == 0
    captured = capsys.readouterr()
    first_progress = int(re.search(rf"(\d+)/{n}", captured.err).group(1))
    assert first_progress == resumed_rows                   # only the missing chunks ran again
    assert SUMMARY.match(captured.out).group(5) == "miss"

    fresh = ["score", *review_args(csv, tiny_classifier_dir), "--batch-size", "16", "--max-length", "64"]
    monkeypatch.setenv("LOSSLENS_HOME", str(tmp_path / "fresh_home"))
    assert cli.main([*fresh, "--out", str(tmp_path / "fresh.csv")]) == 0
    resumed, reference = pd.read_csv(tmp_path / "resumed.csv"), pd.read_csv(tmp_path / "fresh.csv")
    np.testing.assert_array_equal(resumed["rank"], reference["rank"])
    pd.testing.assert_frame_equal(resumed, reference, rtol=1e-5)


def test_a_ray_scored_entry_is_a_cache_hit_for_losslens_score_and_the_app(ray_address, tmp_path, monkeypatch,
                                                                         tiny_classifier_dir, capsys):
    from losslens.scoring.ray_engine import RayEngine

    csv = write_review_fixture(tmp_path / "fixture.csv", n=600)
    use_app_defaults(monkeypatch, csv, tiny_classifier_dir, warm=False)   # the app's first load scores this request
    _, scored = score(default_request(), engine=RayEngine(concurrency=2))
    assert not scored.from_cache

    assert cli.main(["score", str(csv), "--model", str(tiny_classifier_dir)]) == 0
    rows, _, issues, _, cache, _, _ = SUMMARY.match(capsys.readouterr().out).groups()
    assert (rows, cache, issues) == ("600", "hit", str(scored.n_issues))

    at = scored_app()
    results = scoring(at).results
    assert results.from_cache and results.key == scored.key
    assert at.success[0].value.startswith("Loaded from cache")
    pd.testing.assert_frame_equal(results.table, scored.table)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("options, message", [
    (["--concurrency", "2"], "--concurrency is only used with --engine ray"),
    (["--address", "auto", "--num-gpus", "1"], "--address, --num-gpus are only used with --engine ray"),
    (["--engine", "ray", "--concurrency", "0"], "--concurrency must be at least 1 (got 0)"),
    (["--engine", "ray", "--num-cpus", "nan"], "--num-cpus must be a positive number"),
    (["--engine", "ray", "--num-gpus", "-1"], "--num-gpus must be 0 or more (got -1.0)"),
    (["--engine", "ray", "--address", " "], "--address is empty"),
    (["--engine", "ray", "--concurrency", "two"], "argument --concurrency: invalid int value: 'two'"),
    (["--engine", "dask"], "argument --engine: invalid choice: 'dask'"),
])
def test_bad_engine_options_are_one_line_and_exit_2(tmp_path, tiny_classifier_dir, capsys, options, message):
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=12)
    try:
        code = cli.main(["score", *review_args(csv, tiny_classifier_dir), *options])
    except SystemExit as exit_:   # argparse's own checks
        code = exit_.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("losslens: error:") and message in err[0]


def test_engine_ray_without_ray_installed_names_the_extra(tmp_path, tiny_classifier_dir, capsys, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real_find_spec(name, *a))
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=12)
    assert cli.main(["score", *review_args(csv, tiny_classifier_dir), "--engine", "ray"]) == 2
    assert capsys.readouterr().err.strip() == "losslens: error: --engine ray needs Ray: pip install 'losslens[ray]'"


def test_a_cluster_that_cannot_be_reached_or_is_too_small_is_one_line(ray_address, tmp_path, tiny_classifier_dir,
                                                                     capsys):
    csv = write_reviews_csv(tmp_path / "reviews.csv", n=12)
    base = ["score", *review_args(csv, tiny_classifier_dir), "--engine", "ray"]
    closed = f"127.0.0.1:{free_port()}"
    assert cli.main([*base, "--address", closed]) == 2
    assert f"losslens: error: nothing answers at {closed}" in capsys.readouterr().err
    assert cli.main([*base, "--address", ray_address, "--concurrency", "3"]) == 2
    assert ("the Ray cluster has 2 CPUs and 0 GPUs: 3 workers x 1 CPUs and 0 GPUs each do not fit"
            in capsys.readouterr().err)
