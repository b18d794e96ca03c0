"""Tiny random BERT models built from a config (no downloads), saved with the bundled tokenizer."""
from __future__ import annotations

from pathlib import Path


def build_tiny_classifier(folder: Path, label_names: list[str], seed: int = 0) -> Path:
    """Save a random 2-layer BERT sequence classifier (bundled MiniLM tokenizer) into `folder`."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from losslens.scoring.models import bundled_encoder_path

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

    from losslens.scoring.models import bundled_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(bundled_encoder_path())
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=37, max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
