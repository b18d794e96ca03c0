"""Real browser, two reviewers at once on a PostgreSQL store (LOSSLENS_DB_URL): each decides the
same example differently, the disagreement is listed, each Undo takes back only their own
decision, nothing is lost or misattributed; the reviewer name survives a reload (?reviewer=), and two tabs under the default
name are warned."""
from __future__ import annotations

from contextlib import contextmanager

import pandas as pd
import pytest

from browser_app import REVIEWS, card_id, press, start_app, wait_idle
from postgres_server import fresh_database
from losslens.store.history_files import history_export
from losslens.store.decisions import DecisionStore

pytestmark = pytest.mark.browser


def open_review(context, url: str, query: str = ""):
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{url}/review{query}")
    page.get_by_text("Why it is here").wait_for()
    wait_idle(page)
    page.wait_for_timeout(500)
    return page


@contextmanager
def team_app(browser, postgres_server, tmp_path, database_name: str, people: int):
    """The app on a fresh PostgreSQL database over the REVIEWS file; yields (url, database URL,
    one Chromium context per person)."""
    csv = tmp_path / "reviews.csv"
    pd.DataFrame(REVIEWS, columns=["text", "label"]).to_csv(csv, index=False)
    database = fresh_database(postgres_server, database_name)
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(people)]
    try:
        with start_app(tmp_path / "home", str(csv), "bundled:minilm", tmp_path / "app.log",
                       LOSSLENS_DB_URL=database) as url:
            yield url, database, contexts
    finally:
        for context in contexts:
            context.close()


def test_two_reviewers_on_postgresql(browser, postgres_server, tmp_path, artifacts):
    from playwright.sync_api import expect

    with team_app(browser, postgres_server, tmp_path, "team_browser", 4) as (url, database, contexts):
        store = DecisionStore(database)
        ann = open_review(contexts[0], url, "?reviewer=ann")
        example = card_id(ann)
        bob = open_review(contexts[1], url, f"?reviewer=bob&id={example}")
        assert card_id(bob) == example
        ann_next = press(ann, "1", then_not=example)            # ann: neg
        press(bob, "2", then_not=example)                       # bob: pos
        mine = store.in_force("reviews.csv", per_reviewer=True).set_index("reviewer")
        assert mine.loc[["ann", "bob"], "example_id"].tolist() == [example, example]
        assert mine.loc[["ann", "bob"], "new_label"].tolist() in (["neg", "pos"], ["neg", None])
        assert store.in_force("reviews.csv").set_index("example_id").loc[example, "reviewer"] == "bob"

        bob.reload()                                             # the disagreement, a click away
        bob.get_by_text("Reviewers disagree on 1 example(s)").wait_for()
        bob.get_by_role("button", name="Show them").click()
        bob.get_by_text("Showing the 1 example where reviewers' latest decisions differ.").wait_for()
        wait_idle(bob)
        assert card_id(bob) == example
        decisions = bob.locator("[data-testid='stMarkdownContainer']", has_text="Decisions").last.inner_text()
        assert "ann:" in decisions and "bob:" in decisions, decisions
        bob.screenshot(path=str(artifacts / "team_disagreements.png"))

        assert press(ann, "u", then_not=ann_next) == example                       # ann's undo: only hers goes
        left = store.in_force("reviews.csv", per_reviewer=True)
        assert left[["example_id", "reviewer"]].values.tolist() == [[example, "bob"]]
        history = history_export(store)
        assert history[["reviewer", "undone_by"]].values.tolist() == [["ann", "ann"], ["bob", None]]

        ann.reload()                                             # the name survives a reload
        ann.get_by_text("Why it is here").wait_for()
        wait_idle(ann)
        expect(ann.get_by_test_id("stSidebar").get_by_label("Reviewer", exact=True)).to_have_value("ann")
        assert "reviewer=ann" in ann.url

        first = open_review(contexts[2], url)                    # two tabs under the default name
        second = open_review(contexts[3], url)
        expect(second.get_by_test_id("stSidebar")).to_contain_text("1 other open tab also reviews as")
        second.screenshot(path=str(artifacts / "team_same_name_warning.png"))
        expect(ann.get_by_test_id("stSidebar")).not_to_contain_text("other open tab")
        first.close()


def test_shared_queue_hands_two_reviewers_different_examples(browser, postgres_server, tmp_path, artifacts):
    from playwright.sync_api import expect

    from losslens.review.shared_queue import queue_examples, shared_queue

    with team_app(browser, postgres_server, tmp_path, "shared_queue_browser", 2) as (url, database, contexts):
        lead = open_review(contexts[0], url, "?reviewer=ann")
        top = [card_id(lead)]
        lead.get_by_text("Shared queue for the team (lead)").click()
        lead.get_by_role("spinbutton", name="Top examples of this queue").fill("2")
        lead.get_by_role("spinbutton", name="Reviewers per example").fill("1")
        lead.get_by_role("button", name="Start a shared queue").click()
        lead.get_by_text("Shared queue from ann: 2 examples, each for 1 reviewer(s)").wait_for()
        wait_idle(lead)
        store = DecisionStore(database)
        examples = queue_examples(store, shared_queue(store, "reviews.csv"))
        assert examples[0] == top[0] and len(examples) == 2

        bob = open_review(contexts[1], url, "?reviewer=bob")
        for page in (lead, bob):                                 # both work it: different examples
            page.get_by_text("Work the shared queue").click()
            wait_idle(page)
            page.wait_for_timeout(500)
        handed = [card_id(lead), card_id(bob)]
        assert sorted(handed) == sorted(examples), handed
        bob.screenshot(path=str(artifacts / "team_shared_queue.png"))

        lead.locator(".st-key-rv_card").click()                  # the toggle keeps the keyboard focus
        lead.keyboard.press("y")                                 # ann confirms hers: nothing left for her
        expect(lead.get_by_text("Nothing left for you in the shared queue")).to_be_visible()
        current = DecisionStore(database).in_force("reviews.csv").set_index("example_id")
        assert current.loc[handed[0], ["status", "reviewer"]].tolist() == ["confirmed", "ann"]
        assert handed[1] not in current.index
