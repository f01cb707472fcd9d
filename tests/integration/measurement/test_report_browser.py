"""Headless Chromium opens report.html and a running server's /dashboard: do the charts draw?"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from netcx.config import MeasurementSettings
from netcx.services.report import build_report, write_report
from tests.browser import chromium
from tests.servers import netcx_server
from tests.unit.measurement.handmade import PSEUDONYMIZER, designed_policy, random_run

ARTIFACTS = Path("test-artifacts")


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    with chromium("--window-size=1300,2600") as driver:
        yield driver


@pytest.fixture
def measured_run(tmp_path: Path) -> Path:
    world, run = random_run(tmp_path, accounts=300)
    report = build_report(
        world, run, PSEUDONYMIZER, {}, MeasurementSettings(), designed_policy(0.5)
    )
    write_report(report, run)
    return run


def _rendered_charts(driver: webdriver.Chrome) -> dict[str, int]:
    """Charts the browser laid out: SVGs with a non-zero box, and the marks drawn in them."""
    counts: dict[str, int] = driver.execute_script(
        """
        const svgs = [...document.querySelectorAll('figure svg')];
        const drawn = svgs.filter(s => s.getBoundingClientRect().width > 50
                                       && s.getBoundingClientRect().height > 30);
        const marks = kind => drawn.map(s => s.querySelectorAll(
            `g.mark-${kind} path, g.mark-${kind} line, g.mark-${kind} rect`).length);
        const withBox = sel => [...document.querySelectorAll(sel)].filter(e => {
            const b = e.getBoundingClientRect(); return b.width > 0 || b.height > 0; }).length;
        return {
            charts: drawn.length,
            charts_with_marks: drawn.filter(s => s.querySelectorAll(
                'g[class*="mark-"] path, g[class*="mark-"] line').length > 0).length,
            bars: marks('rect').reduce((a, b) => a + b, 0),
            rules: marks('rule').reduce((a, b) => a + b, 0),
            points: marks('symbol').reduce((a, b) => a + b, 0),
            visible_marks: withBox('g[class*="mark-"] path'),
        };
        """
    )
    return counts


def _assert_all_charts_drawn(counts: dict[str, int]) -> None:
    # funnel, negative-experience shares, lead times, two forest plots, friction
    assert counts["charts"] >= 6, counts
    assert counts["charts_with_marks"] == counts["charts"], counts
    assert counts["bars"] >= 10, counts  # funnel stages + shares + histogram + friction
    assert counts["rules"] >= 6, counts  # confidence intervals
    assert counts["points"] >= 3, counts  # forest-plot estimates
    assert counts["visible_marks"] >= 20, counts


@pytest.mark.integration
@pytest.mark.browser
def test_report_html_renders_its_charts_offline(
    browser: webdriver.Chrome, measured_run: Path
) -> None:
    browser.get((measured_run / "report.html").as_uri())
    assert "customer-experience measurement" in browser.find_element(By.TAG_NAME, "h1").text
    _assert_all_charts_drawn(_rendered_charts(browser))
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "How to read this report" in text and "95 % CI" in text
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report.png"))


@pytest.mark.integration
@pytest.mark.browser
def test_dashboard_of_a_running_server_shows_the_newest_run(
    browser: webdriver.Chrome, measured_run: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    env = {"NETCX_MEASUREMENT__RUNS_DIR": str(runs)}
    with netcx_server(tmp_path / "data", env=env) as base:
        empty = httpx.get(f"{base}/dashboard", timeout=10)
        assert empty.status_code == 404 and "No measured run yet" in empty.text
        shutil.copytree(measured_run, runs / "run-1")
        browser.get(f"{base}/dashboard")
        _assert_all_charts_drawn(_rendered_charts(browser))
        assert "source:" in browser.find_element(By.TAG_NAME, "header").text
        ARTIFACTS.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
        data = httpx.get(f"{base}/dashboard/report.json", timeout=10).json()
        assert data["source"].endswith("run-1/report.json")
        assert data["report"]["measures"]["nps_uplift"]["true_effect"] == 20.0
