"""AppTest for the Review page: focus mode decisions with auto-advance, notes, undo, table view
and bulk decisions, queues from elsewhere, stale decisions, links, conflicting duplicates."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app_harness import (review_view, scored_app, scoring, second_reviewer_decides, use_app_defaults,
                         write_review_fixture)
from losslens.sources.datasets import text_hash


@pytest.fixture
def app_env(tmp_path, monkeypatch, tiny_classifier_dir):
    use_app_defaults(monkeypatch, write_review_fixture(tmp_path / "fixture.csv", markup=True), tiny_classifier_dir)
    return tmp_path


def loss_order(at) -> list[str]:
    table = scoring(at).results.table
    return table.sort_values("loss", ascending=False, kind="stable")["id"].astype(str).tolist()


def current(at) -> pd.DataFrame:
    from pages.session import decision_store

    return decision_store().in_force(scoring(at).data.name).set_index("example_id")


def given_of(at, example_id: str) -> str:
    data = scoring(at).data
    return data.label_names[data.labels[list(data.ids).index(example_id)]]


def test_focus_mode_decides_moves_on_and_undoes(app_env):
    at = scored_app("pages/review.py")
    order = loss_order(at)
    assert review_view(at).current_id == order[0]
    first_given = given_of(at, order[0])
    other = "neg" if first_given == "pos" else "pos"
    at.button(key=f"rv_class_{['neg', 'pos'].index(other)}").click().run()
    decided = current(at)
    assert decided.loc[order[0], ["status", "new_label", "original_label"]].tolist() == ["relabeled", other, first_given]
    data = scoring(at).data
    assert decided.loc[order[0], "text_hash"] == text_hash(data.texts[list(data.ids).index(order[0])])
    assert review_view(at).current_id == order[1]             # moved on by itself

    at.text_input(key="rv_note").input("reads like a review of the plot").run()
    at.button(key="rv_confirm").click().run()
    assert current(at).loc[order[1], ["status", "note"]].tolist() == ["confirmed", "reads like a review of the plot"]
    assert review_view(at).current_id == order[2] and at.text_input(key="rv_note").value == ""

    at.button(key="rv_undo").click().run()
    assert order[1] not in current(at).index                         # back to unreviewed
    assert review_view(at).current_id == order[1]             # and the current example with it
    at.button(key="rv_next").click().run()
    assert review_view(at).current_id == order[2]
    at.button(key="rv_prev").click().run()
    at.button(key="rv_remove").click().run()
    assert current(at).loc[order[1], "status"] == "removed"
    at.button(key="rv_accept").click().run()                          # the model's suggestion for order[2]
    predicted = scoring(at).results.label_names[
        int(scoring(at).results.table.set_index("id").loc[order[2], "predicted_label"])]
    assert current(at).loc[order[2], "new_label" if predicted != given_of(at, order[2]) else "original_label"] == predicted
    assert not at.exception


def test_evidence_shows_reasons_probabilities_and_neighbours(app_env):
    at = scored_app("pages/review.py")
    texts = [m.value for m in at.markdown]
    assert any(t.startswith("- ") and "cleanlab" in t for t in texts)      # why it is here
    assert any(b.key == "rv_near_0" for b in at.button)                    # nearest neighbours, clickable
    at.button(key="rv_near_0").click().run()
    assert review_view(at).current_outside_queue is True and not at.exception


def test_table_view_search_and_bulk_decision_undone_in_one_step(app_env):
    at = scored_app("pages/review.py")
    at.segmented_control(key="rv_view").set_value("Table").run()
    at.selectbox(key="rv_size").set_value(25).run()
    assert len(at.dataframe(key="rv_table").value) == 24
    at.text_input(key="rv_search").input("<script>").run()
    table = at.dataframe(key="rv_table").value
    assert table["text"].tolist() == ["<script>window.__xss=1</script> and <b>bold</b>"]
    at.text_input(key="rv_search").input("good").run()
    matching = at.dataframe(key="rv_table").value["id"].tolist()
    assert len(matching) > 2
    at.radio(key="rv_bulk_scope").set_value("Everything that matches").run()
    at.selectbox(key="rv_bulk_action").set_value("Remove").run()
    at.button(key="rv_bulk_apply").click().run()
    decided = current(at)
    assert sorted(decided.index) == sorted(matching) and set(decided["status"]) == {"removed"}
    at.button(key="rv_table_undo").click().run()
    assert current(at).empty                                           # one undo, the whole group


LONG = ("A long review that goes on about the plot, the cast and the music. " * 12).strip()


def test_table_view_cuts_long_texts_and_shows_the_selected_row_in_full(tmp_path, monkeypatch, tiny_classifier_dir):
    path = write_review_fixture(tmp_path / "long.csv")
    frame = pd.read_csv(path)
    frame.loc[3, "text"] = LONG
    frame.to_csv(path, index=False)
    use_app_defaults(monkeypatch, path, tiny_classifier_dir)
    at = scored_app("pages/review.py")
    at.segmented_control(key="rv_view").set_value("Table").run()
    at.selectbox(key="rv_size").set_value(25).run()
    shown = at.dataframe(key="rv_table").value
    row = int(np.flatnonzero(shown["id"] == text_hash(LONG))[0])
    assert len(LONG) > 800 and shown["text"][row].endswith(" …") and LONG.startswith(shown["text"][row][:-2])
    assert not any(t.value == LONG for t in at.text)                     # nothing selected: no preview
    at.session_state["rv_table"] = {"selection": {"rows": [row]}}
    at.run()
    assert [t.value for t in at.text if t.value == LONG] == [LONG]       # the selected row, in full
    assert at.button(key="rv_bulk_apply").label == "Apply to 1"
    assert [b.key for b in at.button if b.key in ("rv_page_prev", "rv_page_next")] == ["rv_page_prev", "rv_page_next"]
    at.button(key="rv_open_in_focus").click().run()
    assert at.session_state["rv_view"] == "Focus" and review_view(at).current_id == text_hash(LONG)


def test_table_view_drops_the_selection_when_the_rows_change(app_env):
    at = scored_app("pages/review.py")
    at.segmented_control(key="rv_view").set_value("Table").run()
    at.selectbox(key="rv_size").set_value(25).run()
    at.session_state["rv_table"] = {"selection": {"rows": [0, 1]}}
    at.run()
    assert at.button(key="rv_bulk_apply").label == "Apply to 2"
    at.text_input(key="rv_search").input("good").run()                 # other rows: the ticks would point at them
    assert at.button(key="rv_bulk_apply").label == "Apply to 0" and at.button(key="rv_bulk_apply").disabled
    at.text_input(key="rv_search").input("no such text").run()
    assert not at.exception and any(c.value.startswith("0 matching · page 1 of 1") for c in at.caption)


def test_a_queue_from_active_learning_and_stale_decisions(app_env):
    at = scored_app("pages/review.py")
    data = scoring(at).data
    from pages.session import decision_store

    decision_store().record(data.name, "gone-42", "neg", "pos", "relabeled", "tester", text_hash="0" * 16)
    ids = [str(i) for i in data.ids[[5, 2, 9]]]
    review_view(at).choose(ids, "activelab")
    at.run()
    assert review_view(at).current_id == ids[0]
    assert any(m.value.startswith("**1 of 3**") for m in at.markdown)
    assert any("1 earlier decision(s) do not apply to this dataset" in e.label for e in at.expander)
    at.button(key="clear_chosen").click().run()
    assert review_view(at).chosen is None
    assert any(m.value.startswith("**") and "of 24 undecided**" in m.value for m in at.markdown)


def test_the_link_opens_the_same_view(app_env):
    at = scored_app()
    order = loss_order(at)
    at.query_params.update({"sort": "margin", "flagged": "1", "view": "table", "id": order[3], "bogus": "x"})
    at.switch_page("pages/review.py").run()
    assert at.session_state["rv_sort"] == "margin" and at.session_state["rv_flagged"] is True
    assert at.session_state["rv_view"] == "Table" and review_view(at).current_id == order[3]
    at.query_params.clear()
    review_view(at).linked_dataset = None
    at.query_params.update({"sort": "nonsense", "given": "no such label"})
    at.run()
    assert any("were ignored: sort, given" in w.value.replace("\\", "") for w in at.warning)


def test_conflicting_duplicates_are_listed_and_decided_together(tmp_path, monkeypatch, tiny_classifier_dir):
    csv = tmp_path / "dups.csv"
    rows = [{"text": f"ordinary review number {i} with words", "label": "neg" if i % 2 else "pos"} for i in range(20)]
    rows += [{"text": "the same sentence twice", "label": "pos"}, {"text": "the same sentence twice", "label": "neg"}]
    pd.DataFrame(rows).to_csv(csv, index=False)
    # a random tiny model puts every text near every other (cosine ~0.98): exact duplicates only here
    monkeypatch.setattr("losslens.scoring.features._save_neighbours", lambda entry, embeddings: None)
    use_app_defaults(monkeypatch, csv, tiny_classifier_dir)   # scores this file (warm cache) with that patch
    at = scored_app("pages/review.py")
    at.checkbox(key="rv_conflicts").check().run()
    assert any(m.value.startswith("**1 of 2 undecided**") for m in at.markdown)
    at.checkbox(key="rv_apply_group").check().run()
    at.button(key="rv_ambiguous").click().run()
    decided = current(at)
    assert len(decided) == 2 and set(decided["status"]) == {"ambiguous"}
    data = scoring(at).data
    assert set(decided.index) == {str(i) for i, t in zip(data.ids, data.texts) if t == "the same sentence twice"}


def test_retrain_on_corrected_labels_reports_the_trusted_set(tmp_path, monkeypatch, tiny_encoder_dir):
    from app_harness import wait_for_jobs

    use_app_defaults(monkeypatch, write_review_fixture(tmp_path / "fixture.csv", n=40), tiny_encoder_dir)
    at = scored_app()
    before = scoring(at).results
    assert before.heads == ("embedding", "tfidf", "knn") and before.out_of_sample
    data = scoring(at).data
    from pages.session import decision_store

    order = before.table.sort_values("loss", ascending=False)["id"].astype(str).tolist()
    for example_id in order[:4]:
        given = given_of(at, example_id)
        decision_store().record(data.name, example_id, given, "neg" if given == "pos" else "pos", "relabeled", "t",
                                text_hash=text_hash(data.texts[list(data.ids).index(example_id)]))
    at.run()
    at.button(key="retrain").click().run()
    wait_for_jobs()
    at.run()
    at.run()
    after = scoring(at).results
    assert after is not before and after.key != before.key
    report = at.session_state["retraining"].report
    assert report.n == 4 and 0 <= report.before <= 1 and 0 <= report.after <= 1
    assert any("On the 4 examples reviewers confirmed or relabeled" in i.value for i in at.info)
    assert not at.exception


def test_shared_queue_hands_each_reviewer_what_still_needs_a_look(app_env):
    from pages.session import decision_store
    from losslens.review.shared_queue import queue_examples, shared_queue, start_shared_queue, take_next

    at = scored_app("pages/review.py")
    order = loss_order(at)
    second_reviewer_decides(at, list(scoring(at).data.ids).index(order[-1]))   # a team: bob decided the last one
    at.number_input(key="rv_shared_top").set_value(3)
    at.number_input(key="rv_shared_r").set_value(1)
    at.button(key="FormSubmitter:rv_shared_form-Start a shared queue").click().run()
    store, name = decision_store(), scoring(at).data.name
    queue = shared_queue(store, name)
    assert queue_examples(store, queue) == tuple(order[:3]) and queue.reviewers_per_example == 1
    assert take_next(store, queue, "bob") == order[0]                 # bob is looking at the first one

    at.toggle(key="rv_shared").set_value(True).run()
    assert review_view(at).current_id == order[1]                # so this reviewer is handed the second
    at.button(key="rv_confirm").click().run()
    assert review_view(at).current_id == order[2]
    at.button(key="rv_undo").click().run()                            # an undo hands the example back
    assert review_view(at).current_id == order[1]
    at.button(key="rv_confirm").click().run()
    assert review_view(at).current_id == order[2]
    assert at.button(key="rv_show_similar").disabled                  # the queue decides what is shown
    at.button(key="rv_remove").click().run()
    assert "Nothing left for you in the shared queue" in " ".join(s.value for s in at.success)
    assert current(at).loc[[order[1], order[2]], "status"].tolist() == ["confirmed", "removed"]
    assert any("3 examples, each for 1 reviewer(s) · 2 complete · 0 started" in c.value for c in at.caption)
    at.toggle(key="rv_shared").set_value(False).run()
    assert take_next(store, queue, "cat") is None                      # bob still holds the first
    at.button(key="rv_shared_stop").click().run()
    assert shared_queue(store, name) is None and not at.exception
    start_shared_queue(store, name, "another version", order[:2], 1, "lead")   # a plan on other content
    at.run()
    assert "started a shared queue on another version of" in " ".join(w.value for w in at.warning)
    assert not [t for t in at.toggle if t.key == "rv_shared"]


def test_one_look_at_the_decisions_per_run_and_one_index_per_results(app_env, monkeypatch):
    import sqlalchemy as sa
    import streamlit as st

    from losslens.review.queue import ReviewIndex
    from pages.session import decision_store

    st.cache_resource.clear()   # the index is kept per results key across tests: count its builds from here
    built, build = [], ReviewIndex.__init__
    monkeypatch.setattr(ReviewIndex, "__init__", lambda self, *args, **kw: built.append(1) or build(self, *args, **kw))
    at = scored_app("pages/review.py")
    order = loss_order(at)
    at.checkbox(key="rv_hide_focus").uncheck().run()                  # decided examples stay in the queue
    at.button(key="rv_confirm").click().run()                          # decided examples, by two reviewers
    data = scoring(at).data
    decision_store().record(data.name, order[0], given_of(at, order[0]), None, "removed", "bob",
                            text_hash=text_hash(data.texts[list(data.ids).index(order[0])]))
    statements = []
    count = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
    sa.event.listen(decision_store().engine, "before_cursor_execute", count)
    try:
        at.button(key="rv_prev").click().run()                        # back to the example both decided
        assert review_view(at).current_id == order[0]
        assert any(m.value.startswith("**Decisions**") and "bob" in m.value for m in at.markdown)
        assert any("Reviewers disagree on 1 example(s)" in c.value for c in at.caption)
        reads = [s for s in statements if "FROM decisions" in s]
        assert len(reads) == 2, reads                  # the decisions in force, and each reviewer's: once each
        assert len([s for s in statements if "FROM queue_plans" in s]) == 1   # the shared queue: once
        statements.clear()
        at.segmented_control(key="rv_view").set_value("Table").run()
        assert len([s for s in statements if "FROM decisions" in s]) == 2 and not at.exception
    finally:
        sa.event.remove(decision_store().engine, "before_cursor_execute", count)
    assert len(built) == 1                                             # one queue index for these results


def test_the_queue_filtered_by_why_it_is_there(app_env):
    from losslens.review.evidence import REASON_TITLES, Evidence

    at = scored_app("pages/review.py")
    results = scoring(at).results
    ids = results.table["id"].astype(str)
    # a reason that fires for some examples and not others (which one depends on the tiny random model)
    name, fired = next((name, ids[mask].tolist()) for name, mask in Evidence.of(results).reason_masks().items()
                       if 0 < mask.sum() < len(mask))
    at.segmented_control(key="rv_view").set_value("Table").run()
    at.multiselect(key="rv_why").select(name).run()
    assert sorted(at.dataframe(key="rv_table").value["id"]) == sorted(fired)
    assert any(REASON_TITLES[name].lower() in c.value for c in at.caption)   # said in the queue line
    assert at.query_params["why"] in (name, [name])     # kept in the link (AppTest shows one value bare)


def test_a_failed_retraining_is_shown_until_the_next_one(tmp_path, monkeypatch, tiny_encoder_dir):
    import worker_targets
    from app_harness import wait_for_jobs
    from losslens.workers import JobSpec
    from pages.session import decision_store

    use_app_defaults(monkeypatch, write_review_fixture(tmp_path / "fixture.csv", n=40), tiny_encoder_dir)

    refusal = JobSpec(worker_targets.refuse_with, ("every decided example is of one class: decide some of another",))
    monkeypatch.setattr("pages.summary.retraining_job", lambda *args: refusal)   # the worker fails in one line
    at = scored_app()
    data, before = scoring(at).data, scoring(at).results
    example_id = str(data.ids[0])
    decision_store().record(data.name, example_id, given_of(at, example_id), None, "confirmed", "t",
                            text_hash=text_hash(data.texts[0]))
    at.run()
    at.button(key="retrain").click().run()
    wait_for_jobs()
    at.run()
    at.run()
    assert "every decided example is of one class" in " ".join(e.value for e in at.error)
    assert scoring(at).results is before and not at.exception


def test_classes_beyond_the_nine_keys_are_picked_by_typing(tmp_path, monkeypatch, tiny_encoder_dir):
    names = [f"topic{k:02d}" for k in range(12)]
    rows = [{"text": f"note {i} about {names[i % 12]} and more words", "label": names[i % 12]} for i in range(36)]
    csv = tmp_path / "topics.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    use_app_defaults(monkeypatch, csv, tiny_encoder_dir)
    at = scored_app("pages/review.py")
    assert [b.key for b in at.button if b.key and b.key.startswith("rv_class_")] == [f"rv_class_{k}" for k in range(9)]
    box = at.selectbox(key="rv_more_class")
    assert list(box.options) == names[9:]
    shown = review_view(at).current_id
    box.set_value("topic11").run()
    decision = current(at).loc[shown]
    expected = ("confirmed", "topic11") if given_of(at, shown) == "topic11" else ("relabeled", "topic11")
    assert (decision["status"], decision["new_label"]) == expected
    assert review_view(at).current_id != shown and at.selectbox(key="rv_more_class").value is None


def test_the_queue_learns_from_decisions_and_says_how_many_errors_are_left(tmp_path, monkeypatch, tiny_encoder_dir):
    from app_harness import wait_for_jobs
    from losslens.review.reranking import reorder_queue
    from pages.session import decision_store

    use_app_defaults(monkeypatch, write_review_fixture(tmp_path / "fixture.csv", n=40), tiny_encoder_dir)
    at = scored_app("pages/review.py")
    data = scoring(at).data
    for example_id in loss_order(at)[1:4]:
        position = list(data.ids).index(example_id)
        decision_store().record(data.name, example_id, given_of(at, example_id), None, "confirmed", "t",
                                text_hash=text_hash(data.texts[position]))
    at.run()
    shown = review_view(at).current_id
    assert "refitted every 25 decisions" in " ".join(c.value for c in at.caption)
    at.button(key="rv_rerank").click().run()
    wait_for_jobs()
    at.run()
    learning = at.session_state["relearning"]
    assert learning.reranking is not None and learning.reranking.decisions_used == 3 and learning.used == 3
    line = " ".join(c.value for c in at.caption)
    assert "order refitted at" in line and "from 3 decisions" in line and "label errors left" in line
    assert review_view(at).current_id == shown                        # the example on screen stays
    order = learning.reranking.order
    assert not set(order.tolist()) & {list(data.ids).index(i) for i in loss_order(at)[1:4]}   # undecided only
    queue = at.session_state["review"]
    assert queue.current_id == shown and len(order) == 37
    assert reorder_queue(np.arange(40), order, keep=None)[0] == order[0]
    checks = learning.errors_left.checks
    decided = {list(data.ids).index(i) for i in loss_order(at)[1:4]}
    assert len(checks) == 10 and len(set(checks)) == 10 and not set(checks) & decided   # undecided, each once
    at.button(key="rv_checks").click().run()
    chosen = review_view(at).chosen
    assert chosen.origin == "checks" and list(chosen.ids) == [str(data.ids[row]) for row in checks]
    assert any("drawn from further down the queue" in a.value for a in at.info)
