"""Issue 22, loading: one encoding per file, no NUL character anywhere it would be exported, and a
bounded number of classes. Each refusal is one DataError line that names the line, row or column."""
from __future__ import annotations

import pandas as pd
import pytest

from loading import load_path, load_upload
from losslens.config import max_classes
from losslens.errors import ConfigError, DataError
from losslens.sources.datasets import ColumnMapping, labeled_texts_from_frame
from losslens.sources.files import read_table

UTF8_ROWS = "".join(f"Café numéro {i},a\n" for i in range(40))


def refusal(call, *args, **kwargs) -> str:
    """The one-line DataError message of call(*args, **kwargs)."""
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    assert "\n" not in str(info.value) and len(str(info.value)) <= 300
    return str(info.value)


def test_one_latin1_row_among_utf8_rows_is_refused_with_its_line(tmp_path):
    content = b"text,label\n" + UTF8_ROWS.encode("utf-8") + "Straße,b\n".encode("latin-1")
    path = tmp_path / "mixed.csv"
    path.write_bytes(content)
    message = refusal(load_path, str(path))
    assert message.startswith("file 'mixed.csv' mixes text encodings: line 42 is not UTF-8 (byte 0xdf in 'Straße,b')")
    assert "but line 2 is" in message and "save the whole file as UTF-8" in message


@pytest.mark.parametrize("content, bad_line, utf8_part", [
    ("text,label\nStraße,b\n".encode("latin-1") + UTF8_ROWS.encode(), 2, "line 3 is"),       # Latin-1 first
    ("\ufefftext,label\nok,a\n".encode() + "Straße,b\n".encode("latin-1"), 3,                  # a UTF-8 BOM says UTF-8
     "the file starts with a UTF-8 byte-order mark"),
    (b'{"text": "Caf\xc3\xa9", "label": "a"}\n{"text": "Stra\xdfe", "label": "b"}\n', 2, "line 1 is"),
])
def test_other_mixes_of_encodings_are_refused(content, bad_line, utf8_part):
    name = "mixed.jsonl" if content.startswith(b"{") else "mixed.csv"
    message = refusal(load_upload, name, content)
    assert f"mixes text encodings: line {bad_line} is not UTF-8" in message and utf8_part in message


def test_one_encoding_per_file_still_loads_exactly():
    latin1 = "text,label\nStraße,a\ncafé,b\n".encode("latin-1")
    cp1252 = "text,label\n“quoted” €5,a\ncafé,b\n".encode("cp1252")
    utf8 = ("\ufefftext,label\n" + UTF8_ROWS + "Straße,b\n").encode("utf-8")
    assert list(load_upload("l.csv", latin1).texts) == ["Straße", "café"]
    assert list(load_upload("w.csv", cp1252).texts) == ["“quoted” €5", "café"]
    assert load_upload("u.csv", utf8).texts[-1] == "Straße" and load_upload("u.csv", utf8).texts[0] == "Café numéro 0"


def test_two_files_joined_into_one_are_refused_at_the_second_byte_order_mark():
    joined = ("\ufefftext,label\nhello,a\n" + "\ufefftext,label\nworld,b\n").encode("utf-8")
    message = refusal(read_table, joined, "joined.csv")
    assert "line 3 starts with a byte-order mark (U+FEFF)" in message
    # a cell that merely starts with U+FEFF is data, not a second file (found by the CSV round-trip property)
    cell = "id,text,label\n0,0,pos\n\ufeff,0,neg\n".encode("utf-8")
    assert read_table(cell, "cell.csv")["id"].tolist() == ["0", "\ufeff"]


@pytest.mark.parametrize("frame, columns, expected", [
    (pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "y\x00", "x"]}), ColumnMapping(),
     "label column 'label' holds a NUL character in 1 row (row 1;"),
    (pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "y", "x"], "id": ["1", "2", "3\x00"]}),
     ColumnMapping(id="id"), "id column 'id' holds a NUL character in 1 row (row 2;"),
    (pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "y", "x"], "title": ["t\x00", "u", "v"]}), ColumnMapping(),
     "column 'title' holds a NUL character in 1 row (row 0;"),
    (pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "y", "x"], "more": ["t", "u", "v\x00"]}),
     ColumnMapping(text2="more"), "second text column 'more' holds a NUL character in 1 row (row 2;"),
    (pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "y", "x"], "ti\x00tle": ["t", "u", "v"]}), ColumnMapping(),
     "a column name holds a NUL character ('ti\\x00tle')"),
])
def test_nul_is_refused_in_labels_ids_and_every_exported_column(frame, columns, expected):
    assert expected in refusal(labeled_texts_from_frame, frame, columns, "nul")


def test_nul_in_a_jsonl_label_and_in_the_dataset_name_is_refused(tmp_path):
    path = tmp_path / "nul.jsonl"
    path.write_text('{"text": "fine", "label": "a"}\n{"text": "also fine", "label": "b\\u0000"}\n')
    assert "label column 'label' holds a NUL character in 1 row (row 1;" in refusal(load_path, str(path))
    path.write_text('{"text": "fine", "label": "a"}\n{"text": "also fine", "label": "b"}\n')
    assert "the dataset name 'news\\x00' holds a NUL character" in refusal(load_path, str(path), name="news\x00")


def test_classes_are_capped_at_load(monkeypatch):
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(6_000)], "label": [str(i % 2_000) for i in range(6_000)]})
    monkeypatch.delenv("LOSSLENS_MAX_CLASSES", raising=False)
    assert max_classes() == 1_000
    message = refusal(labeled_texts_from_frame, frame, ColumnMapping(), "wide")
    assert message.startswith("label column 'label' has 2,000 classes, more than the 1,000 LossLens takes "
                              "(LOSSLENS_MAX_CLASSES)")
    monkeypatch.setenv("LOSSLENS_MAX_CLASSES", "2000")
    assert labeled_texts_from_frame(frame, ColumnMapping(), "wide").n_classes == 2_000
    monkeypatch.setenv("LOSSLENS_MAX_CLASSES", "3")
    small = pd.DataFrame({"text": list("abcd"), "label": list("wxyz")})
    assert "has 4 classes, more than the 3" in refusal(labeled_texts_from_frame, small, ColumnMapping(), "s")


def test_a_class_label_feature_with_too_many_names_is_refused(monkeypatch):
    monkeypatch.setenv("LOSSLENS_MAX_CLASSES", "10")
    frame = pd.DataFrame({"text": ["a", "b"], "label": [0, 1]})
    message = refusal(labeled_texts_from_frame, frame, ColumnMapping(), "hub", class_names=[f"c{i}" for i in range(11)])
    assert "has 11 classes, more than the 10" in message


@pytest.mark.parametrize("variable, value, expected", [
    ("LOSSLENS_MAX_CLASSES", "1", "LOSSLENS_MAX_CLASSES must be a whole number of classes >= 2, not '1'"),
    ("LOSSLENS_MAX_CLASSES", "²", "LOSSLENS_MAX_CLASSES must be a whole number of classes >= 2, not '²'"),
    ("LOSSLENS_BATCHED_SCORING_ROWS", "²", "LOSSLENS_BATCHED_SCORING_ROWS must be a whole number of rows >= 1"),
    ("LOSSLENS_MAX_UPLOAD_MB", "inf", "LOSSLENS_MAX_UPLOAD_MB must be a positive number of megabytes, not 'inf'"),
    ("LOSSLENS_MAX_UPLOAD_MB", "1e400", "LOSSLENS_MAX_UPLOAD_MB must be a positive number of megabytes"),
])
def test_numeric_settings_out_of_range_are_one_line(monkeypatch, variable, value, expected):
    from losslens import config

    monkeypatch.setenv(variable, value)
    reader = {"LOSSLENS_MAX_CLASSES": config.max_classes, "LOSSLENS_BATCHED_SCORING_ROWS": config.batched_scoring_rows,
              "LOSSLENS_MAX_UPLOAD_MB": config.max_file_bytes}[variable]
    with pytest.raises(ConfigError) as info:
        reader()
    assert expected in str(info.value)
