"""Real browser, keyboard only: relabel, accept, confirm and undo with the store checked after
each key, the next example shown by itself; a reload keeps the view; a planted near-copy shows up
as a neighbour; "show similar" (its banner true after a reload) + one bulk relabel in the table
view, undone in one step; the exported CSV carries the decisions and the note. Hide decided in the
focus view: decide -> the next undecided, Undo brings the example back, decided ones marked when
shown; a solo user is not offered the team's shared queue."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest

from browser_app import REVIEWS, card_id, press, start_app, wait_for_link, wait_idle
from losslens.sources.datasets import text_hash
from losslens.store.decisions import DecisionStore

pytestmark = pytest.mark.browser

PLANTED = ("The cinematography in this film is breathtaking and the score is moving.", "pos")
COPY = ("The cinematography in this film is breathtaking, and the score is so moving.", "neg")


def test_keyboard_review_reload_neighbours_bulk_and_export(page, tmp_path, artifacts):
    from playwright.sync_api import expect

    csv = tmp_path / "reviews.csv"
    pd.DataFrame(REVIEWS + [PLANTED, COPY], columns=["text", "label"]).to_csv(csv, index=False)
    home = tmp_path / "home"
    page.set_default_timeout(120_000)
    with start_app(home, str(csv), "bundled:minilm", tmp_path / "app.log") as url:
        store = DecisionStore(home / "decisions.sqlite")
        decided = lambda: store.in_force("reviews.csv").set_index("example_id")  # noqa: E731
        page.goto(f"{url}/review")
        page.get_by_text("Why it is here").wait_for()
        wait_idle(page)
        page.wait_for_timeout(500)
        first = card_id(page)
        given = page.locator(".st-key-rv_card").inner_text().split("Given ")[1].split(" ")[0]
        other = "pos" if given == "neg" else "neg"
        second = press(page, "1" if other == "neg" else "2", then_not=first)      # classes: 1 neg, 2 pos
        assert decided().loc[first, ["status", "new_label"]].tolist() == ["relabeled", other]
        page.screenshot(path=str(artifacts / "review_focus.png"))

        third = press(page, "a", then_not=second)                                  # accept the suggestion
        assert decided().loc[second, "status"] in ("relabeled", "confirmed")
        page.locator(".st-key-rv_note input").fill("checked against the plot")
        page.locator(".st-key-rv_note input").press("Enter")
        wait_idle(page)
        page.locator(".st-key-rv_card").click()                                    # keys again, not the note
        fourth = press(page, "y", then_not=third)                                  # confirm
        assert decided().loc[third, ["status", "note"]].tolist() == ["confirmed", "checked against the plot"]
        assert press(page, "u", then_not=fourth) == third                           # undo: back to it
        assert third not in decided().index

        wait_for_link(page, f"id={third}")
        page.reload()
        page.get_by_text("Why it is here").wait_for()
        wait_idle(page)
        assert card_id(page) == third and f"id={third}" in page.url                 # the view survived
        expect(page.get_by_test_id("stProgress").first).to_contain_text("decisions: 2")

        planted = text_hash(PLANTED[0])
        page.goto(f"{url}/review?id={planted}")
        page.get_by_text("Why it is here").wait_for()
        wait_idle(page)
        neighbour = page.locator(".st-key-rv_near_0")
        expect(neighbour).to_contain_text("neg · The cinematography in this film is breathtaking, and")
        similarity = float(re.search(r"(0\.\d\d|1\.00) ·", neighbour.inner_text()).group(1))
        assert similarity >= 0.9
        page.screenshot(path=str(artifacts / "review_evidence.png"))

        page.get_by_role("button", name="Show similar").click()
        page.get_by_text(re.compile(rf"Showing 2 examples: {planted} and those at least 0\.\d\d similar")).wait_for()
        banner = page.get_by_test_id("stAlert").first.inner_text()
        wait_for_link(page, "chosen=similar")     # the link is written after the run: reload once it is
        page.reload()                                                              # the banner stays true
        page.get_by_text("Why it is here").wait_for()
        wait_idle(page)
        expect(page.get_by_test_id("stAlert").first).to_have_text(banner)
        assert "chosen=similar" in page.url and "Active learning" not in banner
        page.locator(".st-key-rv_view").get_by_text("Table", exact=True).click()
        page.locator(".st-key-rv_bulk_apply").wait_for()
        wait_idle(page)
        page.get_by_text("Everything that matches").click()
        wait_idle(page)
        page.locator(".st-key-rv_bulk_action [data-testid='stSelectbox']").click()
        page.get_by_role("option", name="Relabel as pos", exact=True).click()
        wait_idle(page)
        page.get_by_role("button", name="Apply to 2").click()
        page.get_by_text("Relabeled: 2 example(s)").wait_for()
        wait_idle(page)
        group = decided().loc[[planted, text_hash(COPY[0])]]
        assert group["new_label"].tolist() == ["pos", "pos"] and group["status"].tolist() == ["confirmed", "relabeled"]
        page.screenshot(path=str(artifacts / "review_table.png"))
        page.get_by_role("button", name="Undo last").click()
        page.get_by_text("Undid").wait_for()
        wait_idle(page)
        after = decided()   # one step took both back: the copy to its earlier (keyboard) decision
        assert planted not in after.index and (text_hash(COPY[0]) not in after.index or
                                               after.loc[text_hash(COPY[0]), "decision_id"] < group["decision_id"].min())

        page.get_by_test_id("stSidebarNav").get_by_text("Export", exact=True).click()
        page.get_by_role("heading", name="Export").wait_for()
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").click()
        exported = pd.read_csv(io.BytesIO(Path(download.value.path()).read_bytes()), dtype=str, keep_default_na=False)
    by_id = exported.set_index(exported["text"].map(text_hash))
    assert by_id.loc[first, ["status", "corrected_label"]].tolist() == ["relabeled", other]
    assert list(exported.columns[:2]) == ["text", "label"] and "note" in exported.columns
    assert (exported["status"] != "unreviewed").sum() == 2


def test_hide_decided_in_the_focus_view_for_a_solo_user(page, tmp_path, artifacts):
    from playwright.sync_api import expect

    csv = tmp_path / "reviews.csv"
    pd.DataFrame(REVIEWS, columns=["text", "label"]).to_csv(csv, index=False)
    with start_app(tmp_path / "home", str(csv), "bundled:minilm", tmp_path / "app.log") as url:
        store = DecisionStore(tmp_path / "home" / "decisions.sqlite")
        page.goto(f"{url}/review")
        page.get_by_text("Why it is here").wait_for()
        wait_idle(page)
        page.wait_for_timeout(500)
        card, queue = page.locator(".st-key-rv_card"), page.locator("[class*='st-key-rv_queue_']")
        expect(page.locator(".st-key-rv_hide_focus input")).to_be_checked()       # on by default here
        expect(card).to_contain_text("1 of 20 undecided")
        first, first_text = card_id(page), page.locator(".st-key-rv_text").inner_text()
        second = press(page, "y", then_not=first)                                   # confirm: the next undecided
        expect(card).to_contain_text("1 of 19 undecided")
        assert first_text[:40] not in " ".join(queue.all_inner_texts())
        third = press(page, "d", then_not=second)                                   # remove
        expect(card).to_contain_text("1 of 18 undecided")
        assert press(page, "u", then_not=third) == second                           # undo: the example is back
        expect(card).to_contain_text("1 of 19 undecided")
        assert store.in_force("reviews.csv")["example_id"].tolist() == [first]
        expect(page.get_by_text("Shared queue for the team (lead)")).to_have_count(0)   # working alone
        page.screenshot(path=str(artifacts / "review_hide_decided.png"))

        page.locator(".st-key-rv_hide_focus").get_by_text("Hide decided").click()  # every example, decided marked
        wait_idle(page)
        expect(card).to_contain_text("2 of 20 ·")
        assert card_id(page) == second
        expect(queue.first).to_contain_text("1. ✓ confirmed · given")
        wait_for_link(page, "decided=show")   # the link is written after the run
        queue.last.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "review_decided_marked.png"))
        page.reload()                                                                # the link keeps it
        page.get_by_text("Why it is here").wait_for()
        wait_idle(page)
        page.locator(".st-key-rv_hide_focus input").wait_for()
        expect(page.locator(".st-key-rv_hide_focus input")).not_to_be_checked()
        assert card_id(page) == second

        page.get_by_role("button", name="Re-rank now").click()                              # learn from the decision
        page.get_by_text(re.compile("label errors left")).wait_for(timeout=300_000)
        wait_idle(page)
        page.get_by_role("button", name="Check 10 further down").click()                              # check 10 further down
        page.get_by_text("drawn from further down the queue").wait_for()
        wait_idle(page)
        wait_for_link(page, "chosen=checks")
        checked = card_id(page)
        expect(card).to_contain_text("1 of 10")
        page.screenshot(path=str(artifacts / "review_checks.png"))
        press(page, "y", then_not=checked)
        assert store.in_force("reviews.csv").set_index("example_id").loc[checked, "status"] == "confirmed"
