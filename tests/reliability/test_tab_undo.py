"""Issue 22 item 13: two tabs reviewing under one name each undo their own last decision."""
from __future__ import annotations

from app_harness import review_view, scored_app, scoring, use_app_defaults, write_review_fixture


def in_force(at) -> dict[str, str]:
    from pages.session import decision_store

    rows = decision_store().in_force(scoring(at).data.name)
    return dict(zip(rows["example_id"], rows["status"]))


def test_undo_in_one_tab_leaves_the_other_tabs_decision(tmp_path, monkeypatch, tiny_classifier_dir):
    use_app_defaults(monkeypatch, write_review_fixture(tmp_path / "fixture.csv"), tiny_classifier_dir)
    tab_a, tab_b = scored_app("pages/review.py"), scored_app("pages/review.py")   # one name: the OS user
    assert tab_a.query_params["tab"] != tab_b.query_params["tab"]
    first = review_view(tab_a).current_id
    tab_a.button(key="rv_remove").click().run()                      # tab A decides first ...
    tab_b.run()
    second = review_view(tab_b).current_id
    if second == first:                                              # (B opened the same example: move on)
        tab_b.button(key="rv_next").click().run()
        second = review_view(tab_b).current_id
    tab_b.button(key="rv_ambiguous").click().run()                   # ... then tab B
    assert in_force(tab_a) == {first: "removed", second: "ambiguous"}
    tab_a.button(key="rv_undo").click().run()                        # A's undo takes back A's decision
    assert in_force(tab_a) == {second: "ambiguous"}
    tab_b.button(key="rv_undo").click().run()
    assert in_force(tab_b) == {}
