"""A fine-tuned transformer as a head (losslens.scoring.heads' contract, a ReportingHead): the
"finetune" head of scoring, and the ActiveLab simulation's classifier (the tutorial's setting).

Each `fit` fine-tunes a fresh copy of the model on the given rows, and a simulation fits
hundreds of times (K folds × rounds × seeds × strategies), so it is meant for a machine with a GPU.
The "features" handed to `fit` / `predict_proba` are row numbers into `texts`, shape (N, 1)
(`losslens.activelab.simulation.simulate` passes them when the classifier says `takes_text_rows`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from losslens.sources.datasets import texts_digest


def text_rows(n: int) -> np.ndarray:
    """(n, 1) int64 row numbers: the features to pass with a FineTunedTransformer."""
    return np.arange(n, dtype=np.int64)[:, None]


@dataclass(frozen=True)
class FineTunedTransformer:
    """Fine-tunes `model` (bundled:minilm, a Hub id or a local folder) with a new K-way head.

    epochs over the fit rows, AdamW at `learning_rate`, batches of `batch_size` texts truncated
    to `max_length` tokens; deterministic for a given seed on the CPU.
    """

    texts: tuple[str, ...] = field(repr=False)
    model: str = "bundled:minilm"
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 5e-5
    max_length: int = 64
    device: str = "auto"
    texts_digest: str = field(init=False, default="")
    takes_text_rows = True  # losslens.activelab.simulation.simulate passes row numbers instead of embeddings

    def __post_init__(self) -> None:
        object.__setattr__(self, "texts_digest", texts_digest(self.texts)[:16])  # in repr: part of the cache key

    def fit(self, features: np.ndarray, labels: np.ndarray, n_classes: int, seed: int,
            progress: Callable[[int], None] | None = None) -> "FineTunedHead":
        """Fine-tune a fresh copy on the rows `features` (N, 1) with `labels`; progress(n) after
        each batch with the training examples seen so far (over all epochs)."""
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from losslens.scoring.models import model_source, quiet_progress_bars, resolve_device

        source = model_source(self.model)
        device = resolve_device(self.device)
        torch.manual_seed(seed)
        tokenizer = AutoTokenizer.from_pretrained(source)
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "newly initialized head" is expected here, not news
        try:
            with quiet_progress_bars():
                network = AutoModelForSequenceClassification.from_pretrained(source, num_labels=n_classes)
        finally:
            hf_logging.set_verbosity(verbosity)
        network = network.to(device)
        optimizer = torch.optim.AdamW(network.parameters(), lr=self.learning_rate)
        rows, targets = np.asarray(features)[:, 0], torch.tensor(np.asarray(labels), dtype=torch.long)
        order_rng = np.random.default_rng(seed)
        network.train()
        seen = 0
        for _ in range(self.epochs):
            order = order_rng.permutation(len(rows))
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                inputs = self._encode(tokenizer, rows[batch], device)
                loss = network(**inputs, labels=targets[batch].to(device)).loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                seen += len(batch)
                if progress is not None:
                    progress(seen)
        network.eval()
        return FineTunedHead(self, network, tokenizer, device)

    def _encode(self, tokenizer, rows: np.ndarray, device) -> dict:
        texts = [self.texts[int(r)] for r in rows]
        encoded = tokenizer(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        return {k: v.to(device) for k, v in encoded.items()}


@dataclass
class FineTunedHead:
    """A fitted FineTunedTransformer: predict_proba(rows (U, 1)) -> (U, K) probabilities."""

    spec: FineTunedTransformer
    network: object
    tokenizer: object
    device: object

    def predict_proba(self, features: Sequence) -> np.ndarray:
        import torch

        rows = np.asarray(features)[:, 0]
        out = []
        with torch.inference_mode():
            for start in range(0, len(rows), 64):
                inputs = self.spec._encode(self.tokenizer, rows[start:start + 64], self.device)
                out.append(torch.softmax(self.network(**inputs).logits.float(), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.network.config.num_labels))
