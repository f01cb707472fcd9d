"""The live system end to end, through real HTTP on a running `netcx serve --world`:

a subscriber researching cancellation on the web, not logged in, reaches the collector
through the operator's edge proxy (client address and source port in headers); netcx
resolves the address with the network logs of the world, recognises the line under the
visitor's consent, scores the pages into a churn intent, and `/v1/decide` answers with
retention content — never an acquisition offer. Revoking consent makes the visitor
anonymous again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow.compute as pc
import pytest

from netcx.bootstrap import build_network_service, build_pseudonymizer
from netcx.config import load_settings
from netcx.simulate.generate import generate_world
from netcx.simulate.params import WorldParams
from netcx.simulate.world import WorldFolder
from tests.servers import netcx_server

pytestmark = pytest.mark.integration

WRITE_KEY = "wk-e2e"
API_KEY = "ak-e2e"
DAYS = 4


def _live_lines(world: Path, data: Path, now_ms: int, want: int) -> list[tuple[str, int]]:
    """(ip, port) pairs the real resolver, over the server's imported logs, puts on one
    mobile line right now (addresses of the world's last hours whose block is still held)."""
    w = WorldFolder(world)
    hits = w.table("web/hits").select(["hit_id", "ts_ms", "src_ip", "src_port"])
    truth = w.table("truth/hits").select(["hit_id", "attributable_level"])
    joined = hits.join(truth, "hit_id")
    joined = joined.filter(
        pc.and_(pc.equal(joined["attributable_level"], "line"), pc.is_valid(joined["src_port"]))
    ).sort_by([("ts_ms", "descending")])
    settings = load_settings(storage={"data_dir": data})
    network = build_network_service(settings, build_pseudonymizer(settings))
    found: dict[str, tuple[str, int]] = {}
    for row in joined.slice(0, 400).to_pylist():
        r = network.resolve(row["src_ip"], row["src_port"], now_ms)
        if r.level == "line" and r.line_id and r.line_id not in found:
            found[r.line_id] = (row["src_ip"], row["src_port"])
            if len(found) == want:
                break
    return list(found.values())


def _churn_pages(world: Path) -> list[str]:
    """Pages the world's churn researchers read (German and English)."""
    w = WorldFolder(world)
    truth = w.table("truth/hits").select(["hit_id", "true_intent"])
    hits = w.table("web/hits").select(["hit_id", "url", "event_type"]).join(truth, "hit_id")
    churn = hits.filter(
        pc.and_(
            pc.equal(hits["true_intent"], "churn_research"), pc.equal(hits["event_type"], "page")
        )
    )
    urls = [u for u in dict.fromkeys(churn["url"].to_pylist()) if u]
    assert len(urls) >= 3, "the world has churn research pages"
    return urls[:4]


def _page(visitor: str, url: str, i: int, personalisation: bool) -> dict[str, Any]:
    return {
        "type": "page",
        "messageId": f"{visitor}-{i}",
        "anonymousId": visitor,
        "properties": {"url": url, "title": "Kündigung"},
        "context": {
            "page": {"url": url},
            "consent": {"categoryPreferences": {"Analytics": True, "Functional": personalisation}},
        },
    }


def test_churn_researcher_recognised_before_login_gets_retention(tmp_path: Path) -> None:
    now_s = int(time.time())
    world = tmp_path / "world"
    generate_world(
        WorldParams(households=400, days=DAYS, seed=5, start_s=now_s - DAYS * 86_400), world
    )
    env = {
        "NETCX_HTTP__TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "NETCX_HTTP__WRITE_KEYS": f'["{WRITE_KEY}"]',
        "NETCX_HTTP__API_KEYS": f'["{API_KEY}"]',
        "NETCX_RADIUS__ENABLED": "false",
    }
    data = tmp_path / "data"
    with netcx_server(data, env=env, args=("--world", str(world))) as base:
        lines = _live_lines(world, data, int(time.time() * 1000), want=6)
        assert lines, "some mobile lines hold their port block now"
        pages = _churn_pages(world)
        answers = []
        with httpx.Client(base_url=base, auth=(WRITE_KEY, ""), timeout=10) as http:
            for n, (ip, port) in enumerate(lines):
                visitor = f"e2e-visitor-{n}"
                proxy = {"X-Forwarded-For": ip, "x-client-port": str(port), "x-api-key": API_KEY}
                batch = {"batch": [_page(visitor, u, i, True) for i, u in enumerate(pages)]}
                assert http.post("/v1/batch", json=batch, headers=proxy).status_code == 200
                r = http.post(
                    "/v1/decide", json={"channel": "web", "visitor_id": visitor}, headers=proxy
                )
                assert r.status_code == 200, r.text
                answers.append((visitor, proxy, r.json()))

            for _, _, a in answers:
                # Recognised from the network before any login, with pseudonymous ids only.
                assert a["recognition"]["state"] == "network_line", a["recognition"]
                assert a["recognition"]["ids"]["account"].startswith("ac")
                assert "churn_research" in [i["name"] for i in a["intents"]]
                categories = {e["category"] for e in a["experiences"]}
                assert "acquisition" not in categories
                if not a["holdout"]:
                    assert "retention" in categories, a["experiences"]
            assert any(not a["holdout"] for _, _, a in answers), "not every account held out"

            # Revoking personalisation consent makes the same visitor anonymous at once.
            visitor, proxy, _ = answers[0]
            withdraw = {"batch": [_page(visitor, pages[0], 99, False)]}
            assert http.post("/v1/batch", json=withdraw, headers=proxy).status_code == 200
            r = http.post(
                "/v1/decide", json={"channel": "web", "visitor_id": visitor}, headers=proxy
            )
            assert r.json()["recognition"]["state"] == "anonymous"
            assert {e["category"] for e in r.json()["experiences"]} <= {"generic"}
