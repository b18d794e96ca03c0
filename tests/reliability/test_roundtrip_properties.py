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


# --- issue 22: a decision history read back from its own export is the identical history ---------

# Any unicode (no surrogates, no NUL or other control characters but tab, CR and newline), with the
# characters a spreadsheet runs as formulas and the ' that neutralises them.
history_text = st.text(printable("=+-@'\t\r\n,\""), max_size=12)
names = history_text.filter(bool)   # a dataset name, an example id, a label: never empty


@st.composite
def histories(draw) -> list[tuple]:
    """Decisions (dataset, id, given, new label or None, status, reviewer, note), 1 to 8 of them."""
    return draw(st.lists(st.tuples(
        names, names, names, st.one_of(st.none(), names),
        st.sampled_from(["relabeled", "confirmed", "ambiguous", "removed"]), history_text,
        st.one_of(st.none(), history_text)), min_size=1, max_size=8))


@PROPERTY
@given(rows=histories(), suffix=st.sampled_from([".csv", ".parquet"]), raw=st.booleans())
def test_history_export_reads_back_identically(tmp_path_factory, rows, suffix, raw):
    from losslens.store.decisions import DecisionStore
    from losslens.store.history_files import export_history, history_export, import_history

    folder = tmp_path_factory.mktemp("history")
    source = DecisionStore(folder / "source.sqlite")
    for dataset, example, given_label, new_label, status, reviewer, note in rows:
        if status == "relabeled" and new_label is None:
            status = "ambiguous"
        source.record(dataset, example, given_label, new_label, status, reviewer, text_hash="h", note=note)
    source.undo_last(rows[0][0])
    original = history_export(source)
    path = folder / f"history{suffix}"
    export_history(source, path, raw=raw)
    assert import_history(source, path).added == 0          # into the same store: adds nothing
    assert history_export(source).equals(original)
    fresh = DecisionStore(folder / "fresh.sqlite")
    import_history(fresh, path)
    assert history_export(fresh).equals(original)            # into a fresh one: identical rows
    again = folder / f"again{suffix}"
    export_history(fresh, again, raw=raw)
    assert suffix == ".parquet" or again.read_bytes() == path.read_bytes()
