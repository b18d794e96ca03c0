"""Review page in a real browser: time from a click to the updated table, at 1M and 2k rows.

For each size it writes a CSV (id, text, label; 5 classes; short random texts), builds a tiny
random classifier, and fills a fresh LOSSLENS_HOME with that dataset's scores by calling
losslens.pipeline.score_dataset in this process with the model replaced by random Dirichlet
probabilities (90% of given labels agree with the argmax). The app is then started on that home
with the CSV and the tiny model as its defaults, so its first load is a cache hit, and Chromium
(/usr/bin/chromium, Playwright) measures, median of --repeat runs each:

  cold first load   server just started: open /, click Review in the sidebar -> first row shown
                    (includes the background job: read the CSV, fingerprint, load the cache)
  new tab           a new tab opens /review, with the job already finished in the server
  sidebar -> Review from the Data & model page, click Review in the sidebar
  sort key          Sort by loss <-> margin             flagged only   toggle the checkbox
  next page         "Next ->"                           text search    a new word + Enter
  relabel           row 1's corrected-label select -> its status badge updated

It also counts the example rows in the DOM and the bytes the browser receives over the
websocket for each action (only one page of rows must reach the browser). Figures only, no
assertions. A screenshot of the 1M-row page goes to tests/artifacts/review_browser_1m.png.

    python bench/review_browser.py [--rows 1000000 2000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_app import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, IDLE, start_app  # noqa: E402

LABEL_NAMES = ["business", "entertainment", "politics", "sport", "tech"]
SEARCH_WORDS = ["market", "film", "chip", "goal", "election", "vote", "match", "phone", "price"]
ROWS_SELECTOR = "[class*='st-key-review_row_']"
# Page signature: None while a script run is in progress, else row 1 + every caption.
SIGNATURE_JS = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return null;
  const first = document.querySelector('.st-key-review_row_0');
  if (!first) return null;
  const captions = [...document.querySelectorAll("[data-testid='stCaptionContainer']")];
  return first.innerText + '#' + captions.map(e => e.innerText).join('|');
}"""


def write_dataset(rows: int, path: Path, seed: int = 0) -> None:
    """CSV id,text,label: ~60-character texts of random words, 5 label names, uniform labels."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "qu", "dre", "str"]
    vocabulary = np.array(["".join(rng.choice(syllables, size=rng.integers(1, 4))) for _ in range(5000)]
                          + SEARCH_WORDS, dtype=object)
    lengths = rng.integers(8, 16, size=rows)
    words = vocabulary[rng.integers(0, len(vocabulary), size=int(lengths.sum()))]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    texts = [" ".join(words[bounds[i]:bounds[i + 1]]) for i in range(rows)]
    labels = np.array(LABEL_NAMES, dtype=object)[rng.integers(0, len(LABEL_NAMES), size=rows)]
    pd.DataFrame({"id": [f"ex{i:07d}" for i in range(rows)], "text": texts, "label": labels}).to_csv(
        path, index=False)


def fake_probs(model, spec, identity, data, settings, progress, label_map) -> np.ndarray:
    """Stand-in for losslens.pipeline._compute_probs: (N, K) Dirichlet rows, 90% argmax = given label."""
    rng = np.random.default_rng(1)
    n, k = len(data), len(data.label_names)
    probs = rng.dirichlet(np.full(k, 0.3), size=n).astype(np.float32)
    agree = np.flatnonzero(rng.random(n) < 0.9)
    top = probs[agree].argmax(axis=1)
    given = data.labels[agree]
    top_values = probs[agree, top].copy()
    probs[agree, top] = probs[agree, given]
    probs[agree, given] = top_values
    return probs


def prepare(rows: int, folder: Path) -> tuple[Path, Path, Path, dict[str, float]]:
    """(home, csv, model folder, setup seconds): a home whose cache holds the app's default job."""
    from tiny_models import build_tiny_classifier

    home, csv, model_dir = folder / "home", folder / "data.csv", folder / "tiny_classifier"
    seconds = {}
    start = time.perf_counter()
    write_dataset(rows, csv)
    seconds["write_csv"] = time.perf_counter() - start
    build_tiny_classifier(model_dir, LABEL_NAMES)
    os.environ["LOSSLENS_HOME"] = str(home)
    import losslens.pipeline as pipeline
    from losslens.data import DatasetSource, load_dataset
    from losslens.models import ModelSpec

    original, pipeline._compute_probs = pipeline._compute_probs, fake_probs
    try:
        start = time.perf_counter()
        data = load_dataset(DatasetSource.parse(str(csv)))
        seconds["load_csv"] = time.perf_counter() - start
        start = time.perf_counter()
        results = pipeline.score_dataset(data, ModelSpec(name=str(model_dir)), pipeline.ScoreSettings())
        seconds["score"] = time.perf_counter() - start
        start = time.perf_counter()
        pipeline.score_dataset(data, ModelSpec(name=str(model_dir)), pipeline.ScoreSettings())
        seconds["score_cached"] = time.perf_counter() - start
    finally:
        pipeline._compute_probs = original
        del os.environ["LOSSLENS_HOME"]
    seconds["flagged"] = results.n_issues
    return home, csv, model_dir, seconds


class Session:
    """One browser tab on the Review page, counting websocket bytes received."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.set_default_timeout(60_000)
        self.received = 0
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._count))

    def _count(self, payload) -> None:
        self.received += len(payload)

    def open(self, url: str, timeout_ms: float, via_root: bool = False) -> float:
        """Seconds from navigating to the Review page to its first row shown. via_root: load / and
        click Review in the sidebar (a deep link to /review on a server where no session has run
        app.py yet gets Streamlit's pages/ folder instead of st.navigation)."""
        start = time.perf_counter()
        if via_root:
            self.page.goto(url)
            self.nav_link("Data & model").wait_for(timeout=timeout_ms)  # st.navigation's sidebar
            self.nav_link("Review").click(timeout=timeout_ms)
        else:
            self.page.goto(f"{url}/review")
        self.page.wait_for_function(SIGNATURE_JS, timeout=timeout_ms)
        return time.perf_counter() - start

    def nav_link(self, title: str):
        return self.page.locator("[data-testid='stSidebarNav'] a", has_text=re.compile(f"^{re.escape(title)}$"))

    def signature(self) -> str | None:
        return self.page.evaluate(SIGNATURE_JS)

    def act(self, action, prepare=None) -> tuple[float, int]:
        """(seconds from the action to the changed, idle page; bytes received meanwhile).
        prepare: untimed step before it (e.g. open a selectbox's list)."""
        before = self.signature()
        if prepare is not None:
            prepare()
        self.received = 0
        start = time.perf_counter()
        action()
        self.page.wait_for_function(
            f"(before) => {{ const s = ({SIGNATURE_JS})(); return s !== null && s !== before; }}",
            arg=before, timeout=60_000)
        return time.perf_counter() - start, self.received

    def rows_in_dom(self) -> int:
        return self.page.locator(ROWS_SELECTOR).count()

    def choose(self, container: str, option: str) -> tuple[float, int]:
        """Open the selectbox inside `container` (untimed), then time the click on `option`."""
        choice = self.page.get_by_role("option", name=option, exact=True)

        def open_list() -> None:
            self.page.locator(f"{container} [data-testid='stSelectbox']").first.click()
            choice.wait_for()

        return self.act(choice.click, prepare=open_list)


def measure(browser, url: str, repeat: int, screenshot: Path | None) -> dict[str, dict[str, float]]:
    """Median seconds and bytes per action (see the module docstring)."""
    out: dict[str, list[tuple[float, int]]] = {}
    tab = Session(browser)
    tab.received = 0
    out["cold first load"] = [(tab.open(url, 600_000, via_root=True), tab.received)]
    rows_shown = tab.rows_in_dom()
    for _ in range(repeat):
        other = Session(browser)
        out.setdefault("new tab", []).append((other.open(url, 120_000), other.received))
        other.page.close()
    for _ in range(repeat):
        tab.nav_link("Data & model").click()
        tab.page.wait_for_selector(IDLE)
        tab.page.get_by_role("heading", name="Data & model").wait_for()
        tab.page.wait_for_selector(IDLE)
        out.setdefault("sidebar -> Review", []).append(tab.act(lambda: tab.nav_link("Review").click()))
    sort_keys = ["Margin", "Loss"]
    for i in range(repeat * 2):
        out.setdefault("sort key", []).append(tab.choose(".st-key-rv_sort", sort_keys[i % 2]))
    for _ in range(repeat * 2):
        out.setdefault("flagged only", []).append(tab.act(lambda: tab.page.locator(".st-key-rv_flagged label").click()))
    for _ in range(repeat):
        out.setdefault("next page", []).append(
            tab.act(lambda: tab.page.get_by_role("button", name="Next →").click()))
    search = tab.page.locator(".st-key-rv_search input")
    for i in range(repeat):
        word = SEARCH_WORDS[i % len(SEARCH_WORDS)]
        out.setdefault("text search", []).append(tab.act(lambda: (search.fill(word), search.press("Enter"))))
    out.setdefault("clear search", []).append(tab.act(lambda: (search.fill(""), search.press("Enter"))))
    for i in range(repeat):
        label = LABEL_NAMES[i % len(LABEL_NAMES)]
        out.setdefault("relabel", []).append(tab.choose(".st-key-review_row_0", label))
    rows_after = tab.rows_in_dom()
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        tab.page.screenshot(path=str(screenshot), full_page=False)
    summary = {name: {"s": statistics.median(t for t, _ in runs), "min_s": min(t for t, _ in runs),
                      "kb": statistics.median(b for _, b in runs) / 1024, "n": len(runs)}
               for name, runs in out.items()}
    summary["rows in DOM"] = {"first": rows_shown, "last": rows_after}
    tab.page.close()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 2_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for rows in args.rows:
            folder = Path(tmp) / f"rows{rows}"
            folder.mkdir()
            home, csv, model_dir, setup = prepare(rows, folder)
            print(f"{rows:,} rows: csv {csv.stat().st_size / 2**20:.1f} MiB written in {setup['write_csv']:.1f} s; "
                  f"load {setup['load_csv']:.1f} s; score (fake probs + cleanlab) {setup['score']:.1f} s; "
                  f"cached score {setup['score_cached']:.1f} s; flagged {setup['flagged']:,}", flush=True)
            shot = ARTIFACTS / "review_browser_1m.png" if rows >= 1_000_000 else None
            with start_app(home, str(csv), str(model_dir), folder / "app.log") as url:
                results[rows] = measure(browser, url, args.repeat, shot)
        browser.close()

    sizes = list(results)
    print("\nReview page in Chromium: median seconds from the action to the updated, idle page "
          "(KiB received over the websocket)")
    print(f"{'action':<18}" + "".join(f"{f'{n:,} rows':>24}" for n in sizes))
    for name in [k for k in results[sizes[0]] if k != "rows in DOM"]:
        cells = "".join(f"{results[n][name]['s']:>12.3f} s ({results[n][name]['kb']:>6.0f} KiB)" for n in sizes)
        print(f"{name:<18}{cells}")
    for n in sizes:
        dom = results[n]["rows in DOM"]
        print(f"{n:,} rows: example rows in the DOM: {dom['first']} on load, {dom['last']} at the end")
    compact = {str(n): {k: (round(v["s"], 3) if "s" in v else v) for k, v in r.items()} for n, r in results.items()}
    print("review_browser=" + json.dumps(compact, separators=(",", ":")))


if __name__ == "__main__":
    main()
