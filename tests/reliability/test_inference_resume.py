"""Inference killed with SIGKILL half-way resumes from its finished chunks and gives the uninterrupted result."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from losslens.scoring.cache import ChunkStore
from losslens.scoring.inference import run_inference
from losslens.scoring.models import ModelSpec, load_model

REPO = Path(__file__).resolve().parents[2]
N_TEXTS, CHUNK, BATCH = 300, 40, 8

WORKER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, sys.argv[1])
    from losslens.scoring.cache import ChunkStore
    from losslens.scoring.inference import run_inference
    from losslens.scoring.models import ModelSpec, load_model

    class DiesAfterThreeChunks(ChunkStore):   # the kill lands half-way on any machine, no clock involved
        def save(self, index, array):
            super().save(index, array)
            if len(list(self.root.glob("chunk_*.npy"))) == 3:
                os.kill(os.getpid(), signal.SIGKILL)

    texts = [line for line in open(sys.argv[3], encoding="utf-8").read().split("\\n") if line]
    model = load_model(ModelSpec(sys.argv[2], "cpu", "fp32"))
    run_inference(model, texts, batch_size=%d, chunks=DiesAfterThreeChunks(sys.argv[4]), chunk_size=%d)
""" % (BATCH, CHUNK))


def texts(n: int) -> list[str]:
    rng = np.random.default_rng(1)
    words = "goal market film vote phone chip striker budget actor court".split()
    return [" ".join(rng.choice(words, size=int(rng.integers(2, 60)))) for _ in range(n)]


def test_sigkill_then_resume_equals_uninterrupted(tiny_classifier_dir, tmp_path):
    data = texts(N_TEXTS)
    (tmp_path / "texts.txt").write_text("\n".join(data), encoding="utf-8")
    (tmp_path / "worker.py").write_text(WORKER, encoding="utf-8")
    chunk_dir = tmp_path / "chunks"
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "worker.py"), str(REPO), str(tiny_classifier_dir),
         str(tmp_path / "texts.txt"), str(chunk_dir)],
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]

    n_chunks = -(-N_TEXTS // CHUNK)
    saved = ChunkStore(chunk_dir).load_all()
    assert len(saved) == 3 < n_chunks, "the kill lands after the third chunk"

    model = load_model(ModelSpec(str(tiny_classifier_dir), "cpu", "fp32"))
    calls: list[int] = []
    resumed = run_inference(model, data, batch_size=BATCH, chunks=ChunkStore(chunk_dir), chunk_size=CHUNK,
                            progress=lambda done, total: calls.append(done)).values
    assert calls[0] == sum(len(a) for a in saved.values())  # finished chunks were not recomputed
    uninterrupted = run_inference(model, data, batch_size=BATCH).values
    np.testing.assert_allclose(resumed, uninterrupted, atol=1e-5)
    assert len(ChunkStore(chunk_dir).load_all()) == n_chunks
