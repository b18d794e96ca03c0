"""AppTest for the Data & model and Export pages (tiny classifier, fixture CSV); Review: test_page_review."""
from __future__ import annotations

import pytest

from app_harness import scored_app, scoring, use_app_defaults, write_review_fixture


@pytest.fixture
def app_env(tmp_path, monkeypatch, tiny_classifier_dir):
    use_app_defaults(monkeypatch, write_review_fixture(tmp_path / "fixture.csv", markup=True), tiny_classifier_dir)
    return tmp_path


def test_data_model_page_scores_default_and_shows_summary(app_env):
    at = scored_app()
    assert at.title[0].value == "Data & model"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows"] == "24"
    assert metrics["Probabilities"] == "in-sample"
    assert any("in-sample" in c.value.lower() for c in at.caption)
    results = scoring(at).results
    disagree = int((results.table["predicted_label"] != results.table["label"]).sum())
    assert metrics["Labels the model disputes"] == f"{disagree:,}"
    assert not at.error


def test_data_model_page_reports_bad_path_without_traceback(app_env):
    at = scored_app()
    at.radio(key="dm_source").set_value("file").run()
    at.text_input(key="dm_path").input(str(app_env / "missing.csv")).run()
    assert not at.exception
    assert any("no such file" in e.value for e in at.error)






def test_export_page_counts_and_download(app_env):
    at = scored_app("pages/review.py")
    data = scoring(at).data
    from pages.session import decision_store

    from losslens.sources.datasets import text_hash

    decision_store().record(data.name, str(data.ids[3]), "neg", "pos", "relabeled", "tester",
                            text_hash=text_hash(data.texts[3]))
    at.switch_page("pages/export.py").run()
    assert at.title[0].value == "Export"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows exported"] == "24" and metrics["Relabeled"] == "1"
    preview = at.dataframe[-1].value                 # decided rows first, whatever their place in the file
    assert preview["status"].tolist()[:2] == ["relabeled", "unreviewed"] and len(preview) == 24
    at.checkbox(key="ex_changed_only").check().run()
    assert {m.label: m.value for m in at.metric}["Rows exported"] == "1"
    assert not at.exception





def test_a_save_to_disk_folder_under_hugging_face_stays_there_after_scoring(app_env, tmp_path):
    import datasets

    folder = tmp_path / "news_disk"
    split = datasets.Dataset.from_dict({"text": [f"good movie {i}" if i % 2 else f"bad plot {i}" for i in range(12)],
                                        "label": ["pos" if i % 2 else "neg" for i in range(12)]})
    datasets.DatasetDict({"train": split}).save_to_disk(str(folder))
    at = scored_app()
    at.radio(key="dm_source").set_value("hf").run()
    at.text_input(key="dm_hub_name").input(str(folder)).run()
    score = at.button(key="dm_score")
    assert score.label == "Score"
    assert not score.disabled and not at.error
    score.click().run()
    from app_harness import wait_for_jobs

    wait_for_jobs()
    at.run()
    assert scoring(at).data.name == "news_disk/train" and len(scoring(at).data) == 12
    assert at.radio(key="dm_source").value == "hf"                          # not "Local file"
    assert at.text_input(key="dm_hub_name").value == str(folder)
    assert not at.error and not at.exception


def test_a_damaged_decision_store_is_one_line_in_the_app(app_env, losslens_home):
    from streamlit.testing.v1 import AppTest

    from app_harness import ROOT

    losslens_home.mkdir(parents=True, exist_ok=True)
    (losslens_home / "decisions.sqlite").write_bytes(b"")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert "losslens decisions restore" in at.error[0].value.replace("\\", "")
    assert (losslens_home / "decisions.sqlite.damaged").exists()
