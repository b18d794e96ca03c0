"""The wheel is the product: built from the repository, installed into a fresh virtual environment,
`losslens app` started from another folder serves every page; `import core` finds nothing; SIGTERM
to `losslens app` stops the server too."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from app_harness import write_review_fixture
from browser_app import free_port, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding only the built wheel; the dependencies come from this test's venv
    through a .pth line (which adds the folder, not the editable install's own .pth hooks)."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(work / "dist"), str(ROOT)], check=True, capture_output=True)
    (wheel,) = (work / "dist").glob("losslens-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", str(wheel)], check=True, capture_output=True)
    return venv


def test_installed_wheel_imports_losslens_not_core(installed, tmp_path):
    probe = ("import importlib.util, losslens, losslens.cli.app as cli; "
             "print(losslens.__file__); print(importlib.util.find_spec('core')); print(cli.app_script())")
    out = subprocess.run([str(installed / "bin" / "python"), "-c", probe], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout.split("\n")
    assert out[0].startswith(str(installed)) and out[0].endswith("losslens/__init__.py")
    assert out[1] == "None"
    assert out[2] == str(next(installed.glob("lib/python3*/site-packages/losslens/webapp/app.py")))


def test_losslens_app_from_the_wheel_serves_every_page(installed, tmp_path, page, tiny_classifier_dir,
                                                        artifacts):
    fixture = write_review_fixture(tmp_path / "reviews.csv")
    port = free_port()
    env = {**os.environ, "LOSSLENS_HOME": str(tmp_path / "home"), "LOSSLENS_DEMO_SOURCE": str(fixture),
           "LOSSLENS_DEFAULT_MODEL": str(tiny_classifier_dir), "HF_HUB_OFFLINE": "1"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    server = subprocess.Popen([str(installed / "bin" / "losslens"), "app", "--port", str(port)], cwd=elsewhere,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read().strip() == b"ok":
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the app did not start"
                time.sleep(0.25)
        page.goto(url)
        page.get_by_text("Labels the model disputes").wait_for()
        for title in ("Review", "Export", "Active learning"):
            page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
            page.get_by_role("heading", name=title).wait_for()
            wait_idle(page)
        page.screenshot(path=str(artifacts / "wheel_active_learning.png"), full_page=True)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=20)
    assert code in (0, -signal.SIGTERM)
    with pytest.raises(OSError):   # the Streamlit server went down with it
        urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
