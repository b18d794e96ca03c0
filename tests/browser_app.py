"""Real-browser helpers: `streamlit run app.py` on a free port, waiting for Streamlit to be idle.

Fixtures that drive Debian's Chromium headless shell through Playwright are in tests/conftest.py.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from losslens.cli.app import SERVE_STREAMLIT
from warm_cache import warm_home

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
# Chromium's headless build (Debian package chromium-headless-shell, the build Playwright itself runs
# headless): the same Blink as /usr/bin/chromium without the browser shell; 11-17% less CPU per
# browser test file than the full browser in headless mode, measured side by side.
CHROMIUM = "/usr/bin/chromium-headless-shell"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REVIEWS = [
    ("A moving story with wonderful acting.", "pos"), ("Dull plot and wooden dialogue.", "neg"),
    ("I laughed from start to finish.", "pos"), ("Two hours I will never get back.", "neg"),
    ("The soundtrack alone is worth it.", "pos"), ("Predictable, slow and far too long.", "neg"),
    ("A clever script and a great cast.", "pos"), ("The ending made no sense at all.", "neg"),
    ("Beautifully shot, I loved it.", "neg"), ("Terrible pacing, I fell asleep.", "pos"),
    ("Warm, funny and honest.", "pos"), ("The worst film of the year.", "neg"),
    ("An instant classic.", "pos"), ("Lazy writing everywhere.", "neg"),
    ("Stunning performances all round.", "pos"), ("I walked out halfway.", "neg"),
    ("A joy to watch with the whole family.", "pos"), ("Boring, boring, boring.", "neg"),
    ("The director's best work yet.", "pos"), ("Not even the actors seemed to care.", "neg"),
]
"""Twenty short film reviews (text, label); two of them (rows 8 and 9) carry the wrong label."""
LONG_REVIEWS = [
    ("I went in expecting a light comedy and came out having watched one of the most careful films about grief "
     "I have seen in years. The lead gives a quiet, controlled performance: every time the script threatens to "
     "tip into melodrama she pulls it back with a look or a pause. The supporting cast is just as good, the "
     "photography makes the small seaside town feel both cosy and suffocating, and the score knows when to stay "
     "silent. It is slow in places, and the second act wanders, but the final twenty minutes are as moving as "
     "anything this year. Bring tissues, and stay for the last shot.", "pos"),
    ("Two and a half hours of shouting, explosions and a plot that makes no sense even by the standards of the "
     "franchise. The villain's plan changes every twenty minutes, characters we were told were dead walk back in "
     "without a word of explanation, and the dialogue sounds as if it was written by a committee that never met. "
     "The effects are expensive and weightless, the editing is so frantic that the action scenes are impossible "
     "to follow, and the one good actor in the cast looks as if he would rather be anywhere else. A loud, empty "
     "and exhausting film that mistakes noise for excitement.", "pos"),
    ("A gentle documentary about a family of beekeepers in the mountains, told over one year. Nothing much happens "
     "and that is the point: we watch the hives wake up in spring, the honey harvest in summer, the long worried "
     "weeks when a sickness spreads through the colonies. The director never explains or narrates; the family "
     "talk among themselves and to the bees. Some viewers will find it too slow, but I was completely absorbed, "
     "and the sound design, all buzzing and wind, is extraordinary.", "pos"),
    ("The trailer promised a clever heist thriller. What we get is a string of scenes in which attractive people "
     "explain the plan to each other, then explain it again, then explain why it went wrong. The twist is visible "
     "from the first ten minutes, the romance has no spark, and the ending simply stops rather than concludes. "
     "The soundtrack is the only thing that works, and even that is borrowed from better films.", "neg"),
    ("Beautifully acted and shot, but I could not connect with any of the characters, and by the end I did not "
     "care what happened to them. The script keeps hinting at a bigger story about the war and the village's "
     "secret, then drops every thread. It looks wonderful on a big screen; it is also two hours I will not get "
     "back, and I left the cinema feeling nothing at all.", "pos"),
    ("An animated film that children and their parents can enjoy together, which is rarer than it should be. The "
     "jokes land for both audiences, the songs are catchy without being annoying, and the story about a lost "
     "robot finding its way home has real heart. The animation is bright and inventive, especially in the "
     "underwater sequence, and the voice cast is clearly having fun.", "pos"),
]
"""Six reviews of 360-590 characters (text, label); two of them (the 2nd and the 5th) carry the wrong label."""
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def server_pid(port: int) -> int:
    """The pid of the Streamlit server started on `port` (its command line names the port)."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if f"--server.port={port}" in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    return int(proc.name)
            except OSError:
                continue
    raise RuntimeError(f"no server on port {port}")


def child_pids(pid: int) -> list[int]:
    """The live child processes of `pid` (a server's job workers), sorted."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(found)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def start_app(home: Path, demo_source: str, model: str, log: Path, port: int | None = None,
              flags: tuple[str, ...] = (), warm: bool = True, **settings: str):
    """Run the app as `losslens app` does, on a localhost port (free, unless given) with its own
    LOSSLENS_HOME (and any other LOSSLENS_* `settings`, e.g. LOSSLENS_DB_URL=...) and extra
    Streamlit `flags` (e.g. --secrets.files=...); yield its URL. With `warm`, the home starts with
    the scores of `demo_source` (a file) from the session's warmed cache (tests/warm_cache.py)."""
    port = port or free_port()
    if warm:
        warm_home(home, demo_source, model)
    env = {**os.environ, "LOSSLENS_HOME": str(home), "LOSSLENS_DEMO_SOURCE": demo_source,
           "LOSSLENS_DEFAULT_MODEL": model, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", **settings}
    if "LOSSLENS_DB_URL" not in settings:
        env.pop("LOSSLENS_DB_URL", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE_STREAMLIT, "run", "app.py", "--server.headless=true",
             f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
             f"--secrets.files={home / 'no-secrets.toml'}", *flags],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/_stcore/health", proc, log, "app", expect=b"ok")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until_serving(url: str, proc: subprocess.Popen, log: Path, what: str, expect: bytes | None = None,
                       seconds: float = 60) -> None:
    """Poll `url` until it answers 200 (with body `expect`, when given); a RuntimeError with the
    end of `log` if `proc` exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200 and (expect is None or reply.read().strip() == expect):
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start; log:\n{log.read_text()[-3000:]}")
        time.sleep(0.25)


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_selector(IDLE, timeout=timeout)


def wait_for_link(page, part: str) -> None:
    """Wait until the page's link (its query string, written after a run) contains `part`."""
    page.wait_for_function("part => decodeURIComponent(location.search).includes(part)", arg=part)


def card_id(page) -> str:
    """The id on the focus card, read once the page shows exactly one card (mid-rerun, Streamlit
    may show the old card beside the new one)."""
    page.wait_for_function("() => document.querySelectorAll('.st-key-rv_card').length === 1")
    found = re.search(r"id (\S+) ·", page.locator(".st-key-rv_card").inner_text())
    assert found, page.locator(".st-key-rv_card").inner_text()
    return found.group(1)


def press(page, key: str, then_not: str | None = None) -> str:
    """Press `key`; wait for the card to show another example than `then_not`; its id."""
    page.keyboard.press(key)
    if then_not is not None:
        page.wait_for_function(f"() => !document.querySelector('.st-key-rv_card')?.innerText.includes('id {then_not} ·')")
    wait_idle(page)
    return card_id(page)
