"""Issue 22 item 11: a shared-queue decision made after the reviewer's lease lapsed is not
recorded (the example may be another reviewer's by then; with R = 1 it would be a second review)."""
from __future__ import annotations

import sqlalchemy as sa

from app_harness import (review_view, scored_app, scoring, second_reviewer_decides, use_app_defaults,
                         write_review_fixture)


def test_a_decision_after_the_lease_lapsed_is_not_recorded(tmp_path, monkeypatch, tiny_classifier_dir):
    from losslens.store.schema import leases
    from pages.session import decision_store

    use_app_defaults(monkeypatch, write_review_fixture(tmp_path / "fixture.csv"), tiny_classifier_dir)
    at = scored_app("pages/review.py")
    bobs = second_reviewer_decides(at)                                # a team: the lead's tools show
    at.number_input(key="rv_shared_top").set_value(3)
    at.number_input(key="rv_shared_r").set_value(1)
    at.button(key="FormSubmitter:rv_shared_form-Start a shared queue").click().run()
    at.toggle(key="rv_shared").set_value(True).run()
    held = review_view(at).current_id
    store = decision_store()
    with store.engine.begin() as db:                                  # five minutes pass without a key
        db.execute(sa.update(leases).values(expires_at=0.0))
    at.button(key="rv_confirm").click().run()
    mine = lambda: (d := store.in_force(scoring(at).data.name))[d["example_id"] != bobs]  # noqa: E731
    assert mine().empty                                               # nothing recorded
    assert any("lapsed" in t.value for t in at.toast)
    at.run()                                                          # handed an example again (a new lease)
    at.button(key="rv_confirm").click().run()
    decided = mine()
    assert len(decided) == 1 and decided["status"].tolist() == ["confirmed"]
    assert held is not None
