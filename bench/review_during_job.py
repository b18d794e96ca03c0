"""Review while a scoring job runs in the same app: key press -> next example, idle vs during the job.

One app (as `losslens app` runs it), two browser tabs. Tab A reviews a dataset whose scores are
already cached (bench/review_browser.py's `prepare`: --rows short texts, a tiny classifier, fake
outputs), in focus mode. The key latencies are first measured with nothing else running ("idle");
then tab B opens Data & model, picks the bundled encoder (MiniLM) for the same dataset and presses
Score, which starts a real scoring job in a worker process of the same server; while that worker
lives, tab A's keys are measured again ("during the job"). Each latency runs from just before the
key press to the frame in which the card shows another example (see review_browser.press).
Printed: median / p95 ms per key kind idle and during, the ratio of the medians, how many
presses fell inside the job, the job's (worker's) CPU seconds, the server's own CPU seconds over
the same span, and the CPU. Figures only, no assertions.

    python bench/review_during_job.py [--rows 20000] [--presses 20]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from browser_app import CHROMIUM, CHROMIUM_ARGS, child_pids, server_pid, start_app, wait_idle  # noqa: E402
from machine import describe_cpu  # noqa: E402
from review_browser import DECISION_KEYS, prepare, press  # noqa: E402
from server_during_job import cpu_seconds  # noqa: E402

from contention import cpu_model  # noqa: E402


def presses(page, counter: list[int], n: int, keep_going=lambda: True) -> dict[str, list[float]]:
    """Up to `n` rounds of (j, a decision key), while `keep_going()`; ms per key kind."""
    out: dict[str, list[float]] = {"next (j)": [], "decide": []}
    for i in range(n):
        if not keep_going():
            break
        out["next (j)"].append(press(page, "j", counter)[0])
        out["decide"].append(press(page, DECISION_KEYS[i % len(DECISION_KEYS)], counter)[0])
    return out


def start_scoring(page, url: str) -> None:
    """Tab B: Data & model (the app's first page), the bundled encoder for the same dataset, Score."""
    page.goto(url)
    wait_idle(page)
    page.get_by_text("Bundled encoder (MiniLM, offline)").click()
    wait_idle(page)
    page.get_by_role("button", name="Score", exact=True).click()
    wait_idle(page)


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"{statistics.median(ordered):>6.0f} / {ordered[int(0.95 * (len(ordered) - 1))]:>5.0f} ms (n={len(ordered)})"
            if ordered else "no presses")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--presses", type=int, default=20, help="rounds of (next, decide) per phase")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        folder = Path(tmp)
        home, csv, model_dir, _ = prepare(args.rows, folder)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        with start_app(home, str(csv), str(model_dir), folder / "app.log", warm=False) as url:
            server = server_pid(int(url.rsplit(":", 1)[1]))
            review = browser.new_page(viewport={"width": 1400, "height": 1000})
            review.set_default_timeout(600_000)
            received = [0]
            review.on("websocket", lambda ws: ws.on(
                "framereceived", lambda payload: received.__setitem__(0, received[0] + len(payload))))
            review.goto(f"{url}/review")
            review.get_by_text("Why it is here").wait_for()
            wait_idle(review)
            time.sleep(1)
            idle = presses(review, received, args.presses)
            scorer = browser.new_page(viewport={"width": 1400, "height": 1000})
            scorer.set_default_timeout(600_000)
            own0, children0 = cpu_seconds(server)
            start_scoring(scorer, url)
            while not child_pids(server):
                time.sleep(0.05)
            started = time.perf_counter()
            during = presses(review, received, args.presses, keep_going=lambda: bool(child_pids(server)))
            inside = time.perf_counter() - started
            while child_pids(server):
                time.sleep(0.2)
            own1, children1 = cpu_seconds(server)
            job_seconds = time.perf_counter() - started
        browser.close()
    print(f"lscpu model name: {cpu_model()}; {describe_cpu()}")
    print(f"{args.rows:,} rows reviewed in focus mode; the job: bundled MiniLM scoring the same {args.rows:,} texts "
          f"in a worker ({job_seconds:.0f} s wall, {children1 - children0:.1f} CPU-s); server's own CPU over the "
          f"span: {own1 - own0:.1f} s")
    print(f"{'key':<10} {'idle median / p95':>28} {'during the job':>28} {'ratio':>6}")
    for kind in idle:
        ratio = (statistics.median(during[kind]) / statistics.median(idle[kind])) if during[kind] else float("nan")
        print(f"{kind:<10} {summary(idle[kind]):>28} {summary(during[kind]):>28} {ratio:>5.2f}x")
    print(f"presses during the job: {len(during['next (j)'])} rounds in its first {inside:.0f} s")
    print("review_during_job=" + json.dumps({"idle": idle, "during": during, "job_wall_s": job_seconds,
                                             "job_cpu_s": children1 - children0, "server_cpu_s": own1 - own0},
                                            separators=(",", ":")))


if __name__ == "__main__":
    main()
