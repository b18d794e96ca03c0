"""Shared fixtures: offline Hub, an isolated LOSSLENS_HOME, tiny models built from a config."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
POLITENESS_CSV = SHARED_DATA / "politeness" / "wikipedia.annotated.csv"


@pytest.fixture(autouse=True)
def losslens_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own cache/store directory."""
    home = tmp_path / "losslens_home"
    monkeypatch.setenv("LOSSLENS_HOME", str(home))
    return home


def build_tiny_classifier(folder: Path, label_names: list[str], seed: int = 0) -> Path:
    """Save a random 2-layer BERT sequence classifier (bundled MiniLM tokenizer) into `folder`."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from core.models import bundled_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(bundled_encoder_path())
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
        num_labels=len(label_names),
        id2label={i: n for i, n in enumerate(label_names)},
        label2id={n: i for i, n in enumerate(label_names)},
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_encoder(folder: Path, seed: int = 0) -> Path:
    """Save a random 2-layer BERT encoder (no classification head) into `folder`."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from core.models import bundled_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(bundled_encoder_path())
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=37, max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory) -> Path:
    """A random tiny classifier with labels ['neg', 'pos']."""
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny_clf"), ["neg", "pos"])


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A random tiny encoder (no head)."""
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny_enc"))
