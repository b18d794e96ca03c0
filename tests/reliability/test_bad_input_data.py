"""Issue 5, bad input: every data problem is one specific DataError line (or loads correctly)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loading import load_path, load_upload
from losslens import config
from losslens.sources.datasets import ColumnMapping, content_ids
from losslens.errors import DataError
from losslens.sources.files import read_table, resolve_user_path


def load_bytes(tmp_path, name: str, content: bytes, **kwargs):
    """Write `content` to tmp_path/name and load it with losslens.sources.datasets."""
    path = tmp_path / name
    path.write_bytes(content)
    return load_path(str(path), **kwargs)


def error_of(call, *args, **kwargs) -> str:
    """The DataError message raised by call(*args, **kwargs); it must be one line."""
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_zero_byte_file(tmp_path):
    assert error_of(load_bytes, tmp_path, "empty.csv", b"") == "file 'empty.csv' is empty (0 bytes)"


@pytest.mark.parametrize("name", ["garbage.csv", "garbage.jsonl", "garbage.tsv"])
def test_binary_garbage(tmp_path, name):
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert "does not look like text (binary content)" in error_of(load_bytes, tmp_path, name, noise)


def test_binary_without_nul_bytes(tmp_path):
    noise = bytes(range(1, 32)) * 50 + b"text,label\n"
    assert "binary content" in error_of(load_bytes, tmp_path, "ctl.csv", noise)


def test_garbage_parquet(tmp_path):
    assert "is not a readable Parquet file" in error_of(load_bytes, tmp_path, "x.parquet", b"not parquet")


def test_parquet_file_named_csv(tmp_path):
    path = tmp_path / "really.parquet"
    pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}).to_parquet(path)
    assert "binary content" in error_of(load_bytes, tmp_path, "wrong.csv", path.read_bytes())


def test_csv_with_quoted_newlines_and_commas_loads(tmp_path):
    content = b'id,text,label\n1,"Hello, world\nsecond line, ""quoted""",a\n2,"x,y,z",b\n'
    data = load_bytes(tmp_path, "q.csv", content, columns=ColumnMapping(id="id"))
    assert list(data.texts) == ['Hello, world\nsecond line, "quoted"', "x,y,z"]
    assert list(data.ids) == ["1", "2"]


def test_utf8_bom_is_stripped(tmp_path):
    data = load_bytes(tmp_path, "bom.csv", "\ufefftext,label\ncafé,a\nthé,b\n".encode("utf-8"))
    assert list(data.frame.columns) == ["text", "label"] and list(data.texts) == ["café", "thé"]


def test_latin1_text_loads(tmp_path):
    content = "text,label\nna\xefve caf\xe9,a\n£5 \xbd off,b\n".encode("latin-1")
    data = load_bytes(tmp_path, "l1.csv", content)
    assert list(data.texts) == ["naïve café", "£5 ½ off"]


def test_utf16_with_bom_loads(tmp_path):
    data = load_bytes(tmp_path, "u16.tsv", "text\tlabel\nnaïve\ta\n日本\tb\n".encode("utf-16"))
    assert list(data.texts) == ["naïve", "日本"]


def test_header_only(tmp_path):
    assert error_of(load_bytes, tmp_path, "h.csv", b"text,label\n") == \
        "file 'h.csv' has a header (text, label) but no rows"


def test_blank_lines_only(tmp_path):
    assert "has no header row" in error_of(load_bytes, tmp_path, "blank.csv", b"\n\n\n")


def test_malformed_csv(tmp_path):
    assert "is not a readable CSV file" in error_of(load_bytes, tmp_path, "bad.csv", b'a,b\n1,2,3,4\n"x,\n')


def test_malformed_jsonl_names_line(tmp_path):
    message = error_of(load_bytes, tmp_path, "bad.jsonl", b'{"text": "a", "label": 1}\n{"text": oops}\n')
    assert "line 2 is not valid JSON" in message


@pytest.mark.parametrize("mapping,role,missing", [
    (ColumnMapping(text="review", label="sentiment"), "text", "review"),
    (ColumnMapping(label="stars"), "label", "stars"),
])
def test_missing_column_lists_existing(tmp_path, mapping, role, missing):
    content = b"text,body,sentiment\nx,y,pos\nz,w,neg\n"
    message = error_of(load_bytes, tmp_path, "m.csv", content, columns=mapping)
    assert message == f"{role} column '{missing}' not found; the columns are: text, body, sentiment"


def test_missing_id_and_text2_columns(tmp_path):
    content = b"text,label\nx,a\ny,b\n"
    assert error_of(load_bytes, tmp_path, "i.csv", content, columns=ColumnMapping(id="uid")).startswith(
        "id column 'uid' not found; the columns are: text, label")
    assert error_of(load_bytes, tmp_path, "i.csv", content, columns=ColumnMapping(text2="body")).startswith(
        "text2 column 'body' not found")


def test_empty_and_whitespace_texts_named_or_dropped(tmp_path):
    content = b'text,label\nfine,a\n,b\n"   ",a\nok,b\n" \n\t",a\n'
    message = error_of(load_bytes, tmp_path, "e.csv", content)
    assert "empty or whitespace-only in 3 rows (row 1, 2, 4; row 0 is the first data row)" in message
    assert "--drop-empty" in message
    data = load_bytes(tmp_path, "e.csv", content, drop_empty=True)
    assert list(data.texts) == ["fine", "ok"] and list(data.ids) == content_ids(["fine", "ok"])
    assert data.frame["text"].tolist() == ["fine", "ok"] and list(data.frame.index) == [0, 1]


def test_all_texts_empty_with_drop(tmp_path):
    assert "every text in column 'text' is empty" in error_of(
        load_bytes, tmp_path, "all.csv", b'text,label\n" ",a\n"",b\n', drop_empty=True)


def test_many_empty_rows_are_summarised(tmp_path):
    content = b"text,label\n" + b",a\n" * 9 + b"x,b\n"
    assert "(row 0, 1, 2, 3, 4 and 4 more;" in error_of(load_bytes, tmp_path, "many.csv", content)


def test_one_class_only(tmp_path):
    message = error_of(load_bytes, tmp_path, "one.csv", b"text,label\na,pos\nb,pos\n")
    assert message == "label column 'label' has only one class ('pos'); at least two classes are needed"


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_label_nan_names_rows(tmp_path, suffix):
    frame = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x", None, "y", np.nan]})
    path = tmp_path / f"nan{suffix}"
    {".csv": lambda: frame.to_csv(path, index=False), ".parquet": lambda: frame.to_parquet(path),
     ".jsonl": lambda: frame.to_json(path, orient="records", lines=True)}[suffix]()
    message = error_of(load_path, str(path))
    assert "label column 'label' is missing (empty/NaN/unlabeled) in 2 rows (row 1, 3;" in message


def test_float_labels_with_nan_in_parquet_named(tmp_path):
    path = tmp_path / "f.parquet"
    pd.DataFrame({"text": ["a", "b", "c"], "label": [1.0, float("nan"), 0.0]}).to_parquet(path)
    assert "in 1 row (row 1;" in error_of(load_path, str(path))


def test_hundred_thousand_character_texts_load(tmp_path):
    long_text = "word " * 20_000 + "end"
    path = tmp_path / "long.csv"
    pd.DataFrame({"text": [long_text, "short"], "label": ["a", "b"]}).to_csv(path, index=False)
    data = load_path(str(path))
    assert len(data.texts[0]) == 100_003 and data.texts[0] == long_text


def test_duplicate_ids_named(tmp_path):
    content = b"id,text,label\nx,a,p\ny,b,n\nx,c,p\nz,d,n\ny,e,p\n"
    message = error_of(load_bytes, tmp_path, "d.csv", content, columns=ColumnMapping(id="id"))
    assert message == "id column 'id' has 2 duplicated ids ('x', 'y'); ids must be unique"


def test_empty_ids_named(tmp_path):
    content = b"id,text,label\nx,a,p\n,b,n\n"
    assert "id column 'id' is empty in 1 row (row 1;" in error_of(
        load_bytes, tmp_path, "ei.csv", content, columns=ColumnMapping(id="id"))


@pytest.mark.parametrize("nested", [[["a", "b"], ["c"]], [{"k": "v"}, {"k": "w"}]])
def test_parquet_nested_column_as_text(tmp_path, nested):
    path = tmp_path / "nested.parquet"
    pd.DataFrame({"tokens": nested, "text": ["a", "b"], "label": [0, 1]}).to_parquet(path)
    assert load_path(str(path)).texts.tolist() == ["a", "b"]  # unused nested column is fine
    message = error_of(load_path, str(path), columns=ColumnMapping(text="tokens"))
    assert message.startswith("column 'tokens' holds nested values (lists/structs)")


def test_unknown_extension_and_missing_file(tmp_path):
    assert "unsupported type '.xlsx'; use .csv, .tsv, .parquet, .jsonl" in error_of(
        load_bytes, tmp_path, "sheet.xlsx", b"PK\x03\x04")
    assert "unsupported type '(none)'" in error_of(load_bytes, tmp_path, "noext", b"text,label\n")
    assert "no such file or folder: 'nope.csv'" in error_of(load_path, "nope.csv")
    assert error_of(read_table, b"text,label\na,b\n").startswith("an upload needs a filename")


def test_hf_without_name():
    assert "hf: needs a dataset name" in error_of(load_path, "hf:")


def test_data_dir_confines_local_paths(tmp_path, monkeypatch):
    inside = tmp_path / "data"
    inside.mkdir()
    (inside / "ok.csv").write_text("text,label\na,x\nb,y\n")
    (tmp_path / "secret.csv").write_text("text,label\na,x\nb,y\n")
    (inside / "link.csv").symlink_to(tmp_path / "secret.csv")
    monkeypatch.setenv("LOSSLENS_DATA_DIR", str(inside))
    assert len(load_path("ok.csv")) == 2  # relative to the data directory
    assert len(load_path(str(inside / "ok.csv"))) == 2
    assert resolve_user_path("sub/../ok.csv") == (inside / "ok.csv").resolve()
    for escape in ["../secret.csv", str(tmp_path / "secret.csv"), "link.csv", "/etc/passwd", "~/x.csv"]:
        assert "outside the data directory" in error_of(load_path, escape)
        assert "outside the data directory" in error_of(read_table, escape)


def test_without_data_dir_paths_are_free(tmp_path, monkeypatch):
    monkeypatch.delenv("LOSSLENS_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.csv").write_text("text,label\na,x\nb,y\n")
    assert resolve_user_path("r.csv") == (tmp_path / "r.csv").resolve()


def test_upload_size_limit(monkeypatch, tmp_path):
    monkeypatch.setenv("LOSSLENS_MAX_UPLOAD_MB", "1")  # read when used, not at import
    payload = b"text,label\n" + b"some text,a\n" * 110_000
    message = error_of(load_upload, "big.csv", payload)
    assert "upload 'big.csv' is 1.3 MB, over the 1 MB limit (LOSSLENS_MAX_UPLOAD_MB)" in message
    assert len(load_upload("small.csv", b"text,label\na,x\nb,y\n")) == 2
    (tmp_path / "big.csv").write_bytes(payload)  # files on disk are capped too, before reading
    assert "file 'big.csv' is 1.3 MB, over the 1 MB limit" in error_of(load_path, str(tmp_path / "big.csv"))


def test_default_upload_limit_is_200_mb(monkeypatch):
    monkeypatch.delenv("LOSSLENS_MAX_UPLOAD_MB", raising=False)
    assert config.max_file_bytes() == 200 * 1024 * 1024


def test_upload_size_limit_applies_to_read_table(monkeypatch):
    monkeypatch.setenv("LOSSLENS_MAX_UPLOAD_MB", "0.00001")
    assert "over the 0 MB limit" in error_of(read_table, b"text,label\na,x\n", "preview.csv")


def test_unlabeled_class_label_rows_named(tmp_path):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    folder = tmp_path / "unlabeled"
    datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, -1, 1]}, features=features).save_to_disk(
        str(folder))
    assert "label column 'label' is missing (empty/NaN/unlabeled) in 1 row (row 1;" in error_of(
        load_path, str(folder))
