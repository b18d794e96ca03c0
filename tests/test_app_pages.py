"""AppTest for the Data & model, Review and Export pages (tiny classifier, fixture CSV)."""
from __future__ import annotations

import pytest

from app_harness import scored_app, use_app_defaults, write_review_fixture
from losslens.data import text_hash


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
    results = at.session_state["results"]
    assert metrics["Flagged as likely label issues"] == f"{results.n_issues:,}"
    assert not at.error


def test_data_model_page_reports_bad_path_without_traceback(app_env):
    at = scored_app()
    at.radio[0].set_value("file").run()
    at.text_input(key="dm_path").input(str(app_env / "missing.csv")).run()
    assert not at.exception
    assert any("no such file" in e.value for e in at.error)


def test_review_page_relabel_confirm_undo_reset(app_env):
    at = scored_app("pages/review.py")
    assert at.title[0].value == "Review"
    data = at.session_state["data"]
    from pages.session import decision_store

    store = decision_store()
    first_id = str(at.session_state["results"].table.sort_values("loss", ascending=False)["id"].iloc[0])
    relabel = next(s for s in at.selectbox if s.key and s.key.startswith(f"rl|{first_id}|"))
    relabel.set_value("neg" if data.label_names[data.labels[list(data.ids).index(first_id)]] == "pos" else "pos").run()
    current = store.current(data.name)
    assert current["status"].tolist() == ["relabeled"]
    assert current["reviewer"].iloc[0] == at.session_state["reviewer"]
    row = list(data.ids).index(first_id)
    assert current["text_hash"].iloc[0] == text_hash(data.texts[row])   # bound to the example's text
    at.button(key=f"ok|{first_id}").click().run()
    assert store.current(data.name)["status"].tolist() == ["confirmed"]
    at.button[[b.label for b in at.button].index("Undo last")].click().run()
    assert store.current(data.name)["status"].tolist() == ["relabeled"]
    at.button(key=f"rs|{first_id}").click().run()
    assert store.current(data.name).empty
    assert not at.exception


def test_review_page_filters_and_paging(app_env):
    at = scored_app("pages/review.py")
    at.selectbox(key="rv_size").set_value(25).run()
    containers = [s for s in at.selectbox if s.key and s.key.startswith("rl|")]
    assert len(containers) == 24
    at.text_input(key="rv_search").input("<script>").run()
    texts = [t.value for t in at.text]
    assert "<script>window.__xss=1</script> and <b>bold</b>" in texts
    assert len([s for s in at.selectbox if s.key and s.key.startswith("rl|")]) == 1


def test_export_page_counts_and_download(app_env):
    at = scored_app("pages/review.py")
    data = at.session_state["data"]
    from pages.session import decision_store

    decision_store().record(data.name, str(data.ids[3]), "neg", "pos", "relabeled", "tester")
    at.switch_page("pages/export.py").run()
    assert at.title[0].value == "Export"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows exported"] == "24" and metrics["Relabeled"] == "1"
    at.checkbox[0].check().run()       # changed rows only
    assert {m.label: m.value for m in at.metric}["Rows exported"] == "1"
    assert not at.exception


def test_review_page_focus_ids_from_active_learning(app_env):
    at = scored_app("pages/review.py")
    ids = [str(i) for i in at.session_state["data"].ids[[5, 2, 9]]]
    at.session_state["review_focus_ids"] = ids
    at.run()
    assert not at.exception, at.exception
    shown = {s.key.split("|")[1] for s in at.selectbox if s.key and s.key.startswith("rl|")}
    assert shown == set(ids)
    clear = next(b for b in at.button if "clear" in b.label.lower() or "show all" in b.label.lower())
    clear.click().run()
    assert "review_focus_ids" not in at.session_state
    assert len([s for s in at.selectbox if s.key and s.key.startswith("rl|")]) == 24


def shown_ids(at) -> list[str]:
    return [s.key.split("|")[1] for s in at.selectbox if s.key and s.key.startswith("rl|")]


def test_review_paging_and_orphaned_decisions(app_env, monkeypatch):
    monkeypatch.setenv("LOSSLENS_DEMO_SOURCE", str(write_review_fixture(app_env / "sixty.csv", n=60)))
    at = scored_app("pages/review.py")
    data = at.session_state["data"]
    from pages.session import decision_store

    decision_store().record(data.name, "gone-42", "neg", "pos", "relabeled", "tester")
    at.selectbox(key="rv_size").set_value(25).run()
    table = at.session_state["results"].table
    expected = table.sort_values("loss", ascending=False, kind="stable")["id"].astype(str).tolist()
    assert shown_ids(at) == expected[:25]
    assert any("1 earlier decision(s) do not apply to this dataset" in e.label for e in at.expander)
    next_button = next(b for b in at.button if b.label == "Next →")
    next_button.click().run()
    assert shown_ids(at) == expected[25:50]
    next(b for b in at.button if b.label == "Next →").click().run()
    assert shown_ids(at) == expected[50:]
    assert next(b for b in at.button if b.label == "Next →").disabled
    next(b for b in at.button if b.label == "← Previous").click().run()
    assert shown_ids(at) == expected[25:50]


def test_a_save_to_disk_folder_under_hugging_face_stays_there_after_scoring(app_env, tmp_path):
    import datasets

    folder = tmp_path / "news_disk"
    split = datasets.Dataset.from_dict({"text": [f"good movie {i}" if i % 2 else f"bad plot {i}" for i in range(12)],
                                        "label": ["pos" if i % 2 else "neg" for i in range(12)]})
    datasets.DatasetDict({"train": split}).save_to_disk(str(folder))
    at = scored_app()
    at.radio[0].set_value("hf").run()
    at.text_input[0].input(str(folder)).run()
    score = next(b for b in at.button if b.label == "Score")
    assert not score.disabled and not at.error
    score.click().run()
    from app_harness import wait_for_jobs

    wait_for_jobs()
    at.run()
    assert at.session_state["data"].name == "news_disk/train" and len(at.session_state["data"]) == 12
    assert at.radio[0].value == "hf" and at.text_input[0].value == str(folder)   # not "Local file"
    assert not at.error and not at.exception
