"""Review in a real browser: key press -> next example shown, in focus mode, at 2k and 1M rows.

For each size it writes a CSV (id, text, label; 5 classes; short random texts), builds a tiny
random classifier and fills a fresh LOSSLENS_HOME with that dataset's scores by calling
losslens.scoring.pipeline.score_dataset in this process with the model's outputs replaced by random
logits (about 90% argmax = given label) and random 32-d embeddings. The app then starts on that
home with the CSV and the tiny model as its defaults, so its first load is a cache hit, and
Chromium (the headless shell, Playwright) presses keys on the Review page's focus mode:

  j (next), a/y/x/d/1-5 (decide: each moves on to the next example), u (undo: back to it)

Each latency is measured in the page, from just before the key press to the frame in which the
example card shows another example (requestAnimationFrame polling, ~16 ms resolution). It also
counts the bytes received over the websocket per key. Figures only, no assertions.

    python bench/review_browser.py [--rows 2000 1000000] [--presses 30]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_app import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, start_app, wait_idle  # noqa: E402

LABEL_NAMES = ["business", "entertainment", "politics", "sport", "tech"]
CARD = "document.querySelector('.st-key-rv_card')?.innerText ?? ''"
DECISION_KEYS = ["a", "y", "x", "d", "1", "2", "3", "4", "5"]


def write_dataset(rows: int, path: Path, seed: int = 0) -> None:
    """CSV id,text,label: ~60-character texts of random words, 5 label names, uniform labels."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "qu", "dre", "str"]
    vocabulary = np.array(["".join(rng.choice(syllables, size=rng.integers(1, 4))) for _ in range(5000)], dtype=object)
    lengths = rng.integers(8, 16, size=rows)
    words = vocabulary[rng.integers(0, len(vocabulary), size=int(lengths.sum()))]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    texts = [" ".join(words[bounds[i]:bounds[i + 1]]) for i in range(rows)]
    labels = np.array(LABEL_NAMES, dtype=object)[rng.integers(0, len(LABEL_NAMES), size=rows)]
    pd.DataFrame({"id": [f"ex{i:07d}" for i in range(rows)], "text": texts, "label": labels}).to_csv(path, index=False)


def prepare(rows: int, folder: Path) -> tuple[Path, Path, Path, dict]:
    """(LOSSLENS_HOME, CSV, model folder, setup seconds) with the scores already cached."""
    from tiny_models import build_tiny_classifier

    home, csv, model_dir = folder / "home", folder / "data.csv", folder / "model"
    seconds = {}
    start = time.perf_counter()
    write_dataset(rows, csv)
    seconds["write_csv"] = time.perf_counter() - start
    build_tiny_classifier(model_dir, LABEL_NAMES)
    os.environ["LOSSLENS_HOME"] = str(home)
    import losslens.scoring.pipeline as pipeline
    from losslens.sources.datasets import DatasetSource, load_dataset
    from losslens.scoring.models import ModelOutputs, ModelSpec

    def fake_engine(model, loaded, texts, settings, chunks, progress):
        """(N, 5 + 32): logits favouring the given label ~90% of the time, then unit embeddings; 8 tokens a text."""
        rng = np.random.default_rng(0)
        n = len(texts)
        logits = rng.normal(size=(n, 5)).astype(np.float32)
        favour = np.where(rng.random(n) < 0.9, data.labels, rng.integers(0, 5, n))
        logits[np.arange(n), favour] += 3.0
        embeddings = rng.normal(size=(n, 32)).astype(np.float32)
        return ModelOutputs(np.hstack([logits, embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)]),
                            np.full(n, 8, dtype=np.int64))

    try:
        start = time.perf_counter()
        data = load_dataset(DatasetSource.parse(str(csv)))
        seconds["load_csv"] = time.perf_counter() - start
        start = time.perf_counter()
        results = pipeline.score_dataset(data, ModelSpec(name=str(model_dir)), engine=fake_engine)
        seconds["score"] = time.perf_counter() - start
    finally:
        del os.environ["LOSSLENS_HOME"]
    seconds["flagged"] = results.n_issues
    return home, csv, model_dir, seconds


def press(page, key: str, counter: list[int]) -> tuple[float, int]:
    """(ms from the key press to another example on the card, bytes received meanwhile)."""
    before = page.evaluate(CARD)
    counter[0] = 0
    page.evaluate("window.__pressed = performance.now()")
    page.keyboard.press(key)
    page.wait_for_function(f"(before) => {{ const now = {CARD}; if (now && now !== before) {{"
                           " window.__shown = performance.now(); return true; } return false; }",
                           arg=before, polling="raf", timeout=60_000)
    elapsed = page.evaluate("window.__shown - window.__pressed")
    wait_idle(page)
    return elapsed, counter[0]


def measure(browser, url: str, presses: int, screenshot: Path | None) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(600_000)
    received = [0]
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.__setitem__(0, received[0] + len(payload))))
    start = time.perf_counter()
    page.goto(f"{url}/review")
    page.get_by_text("Why it is here").wait_for()
    wait_idle(page)
    load = time.perf_counter() - start
    time.sleep(1)   # let the page settle before the first key
    runs: dict[str, list[tuple[float, int]]] = {"next (j)": [], "decide (a y x d 1-5)": [], "undo (u)": []}
    for _ in range(presses):
        runs["next (j)"].append(press(page, "j", received))
    for i in range(presses):
        runs["decide (a y x d 1-5)"].append(press(page, DECISION_KEYS[i % len(DECISION_KEYS)], received))
    for _ in range(min(presses, 10)):
        runs["undo (u)"].append(press(page, "u", received))
    if screenshot is not None:
        page.screenshot(path=str(screenshot))
    page.close()
    out = {"first load s": round(load, 2)}
    for name, values in runs.items():
        ms = sorted(v for v, _ in values)
        out[name] = {"median_ms": round(statistics.median(ms)), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))]),
                     "kib": round(statistics.median(b for _, b in values) / 1024, 1), "n": len(ms)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000, 1_000_000])
    parser.add_argument("--presses", type=int, default=30)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for rows in args.rows:
            folder = Path(tmp) / f"rows{rows}"
            folder.mkdir()
            home, csv, model_dir, setup = prepare(rows, folder)
            print(f"{rows:,} rows: csv written in {setup['write_csv']:.1f} s, loaded in {setup['load_csv']:.1f} s, "
                  f"scored (fake outputs) in {setup['score']:.1f} s; flagged {setup['flagged']:,}", flush=True)
            shot = ARTIFACTS / f"review_focus_{rows}.png"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            with start_app(home, str(csv), str(model_dir), folder / "app.log") as url:
                results[rows] = measure(browser, url, args.presses, shot)
        browser.close()
    print("\nFocus mode in Chromium: key press -> next example on screen, median / p95 ms (KiB received per key)")
    sizes = list(results)
    print(f"{'key':<22}" + "".join(f"{f'{n:,} rows':>26}" for n in sizes))
    for name in [k for k in results[sizes[0]] if k != "first load s"]:
        cells = "".join(f"{results[n][name]['median_ms']:>9} / {results[n][name]['p95_ms']:>4} ms "
                        f"({results[n][name]['kib']:>5} KiB)" for n in sizes)
        print(f"{name:<22}{cells}")
    print("first load (s): " + ", ".join(f"{n:,} rows {results[n]['first load s']}" for n in sizes))
    print("review_browser=" + json.dumps({str(n): r for n, r in results.items()}, separators=(",", ":")))


if __name__ == "__main__":
    main()
