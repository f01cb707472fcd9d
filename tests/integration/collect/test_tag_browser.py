"""The netcx tag in a page loaded by headless Chromium: page view, click, consent, cookie."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.domain.events import Event
from tests.browser import chromium
from tests.integration.collect.conftest import collector
from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PAGE = """<!doctype html>
<html><head><title>Fibre offers</title>
<script>window.netcxConsent = {{marketing: false}};</script>
<script async src="{tag}" data-consent="analytics personalisation"></script>
</head><body>
<h1>Fibre 1000</h1>
<a id="cancel" href="#cancel" data-netcx-track="cancel-contract">Cancel my contract</a>
</body></html>"""


@contextmanager
def page_server(html: str) -> Iterator[str]:
    """The operator's web site: one page on its own port."""
    body = html.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def wait_for_events(data: Path, types: set[str], timeout_s: float = 15) -> list[Event]:
    deadline = time.monotonic() + timeout_s
    while True:
        events = [s.event for s in SegmentEventLog(data / "events").read()]
        if types <= {e.type for e in events} or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def test_tag_sends_page_view_and_click_with_the_cookie_visitor_id(tmp_path: Path) -> None:
    data = tmp_path / "data"
    page_port = free_port()
    origin = f"http://127.0.0.1:{page_port}"
    env = {"NETCX_COLLECT__TAG_ALLOWED_ORIGINS": json.dumps([origin])}
    with collector(data, env=env) as served:
        html = PAGE.format(tag=f"{served.base}/tag.js")
        with page_server(html) as site, chromium() as driver:
            driver.get(site + "/offers")
            assert wait_for_events(data, {"page"})
            driver.find_element(By.ID, "cancel").click()
            wait_for_events(data, {"page", "click"})
            # the page changes its consent through the tag's API: a consent event records it
            driver.execute_script("netcx.setConsent({marketing: true, analytics: false})")
            wait_for_events(data, {"page", "click", "consent"})
            # a single-page site changes the URL without a load: one more page view
            driver.execute_script("history.pushState({}, '', '/offers/fibre')")
            deadline = time.monotonic() + 15
            while len(events := wait_for_events(data, set())) < 4 and time.monotonic() < deadline:
                time.sleep(0.1)
            tag_consent = driver.execute_script("return netcx.consent()")
            cookie = driver.get_cookie("netcx_vid")
            script_sees = driver.execute_script("return document.cookie")
    pages = [e for e in events if e.type == "page"]
    assert [e.url for e in pages] == [site + "/offers", site + "/offers/fibre"]
    by_type = {e.type: e for e in reversed(events)}  # the first of each type
    assert set(by_type) == {"page", "click", "consent"}
    assert cookie is not None
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert cookie["expiry"] - time.time() > 300 * 86400
    assert "netcx_vid" not in script_sees
    page, click = by_type["page"], by_type["click"]
    assert page.visitor_id == click.visitor_id == cookie["value"]
    assert page.url == site + "/offers" and page.title == "Fibre offers"
    assert click.name == "cancel-contract"
    assert click.properties == {"text": "Cancel my contract", "href": "#cancel"}
    assert page.consent.analytics is True and page.consent.personalisation is True
    assert page.consent.marketing is False
    assert page.user_agent is not None and "Chrome" in page.user_agent
    assert page.client is not None and page.client.ip == "127.0.0.1"
    changed = by_type["consent"]
    assert changed.visitor_id == page.visitor_id
    assert (changed.consent.marketing, changed.consent.analytics) == (True, False)
    assert tag_consent["marketing"] is True and tag_consent["personalisation"] is True
