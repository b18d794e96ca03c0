"""Issue 5, property tests: any texts/ids/labels written by pandas load back exactly."""
from __future__ import annotations

import csv
import io

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loading import load_path, load_upload
from losslens.sources.datasets import ColumnMapping

# Any printable unicode plus the characters that break naive CSV/JSON handling; no surrogates
# (not encodable as UTF-8) and no other control characters (those mark a file as binary).
# pandas' default to_csv leaves a bare "\r" unquoted (any CSV reader then splits the row there),
# so "\r" is only generated where the writer quotes it (QUOTE_ALL, JSON escapes).
SPECIAL = ',;"\'\n\t\\'


def printable(extra: str) -> st.SearchStrategy[str]:
    """Any unicode character but surrogates and control characters, plus `extra`."""
    return st.characters(exclude_categories=("Cs", "Cc"), include_characters=extra)


texts = st.text(printable(SPECIAL), min_size=1, max_size=60).filter(lambda t: t.strip())
texts_with_cr = st.text(printable(SPECIAL + "\r"), min_size=1, max_size=60).filter(lambda t: t.strip())
ids = st.text(printable(',"\n'), min_size=1, max_size=12)
labels = st.one_of(
    st.lists(st.sampled_from(["pos", "neg", "N/A", "null", "1.5", "a,b", 'q"t', "ünï", " sp "]),
             min_size=2, max_size=30),
    st.lists(st.integers(-5, 120), min_size=2, max_size=30),
)


@st.composite
def tables(draw, text_values=texts) -> pd.DataFrame:
    """A frame with unique ids, non-blank texts and at least two distinct labels."""
    label_values = draw(labels.filter(lambda values: len(set(values)) >= 2))
    n = len(label_values)
    return pd.DataFrame({
        "id": draw(st.lists(ids, min_size=n, max_size=n, unique=True)),
        "text": draw(st.lists(text_values, min_size=n, max_size=n)),
        "label": label_values,
    })


def expected_names(values: list) -> list[str]:
    """Label names as the loader defines them: distinct values, integers sorted numerically."""
    distinct = set(values)
    return [str(v) for v in sorted(distinct)]


def check_roundtrip(frame: pd.DataFrame, source: str, payload: bytes) -> None:
    data = load_upload(source, payload, ColumnMapping(id="id"))
    assert data.ids.tolist() == frame["id"].tolist()
    assert data.texts.tolist() == frame["text"].tolist()
    names = expected_names(frame["label"].tolist())
    assert list(data.label_names) == names
    assert [data.label_names[k] for k in data.labels] == [str(v) for v in frame["label"]]


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(tables())
def test_csv_roundtrip(frame):
    check_roundtrip(frame, "data.csv", frame.to_csv(index=False).encode("utf-8"))


@PROPERTY
@given(tables())
def test_tsv_roundtrip(frame):
    check_roundtrip(frame, "data.tsv", frame.to_csv(index=False, sep="\t").encode("utf-8"))


@PROPERTY
@given(tables(texts_with_cr))
def test_csv_quote_all_roundtrip_keeps_carriage_returns(frame):
    check_roundtrip(frame, "data.csv", frame.to_csv(index=False, quoting=csv.QUOTE_ALL).encode("utf-8"))


@PROPERTY
@given(tables(texts_with_cr))
def test_jsonl_roundtrip(frame):
    buffer = io.StringIO()
    frame.to_json(buffer, orient="records", lines=True, force_ascii=False)
    check_roundtrip(frame, "data.jsonl", buffer.getvalue().encode("utf-8"))


@PROPERTY
@given(frame=tables())
def test_csv_file_on_disk_with_bom_roundtrip(tmp_path_factory, frame):
    path = tmp_path_factory.mktemp("rt") / "data.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    data = load_path(str(path), columns=ColumnMapping(id="id"))
    assert data.ids.tolist() == frame["id"].tolist() and data.texts.tolist() == frame["text"].tolist()
