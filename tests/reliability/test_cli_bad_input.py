"""Every bad input of issue 5 through `losslens score`: exit code 2 and one specific line on stderr;
inputs that are merely awkward (quoted newlines, BOM, Latin-1, huge texts) score normally."""
import pandas as pd
import pytest

from losslens.cli import main
from tiny_models import build_tiny_classifier

GOOD_ROWS = "hello there,a\nfoo bar,b\nbaz qux,a\nquux corge,b\n"


def write(tmp_path, name: str, content: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["score", *args])
    out, err = capsys.readouterr()
    return code, out, err


BAD_FILES = {
    "zero_bytes": ("empty.csv", b"", "is empty (0 bytes)"),
    "binary_garbage": ("garbage.csv", bytes(range(256)) * 20, "binary content"),
    "header_only": ("header.csv", "text,label\n", "no rows"),
    "missing_text_column": ("nocol.csv", "body,label\nx,a\ny,b\n", "the columns are: body, label"),
    "whitespace_texts": ("ws.csv", "text,label\nhello,a\n   ,b\n\"\",a\nfoo,b\n", "row 1, 2"),
    "one_class": ("one.csv", "text,label\nhello,a\nfoo,a\n", "only one class ('a')"),
    "nan_label": ("nan.csv", "text,label\nhello,a\nfoo,\nbar,b\n", "missing (empty/NaN/unlabeled) in 1 row (row 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_exits_2_with_a_specific_line(capsys, tmp_path, case):
    name, content, message = BAD_FILES[case]
    code, out, err = run_cli(capsys, write(tmp_path, name, content))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("losslens: error:") and message in err


def test_duplicate_ids_are_named(capsys, tmp_path):
    csv = write(tmp_path, "dup.csv", "id,text,label\nx1,hello,a\nx1,foo,b\nx2,bar,a\n")
    code, _, err = run_cli(capsys, csv, "--id-col", "id")
    assert code == 2 and "x1" in err and "duplicate" in err


def test_parquet_with_nested_column_is_refused(capsys, tmp_path):
    path = tmp_path / "nested.parquet"
    pd.DataFrame({"text": [["a", "b"], ["c"]], "label": ["x", "y"]}).to_parquet(path)
    code, _, err = run_cli(capsys, str(path))
    assert code == 2 and "nested values" in err


def test_model_folder_that_is_not_a_model(capsys, tmp_path):
    folder = tmp_path / "notmodel"
    folder.mkdir()
    (folder / "readme.txt").write_text("hi")
    csv = write(tmp_path, "ok.csv", "text,label\n" + GOOD_ROWS)
    code, _, err = run_cli(capsys, csv, "--model", str(folder))
    assert code == 2 and "is not a model folder" in err


def test_classifier_with_other_labels_shows_both_lists(capsys, tmp_path, tiny_classifier_dir):
    csv = write(tmp_path, "ok.csv", "text,label\n" + GOOD_ROWS)
    code, _, err = run_cli(capsys, csv, "--model", str(tiny_classifier_dir))
    assert code == 2 and "model [neg, pos], dataset [a, b]" in err and "--label-map" in err
    code, out, err = run_cli(capsys, csv, "--model", str(tiny_classifier_dir), "--label-map", "neg=a,pos=b")
    assert code == 0 and "rows=" in out   # the mapping the message asks for scores it
    code, _, err = run_cli(capsys, csv, "--model", str(tiny_classifier_dir), "--label-map", "neg")
    assert code == 2 and "--label-map takes MODEL=DATASET pairs" in err


def test_hf_name_while_offline_says_offline(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    code, _, err = run_cli(capsys, "hf:ag_news")
    assert code == 2 and "offline" in err and "save_to_disk" in err


@pytest.fixture(scope="module")
def ab_classifier(tmp_path_factory):
    return build_tiny_classifier(tmp_path_factory.mktemp("ab_clf"), ["a", "b"])


@pytest.mark.parametrize(
    "name, content, first_text",
    [
        ("quoted.csv", 'text,label\n"line one\nline two, with comma",a\n' + GOOD_ROWS, "line one\nline two, with comma"),
        ("bom.csv", "\ufefftext,label\n" + GOOD_ROWS, "hello there"),
        ("latin1.csv", "text,label\ncafé déjà vu,a\n".encode("latin-1") + GOOD_ROWS.encode(), "café déjà vu"),
    ],
)
def test_awkward_but_valid_files_score(capsys, tmp_path, ab_classifier, name, content, first_text):
    out_file = tmp_path / "results.csv"
    code, out, err = run_cli(capsys, write(tmp_path, name, content), "--model", str(ab_classifier),
                             "--out", str(out_file))
    assert code == 0, err
    assert pd.read_csv(out_file, keep_default_na=False)["text"][0] == first_text


def test_100k_character_text_is_truncated_not_fatal(capsys, tmp_path, ab_classifier):
    huge = "word " * 20_000
    csv = write(tmp_path, "huge.csv", f"text,label\n{huge},a\n" + GOOD_ROWS)
    out_file = tmp_path / "results.csv"
    code, out, _ = run_cli(capsys, csv, "--model", str(ab_classifier), "--max-length", "64",
                           "--out", str(out_file))
    assert code == 0 and out.startswith("rows=5 ")
    table = pd.read_csv(out_file)
    assert table["text"][0] == huge and table["loss"].notna().all()
    assert table["truncated"].tolist() == [True, False, False, False, False]
    assert " truncated=1 " in out


@pytest.mark.parametrize("options,expected", [
    (["--batch-size", "0"], "batch-size must be at least 1"),
    (["--batch-size", "-3"], "batch-size must be at least 1"),
    (["--batch-size", "many"], "argument --batch-size: invalid int value"),
    (["--max-tokens", "0"], "max-tokens must be at least 1"),
    (["--max-length", "0"], "max-length must be at least 1"),
    (["--max-length", "100000"], "more than this model reads (512 positions)"),
    (["--folds", "1"], "folds must be at least 2"),
    (["--folds", "0"], "folds must be at least 2"),
    (["--quality", "best"], "argument --quality: invalid choice"),
    (["--head", "forest"], "argument --head: invalid choice"),
    (["--device", "tpu"], "argument --device: invalid choice"),
    (["--precision", "fp8"], "argument --precision: invalid choice"),
    (["--device", "cuda"], "no CUDA GPU is available"),
    (["--label-map", "a"], "--label-map takes MODEL=DATASET pairs"),
    (["--text-col", "nope"], "text column 'nope' not found"),
    (["--id-col", "nope"], "id column 'nope' not found"),
    (["--split", ""], None),
    (["--out", "results.xlsx"], "give a .csv or .parquet file name"),
    (["--bogus-option"], "unrecognized arguments: --bogus-option"),
])
def test_every_score_option_with_a_bad_value_is_one_line(capsys, tmp_path, tiny_classifier_dir, options, expected):
    csv = write(tmp_path, "ok.csv", "text,label\n" + GOOD_ROWS.replace(",a", ",neg").replace(",b", ",pos"))
    code, out, err = run_cli(capsys, csv, "--model", str(tiny_classifier_dir), *options)
    if expected is None:   # not an error: the default split
        assert code == 0
        return
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and len(lines[0]) <= 340, err
    assert lines[0].startswith("losslens: error: ") and expected in lines[0], err


def test_write_problems_with_out_are_one_line(capsys, tmp_path, tiny_classifier_dir):
    csv = write(tmp_path, "ok.csv", "text,label\n" + GOOD_ROWS.replace(",a", ",neg").replace(",b", ",pos"))
    (tmp_path / "a-folder.csv").mkdir()
    (tmp_path / "a-file").write_text("x")
    for out, expected in [(tmp_path / "a-folder.csv", "it is a folder"),
                          (tmp_path / "a-file" / "results.csv", "not a folder")]:
        code, _, err = run_cli(capsys, csv, "--model", str(tiny_classifier_dir), "--out", str(out))
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
