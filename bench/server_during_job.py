"""The web server while the app scores: does the process serving the port stay light and answer?

Starts the app as `losslens app` does (a fresh LOSSLENS_HOME, its first-load dataset a fixed
subset of the demo: every k-th article, --n of them), opens it once in headless Chromium so the
app starts its default scoring job, then until the results are on the page: polls
`/_stcore/health` every 0.25 s (latency of each answer) and reads the server process's own CPU
time and that of the children it reaped (its worker processes) from /proc. Prints the health
latencies (median, max), the server's own CPU seconds during the job, the job's (workers') CPU
seconds and the server's share of the job's CPU, the wall time, and the CPU it ran on. Figures
only, no assertions.

    python bench/server_during_job.py [--n 300]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser_app import CHROMIUM, CHROMIUM_ARGS, server_pid, start_app  # noqa: E402
from machine import describe_cpu  # noqa: E402

from losslens.sources.datasets import DatasetSource, load_dataset  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(own utime + stime, reaped children's cutime + cstime) of process `pid`, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own, children = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
    return own / TICKS, children / TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="demo articles to score (every k-th)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    data = load_dataset(DatasetSource.parse("demo:bbc"))
    step = max(1, len(data) // args.n)
    folder = Path(tempfile.mkdtemp(prefix="losslens-server-bench-"))
    csv = folder / "subset.csv"
    import pandas as pd

    pd.DataFrame({"text": data.texts[::step][:args.n],
                  "label": [data.label_names[k] for k in data.labels[::step][:args.n]]}).to_csv(csv, index=False)
    with start_app(folder / "home", str(csv), "bundled:minilm", folder / "app.log", warm=False) as url:
        port = int(url.rsplit(":", 1)[1])
        pid = server_pid(port)
        own0, children0 = cpu_seconds(pid)
        latencies: list[float] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            started = time.perf_counter()
            page.goto(url)
            while not page.get_by_text("Model disagrees with the given label").count():
                asked = time.perf_counter()
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=30) as reply:
                    reply.read()
                latencies.append(time.perf_counter() - asked)
                time.sleep(0.25)
            wall = time.perf_counter() - started
            browser.close()
        time.sleep(1.0)   # the finished worker is reaped
        own1, children1 = cpu_seconds(pid)
    own, job = own1 - own0, children1 - children0
    latencies.sort()
    print(f"machine: {describe_cpu()}")
    print(f"{args.n} demo articles, bundled:minilm, cold cache: {wall:.1f} s wall until the results showed")
    print(f"/_stcore/health: {len(latencies)} answers, median {latencies[len(latencies) // 2] * 1000:.0f} ms, "
          f"max {latencies[-1] * 1000:.0f} ms")
    print(f"server process CPU {own:.1f} s, its workers {job:.1f} s: server share of the job's CPU "
          f"{own / max(job, 1e-9):.1%}")


if __name__ == "__main__":
    main()
