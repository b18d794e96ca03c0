"""Test shorthand: load a dataset from a CLI-style string, as `losslens score DATASET` would."""
from __future__ import annotations

from losslens.sources.datasets import ColumnMapping, DatasetSource, LabeledTexts, load_dataset


def load_path(source: str, columns: ColumnMapping | None = None, *, split: str = "train",
              drop_empty: bool = False, name: str | None = None) -> LabeledTexts:
    return load_dataset(DatasetSource.parse(str(source), split=split), columns, drop_empty=drop_empty, name=name)


def load_upload(filename: str, data: bytes, columns: ColumnMapping | None = None, *,
                drop_empty: bool = False) -> LabeledTexts:
    return load_dataset(DatasetSource.from_upload(filename, data), columns, drop_empty=drop_empty)
