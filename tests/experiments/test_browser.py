"""A real browser: JupyterLab runs the quickstart notebook; a report renders with its charts.

JupyterLab is started on loopback with a token, in a temporary folder holding
a copy of ``01-quickstart.ipynb`` (so the committed notebook stays without
outputs) and with its own settings, workspace and runtime folders (so no
state leaks between runs). Headless Chromium, Debian's package driven by
Playwright, opens the notebook, runs all cells and waits for the chart images
in the output area. The notebook, saved with its outputs, is then exported as
an HTML report, which Chromium renders to a screenshot that must not be blank.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from ttglib.notebook import export_html

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT_IMAGES = ".jp-OutputArea-output img[src^='data:image/png']"
STDERR = "application/vnd.jupyter.stderr"
TRACEBACKS = f".jp-OutputArea-output[data-mime-type='{STDERR}'] :text('Traceback')"
VERDICT = ".jp-OutputArea-output :text('Nothing lost and nothing counted twice')"
RUN_MENU = "li.lm-MenuBar-item:has-text('Run')"
RUN_ALL = "li.lm-Menu-item[data-command='runmenu:run-all']"


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where it listens and its token."""

    base: str
    token: str

    def url(self, path: str) -> str:
        return f"{self.base}{path}?token={self.token}"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url(path), timeout=5) as answer:
            return json.loads(answer.read())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    playwright_api = pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright is not installed (pip install playwright)",
    )
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 with a token, serving a copy of the quickstart.

    On the way out the server is stopped and every process it started
    (kernels, the notebook's redis-server and workers) must be gone.
    """
    shutil.copy(ROOT / "notebooks" / "01-quickstart.ipynb", tmp_path)
    state = tmp_path / "jupyter"
    environment = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
    }
    lab = Lab(f"http://127.0.0.1:{free_port()}", secrets.token_hex(16))
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={lab.base.rsplit(':', 1)[1]}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={lab.token}",
        f"--ServerApp.root_dir={tmp_path}", "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class="
        "jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]  # fmt: skip
    with open(tmp_path / "jupyterlab.log", "wb") as log:
        server = subprocess.Popen(
            command, cwd=tmp_path, env=environment, stdin=subprocess.DEVNULL,
            stdout=log, stderr=log,
        )  # fmt: skip
    try:
        wait_until(lambda: answers(lab, server), 60, "JupyterLab did not answer")
        yield lab
    finally:
        stop_with_children(server)


def answers(lab: Lab, server: subprocess.Popen[bytes]) -> bool:
    assert server.poll() is None, "JupyterLab exited at start (see jupyterlab.log)"
    try:
        lab.get("/api/status")
    except OSError:
        return False
    return True


def kernel_idle(lab: Lab) -> bool:
    kernels = lab.get("/api/kernels")
    return bool(kernels) and all(k["execution_state"] == "idle" for k in kernels)


def stop_with_children(server: subprocess.Popen[bytes]) -> None:
    """Stop JupyterLab; fail if anything it started outlives it."""
    try:
        children = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    _, alive = psutil.wait_procs(children, timeout=15)
    for process in alive:
        process.kill()
    assert not alive, f"left running after JupyterLab stopped: {alive}"


def wait_until(condition: Callable[[], bool], seconds: float, failure: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.2)


def test_jupyterlab_runs_the_quickstart_and_shows_its_charts(
    browser: Any, jupyterlab: Lab, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(jupyterlab.url("/lab/tree/01-quickstart.ipynb"))
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    wait_until(lambda: kernel_idle(jupyterlab), 60, "the kernel did not start")
    page.wait_for_selector("text=Python 3 (ipykernel) | Idle", timeout=30_000)

    page.click(RUN_MENU)
    page.click(RUN_ALL)

    images = page.locator(OUTPUT_IMAGES)
    try:
        images.nth(2).wait_for(timeout=120_000)
        wait_until(lambda: kernel_idle(jupyterlab), 60, "the notebook did not finish")
    finally:
        page.screenshot(path=str(tmp_path / "jupyterlab.png"))
    assert page.locator(TRACEBACKS).count() == 0
    widths = images.evaluate_all("nodes => nodes.map(n => n.naturalWidth)")
    assert len(widths) >= 3 and min(widths) > 100
    assert page.locator(VERDICT).count() == 1

    page.keyboard.press("Control+s")
    saved = tmp_path / "01-quickstart.ipynb"
    wait_until(
        lambda: '"image/png"' in saved.read_text(encoding="utf-8"),
        30,
        "the notebook was not saved with its outputs",
    )
    report = export_html(saved, tmp_path / "01-quickstart.html")
    assert_report_renders(browser, report, tmp_path / "report.png")


def assert_report_renders(browser: Any, report: Path, screenshot: Path) -> None:
    """Open the HTML report, check its images loaded, and that the page is not blank."""
    from PIL import Image, ImageStat

    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    widths = page.locator("img").evaluate_all("nodes => nodes.map(n => n.naturalWidth)")
    assert len(widths) >= 3 and min(widths) > 100
    assert "Redis" in page.inner_text("body")
    page.screenshot(path=str(screenshot), full_page=True)

    picture = Image.open(screenshot).convert("L")
    spread = ImageStat.Stat(picture).stddev[0]
    colours = len(picture.getcolors(maxcolors=1 << 16) or [])
    assert picture.height > 1500, "the report is too short to hold its charts"
    assert spread > 20 and colours > 50, f"the report looks blank (stddev {spread:.1f})"
