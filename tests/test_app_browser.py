"""The app in a real browser: `streamlit run app.py` on a free localhost port, driven by headless Chromium.

Debian's Chromium (/usr/bin/chromium; `make test` installs it when missing) is driven through Playwright's
Python client with executable_path — Playwright's own browser downloads are never used. If the browser
cannot start the test fails and says why: it is never skipped.

Run as a script, it retakes the README's screenshot: `python tests/test_app_browser.py docs/app.png`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from webapp.show import CONTENT_PX, RUN_CHARTS

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOT = ROOT / "results" / "app-browser.png"
DEPLOYS = 100  # 400 deploy-simulations: enough that the page runs them on its worker processes
TABS = tuple(title for _, title, _ in RUN_CHARTS)
#: The window every comparison table must fit without a horizontal scroll, sidebar open.
SMALL_WINDOW = {"width": 1280, "height": 800}
SERVER_START_S, PAGE_S, RUN_S = 90, 90, 240  # generous: the machine may be busy with other work


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(log: Path) -> Iterator[str]:
    """`streamlit run app.py` on a free port; the server (and its worker processes) stopped on exit."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    cmd += ["--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"]
    cmd += ["--browser.gatherUsageStats", "false"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        # Its own session: the server and the batch workers it spawns form one process group to stop.
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer within {SERVER_START_S} s:\n{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium chromium-driver)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=60_000)
        except Exception as err:  # any launch failure: say so plainly, never skip
            pytest.fail(f"headless Chromium did not start from {CHROMIUM}: {err}")
        try:
            yield browser
        finally:
            browser.close()


def no_exception(page: Any) -> None:
    shown = page.locator('[data-testid="stException"]')
    assert shown.count() == 0, shown.all_inner_texts()


def drive(
    browser: Any, url: str, deploys: int, shot: Path, height: int = 1000, settle_s: float = 0.0
) -> dict[str, Any]:
    """Open the Compare page, run `deploys` deploys (after `settle_s` seconds on the page, as a user
    choosing settings would spend), open every chart tab; a screenshot of the result."""
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.set_default_timeout(PAGE_S * 1000)
    page.goto(url, timeout=PAGE_S * 1000)
    run = page.locator(".st-key-run button")
    run.wait_for()
    field = page.get_by_label("deploys per strategy")
    field.fill(str(deploys))
    field.press("Enter")
    page.get_by_text(f"{deploys:,} deploys × 4 strategies of").wait_for()
    no_exception(page)
    page.wait_for_timeout(settle_s * 1000)
    start = time.monotonic()
    run.click()
    done = page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="simulated")
    done.wait_for(timeout=RUN_S * 1000)
    panel = page.get_by_role("tabpanel")
    panel.locator('[data-testid="stImage"] img').wait_for()
    seconds = time.monotonic() - start
    table = table_fit(page)
    sources = {}
    for title in TABS:
        page.get_by_role("tab", name=title, exact=True).click()
        img = page.get_by_role("tabpanel").locator('[data-testid="stImage"] img')
        page.wait_for_function(
            "([seen]) => { const i = document.querySelector('[role=tabpanel] [data-testid=stImage] img');"
            " return i && i.complete && i.naturalWidth > 0 && !seen.includes(i.src); }",
            arg=[list(sources.values())],
        )
        sources[title] = img.get_attribute("src")
        no_exception(page)
    page.get_by_role("tab", name="Blast radius vs time to restore", exact=True).click()
    page.get_by_role("tabpanel").locator('[data-testid="stImage"] img').wait_for()
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
    result = {
        "seconds": seconds,
        "sources": sources,
        "success": done.inner_text(),
        "tables": page.locator('[data-testid="stDataFrame"]').count(),
        "table": table,
    }
    page.close()
    return result


def table_fit(page: Any) -> dict[str, Any]:
    """The comparison table in a 1,280 × 800 window with the sidebar open: its width, how wide its
    content is drawn (the grid's scroller), where it ends, and the window's width; then back."""
    size = page.viewport_size
    page.set_viewport_size(SMALL_WINDOW)
    page.wait_for_timeout(1000)  # the grid redraws at the new width
    sizes = page.evaluate(
        """() => {
            const table = document.querySelector('[data-testid="stDataFrame"]');
            const scroller = table.querySelector('.dvn-scroller');
            const sidebar = document.querySelector('[data-testid="stSidebar"]');
            return {width: table.clientWidth, right: table.getBoundingClientRect().right,
                    scroll_width: scroller.scrollWidth, client_width: scroller.clientWidth,
                    sidebar: sidebar ? sidebar.getBoundingClientRect().width : 0,
                    window: window.innerWidth};
        }"""
    )
    page.set_viewport_size(size)
    return sizes


def test_the_app_runs_in_a_real_browser_and_draws_every_chart(tmp_path):
    with server(tmp_path / "streamlit.log") as url, chromium() as browser:
        result = drive(browser, url, DEPLOYS, SHOT)
    assert f"{DEPLOYS:,} deploys × 4 strategies" in result["success"]
    assert result["tables"] >= 1  # the comparison table
    # At 1,280 px with the sidebar open the table gets the width the app sizes its columns for, and
    # draws within it: no horizontal scroll, nothing past the window's edge.
    table = result["table"]
    assert table["sidebar"] > 0 and table["window"] == SMALL_WINDOW["width"]
    assert table["width"] >= CONTENT_PX, table
    assert table["scroll_width"] <= table["client_width"] and table["right"] <= table["window"], table
    assert list(result["sources"]) == list(TABS)
    assert len(set(result["sources"].values())) == len(TABS)  # six different charts
    assert SHOT.stat().st_size > 10_000


def screenshot(out: Path, deploys: int = 500) -> None:
    """The README's picture: the Compare page after a run, as a small palette PNG."""
    from PIL import Image

    raw = ROOT / "results" / "app-readme-raw.png"
    with server(ROOT / "results" / "app-readme.log") as url, chromium() as browser:
        result = drive(browser, url, deploys, raw, height=1500)
    image = Image.open(raw).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.Resampling.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)
    print(f"{out}: {out.stat().st_size:,} bytes; the run took {result['seconds']:.1f} s")


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "app.png")
