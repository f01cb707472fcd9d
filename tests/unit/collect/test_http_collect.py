"""The collector's HTTP layer in-process (Starlette TestClient, memory log): edge cases."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from netcx.bootstrap import Container, build_container
from netcx.config import load_settings
from netcx.domain.events import Event
from netcx.entrypoints.http.app import create_app

ORIGIN = "https://www.example-telco.com"


@pytest.fixture
def container() -> Container:
    settings = load_settings(
        http={"write_keys": ["wk"]},
        collect={"event_log": "memory", "tag_allowed_origins": [ORIGIN]},
    )
    return build_container(settings)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="https://testserver") as c:
        yield c


def stored(client: TestClient) -> list[Event]:
    app_container: Container = client.app.state.container  # type: ignore[attr-defined]
    return [s.event for s in app_container.event_log.read()]


def test_gzip_body_is_accepted_and_bad_encodings_are_named(client: TestClient) -> None:
    body = gzip.compress(json.dumps({"userId": "u", "event": "E", "messageId": "m1"}).encode())
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    ok = client.post("/v1/track", content=body, headers=headers, auth=("wk", ""))
    not_gzip = client.post("/v1/track", content=b"{}", headers=headers, auth=("wk", ""))
    brotli = client.post(
        "/v1/track", content=b"{}", headers={"Content-Encoding": "br"}, auth=("wk", "")
    )
    assert ok.status_code == 200
    assert not_gzip.status_code == 400 and "gzip" in not_gzip.json()["message"]
    assert brotli.status_code == 400 and "Content-Encoding" in brotli.json()["message"]
    assert len(stored(client)) == 1


def test_gzip_bomb_is_refused_as_too_large(client: TestClient) -> None:
    bomb = gzip.compress(b'{"userId": "u", "event": "' + b"x" * 2_000_000 + b'"}')
    r = client.post(
        "/v1/track", content=bomb, headers={"Content-Encoding": "gzip"}, auth=("wk", "")
    )
    assert r.status_code == 413


def test_tag_cookie_is_set_once_secure_over_https_and_reissued_when_forged(
    client: TestClient,
) -> None:
    script = client.get("/tag.js")
    cookie = script.headers["set-cookie"]
    assert script.headers["content-type"].startswith("text/javascript")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    body = {"events": [{"id": "abcdefgh01", "type": "page", "url": "https://x/"}]}
    again = client.post("/v1/tag", content=json.dumps(body))
    assert again.status_code == 204 and "set-cookie" not in again.headers
    client.cookies.set("netcx_vid", "bad;value")
    forged = client.post(
        "/v1/tag", content=json.dumps({"events": [{"id": "abcdefgh02", "type": "click"}]})
    )
    assert "set-cookie" in forged.headers
    vids = {e.visitor_id for e in stored(client)}
    assert len(vids) == 2 and "bad;value" not in vids


def test_cors_only_for_allowed_origins(client: TestClient) -> None:
    allowed = client.options("/v1/tag", headers={"Origin": ORIGIN})
    other = client.options("/v1/tag", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in other.headers


def test_snowplow_pixel_and_metrics(client: TestClient) -> None:
    pixel = client.get("/i", params={"e": "pv", "eid": "p1", "url": "https://x/", "duid": "d"})
    bad = client.get("/i", params={"e": "nope"})
    metrics = client.get("/metrics").text
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    assert bad.status_code == 400 and "e:" in bad.json()["message"]
    assert 'netcx_collect_events_total{source="snowplow"} 1.0' in metrics
    assert (
        'netcx_collect_rejected_requests_total{reason="invalid",source="snowplow"} 1.0' in metrics
    )
    assert "netcx_collect_request_seconds_bucket" in metrics


def test_openapi_lists_every_collector_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/track",
        "/v1/batch",
        "/com.snowplowanalytics.snowplow/tp2",
        "/i",
        "/v1/tag",
    } <= set(paths)


def test_wrong_method_is_405_not_500(client: TestClient) -> None:
    assert client.get("/v1/track").status_code == 405


def test_fast_paths_answer_what_starlette_would_route(client: TestClient) -> None:
    # The collector's exact paths skip Starlette's router; everything else still goes there.
    assert client.post("/v1/page", json={"anonymousId": "a"}, auth=("wk", "")).status_code == 200
    moved = client.post("/v1/page/", json={"anonymousId": "a"}, follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"].endswith("/v1/page")
    assert client.options("/v1/tag", headers={"Origin": ORIGIN}).status_code == 204
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.delete("/tag.js").status_code == 405


def test_unknown_routes_and_methods_get_json_errors(client: TestClient) -> None:
    """A path nobody serves, or a method its route does not take, answers like every other
    API error: JSON naming what was wrong (a client's `/v1/consent/./x` lands here too)."""
    missing = client.get("/v1/nothing-here")
    assert (missing.status_code, missing.json()) == (404, {"error": "Not Found"})
    wrong = client.delete("/tag.js")
    assert (wrong.status_code, wrong.json()) == (405, {"error": "Method Not Allowed"})
    assert "GET" in wrong.headers["allow"]
    collector_path = client.get("/v1/batch")  # a collector path, another method
    assert collector_path.status_code == 405 and collector_path.json()["error"]


def test_behind_a_root_path_collector_paths_are_routed_by_starlette(container: Container) -> None:
    """Mounted under a prefix (ASGI root_path), the exact-path table is skipped and Starlette
    strips the prefix as usual: events are still stored."""
    with TestClient(create_app(container), root_path="/netcx") as prefixed:
        answer = prefixed.post("/netcx/v1/page", json={"anonymousId": "a"}, auth=("wk", ""))
        assert answer.status_code == 200
        assert [e.visitor_id for e in stored(prefixed)] == ["a"]


def test_an_unexpected_failure_is_a_500_and_the_next_request_is_served(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(events: object) -> None:
        raise RuntimeError("disk on fire")

    body = {"userId": "u", "event": "E"}
    with monkeypatch.context() as m:
        m.setattr(container.collector, "accept", broken)
        failed = client.post("/v1/track", json=body, auth=("wk", ""))
    assert failed.status_code == 500 and b"disk" not in failed.content
    assert client.post("/v1/track", json=body, auth=("wk", "")).status_code == 200


def test_write_key_errors_are_401_with_a_reason(client: TestClient) -> None:
    body = {"userId": "u", "event": "E"}
    bearer = client.post("/v1/track", json=body, headers={"Authorization": "Bearer x"})
    garbage = client.post("/v1/track", json=body, headers={"Authorization": "Basic !!!"})
    assert (bearer.status_code, garbage.status_code) == (401, 401)
    assert "Basic" in bearer.json()["message"] and "base64" in garbage.json()["message"]


def test_head_of_the_tag_script_has_no_body(client: TestClient) -> None:
    head = client.head("/tag.js")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(client.get("/tag.js").content)


def test_a_resent_snowplow_payload_is_acknowledged_and_stored_once(client: TestClient) -> None:
    payload = {
        "schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
        "data": [{"e": "pv", "eid": "sp-1", "url": "https://x/a"}, {"e": "pv", "eid": "sp-2"}],
    }
    first = client.post("/com.snowplowanalytics.snowplow/tp2", json=payload)
    again = client.post("/com.snowplowanalytics.snowplow/tp2", json=payload)
    assert (first.status_code, again.status_code) == (200, 200)
    assert [e.event_id for e in stored(client)] == ["sp-1", "sp-2"]
    assert (
        'netcx_collect_duplicate_events_total{source="snowplow"} 2.0' in client.get("/metrics").text
    )


def test_each_peer_is_the_client_address_of_its_own_events(container: Container) -> None:
    # Peer addresses are remembered per connection: a second peer must not get the first's.
    app = create_app(container)
    peers = [("203.0.113.5", 40000), ("203.0.113.5", 40001), ("2001:db8::7", 40000)]
    for n, peer in enumerate(peers * 2):
        with TestClient(app, client=peer) as c:
            body = {"anonymousId": "a", "messageId": f"m{n}"}
            assert c.post("/v1/page", json=body, auth=("wk", "")).status_code == 200
    by_id = {s.event.event_id: s.event.client for s in container.event_log.read()}
    assert [(a.ip, a.port) for a in (by_id[f"m{n}"] for n in range(6)) if a] == peers * 2
