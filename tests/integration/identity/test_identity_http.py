"""Identity, consent and data-subject rights through a real `netcx serve` process."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from tests.servers import netcx_server, redis_server

pytestmark = pytest.mark.integration

KEY = "integration-test-key"
API_KEY = "caller-secret"
PSEUDO = Pseudonymizer({"k1": KEY.encode()}, "k1")
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def pid(kind: IdKind, raw: str) -> str:
    return PSEUDO.pseudonym(kind, raw)


def server_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Bindings: the loopback peer is line L1 of subscriber S1; 192.0.2.99 is household H2."""
    bindings = tmp / "bindings.json"
    bindings.write_text(
        json.dumps(
            [
                {
                    "ip": "127.0.0.1",
                    "level": "line",
                    "confidence": 0.97,
                    "line_id": "L1",
                    "subscriber_id": "S1",
                    "household_id": "H1",
                    "account_id": "A1",
                },
                {
                    "ip": "198.51.100.99",
                    "level": "household",
                    "confidence": 0.8,
                    "household_id": "H2",
                    "account_id": "A2",
                },
            ]
        )
    )
    return {
        "NETCX_IDENTITY__STATIC_BINDINGS": str(bindings),
        "NETCX_PSEUDONYMS__KEYS": json.dumps({"k1": KEY}),
        "NETCX_HTTP__API_KEYS": json.dumps([API_KEY]),
        **extra,
    }


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("identity-http")
    with netcx_server(tmp / "data", env=server_env(tmp)) as url:
        yield url


def client(base: str, caller: str = "web") -> httpx.Client:
    return httpx.Client(base_url=base, headers={**AUTH, "X-Netcx-Caller": caller}, timeout=10)


def recognise(
    c: httpx.Client, visitor: str, purpose: str = "personalisation", **kw: object
) -> dict:  # type: ignore[type-arg]
    r = c.post("/v1/recognitions", json={"visitor_id": visitor, "purpose": purpose, **kw})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_api_key_is_required(base: str) -> None:
    r = httpx.get(f"{base}/v1/consent/visitor:x", timeout=5)
    assert r.status_code == 401 and "API key" in r.json()["error"]


def test_consent_grant_recognises_and_revoke_anonymises(base: str) -> None:
    with client(base) as c:
        assert recognise(c, "cookie-1")["state"] == "anonymous"
        r = c.put(
            "/v1/consent/visitor:cookie-1/personalisation",
            json={"granted": True, "source": "tag", "text_version": "cmp-v7"},
        )
        assert r.status_code == 200 and r.json()["subject"] == pid(IdKind.VISITOR, "cookie-1")
        seen = recognise(c, "cookie-1")
        assert seen["state"] == "network_line"
        assert seen["line_id"] == pid(IdKind.LINE, "L1")
        assert seen["account_id"] == pid(IdKind.ACCOUNT, "A1")
        assert recognise(c, "cookie-1", "marketing")["state"] == "anonymous"

        ctx = c.get("/v1/profiles/visitor:cookie-1/context").json()
        assert ctx["recognition"]["state"] == "network_line"
        assert ctx["consent"]["personalisation"]["text_version"] == "cmp-v7"
        assert ctx["consent"]["marketing"] is None
        assert ctx["evidence"][0]["source"] == "network" and ctx["recent_intents"] == []

        assert c.delete("/v1/consent/visitor:cookie-1/personalisation").status_code == 200
        after = recognise(c, "cookie-1")
        assert after["state"] == "anonymous" and "line_id" not in after
        consent = c.get("/v1/consent/visitor:cookie-1").json()
        assert consent["purposes"]["personalisation"]["granted"] is False
        assert len(consent["history"]) == 2


def test_call_centre_sees_the_same_profile(base: str) -> None:
    with client(base) as web, client(base, "call-centre") as cc:
        web.put(
            "/v1/consent/visitor:cookie-cc/personalisation",
            json={"granted": True, "source": "tag", "text_version": "v1"},
        )
        web_view = recognise(web, "cookie-cc")
        ctx = cc.get("/v1/profiles/account:A1/context").json()
        assert pid(IdKind.VISITOR, "cookie-cc") in ctx["visitors"]
        assert ctx["recognition"]["account_id"] == web_view["account_id"]
        assert ctx["kind"] == "account"
        assert cc.get("/v1/profiles/account:nobody/context").status_code == 404
        audit = cc.get("/v1/audit", params={"subject": "visitor:cookie-cc"}).json()["records"]
        key_id = "key#" + hashlib.sha256(API_KEY.encode()).hexdigest()[:12]
        callers = {(a["action"], a["caller"]) for a in audit}
        assert ("resolve", f"web@{key_id}") in callers
        assert ("consent", f"web@{key_id}") in callers
        looked = cc.get("/v1/audit", params={"subject": "account:A1"}).json()["records"]
        assert ("context", f"call-centre@{key_id}") in {(a["action"], a["caller"]) for a in looked}


def test_login_then_unmerge(base: str) -> None:
    with client(base) as c:
        me = recognise(c, "cookie-shared", user_id="S77")
        assert me["state"] == "authenticated" and me["subscriber_id"] == pid(
            IdKind.SUBSCRIBER, "S77"
        )
        r = c.post("/v1/profiles/visitor:cookie-shared/unmerge", json={"node": "subscriber:S77"})
        assert r.status_code == 200 and r.json() == {"retracted": 1}
        ctx = c.get("/v1/profiles/visitor:cookie-shared/context").json()
        assert ctx["recognition"]["state"] == "anonymous"


def test_export_and_erase_across_stores(base: str) -> None:
    with client(base) as c, client(base, "dpo") as dpo:
        for cookie in ("cookie-erase", "cookie-keep"):
            c.put(
                f"/v1/consent/visitor:{cookie}/personalisation",
                json={"granted": True, "source": "tag", "text_version": "v1"},
            )
            recognise(c, cookie)
        exported = dpo.get("/v1/subjects/visitor:cookie-erase/export").json()
        assert exported["subject"] == pid(IdKind.VISITOR, "cookie-erase")
        assert [e["dst"] for e in exported["identity_edges"]] == [pid(IdKind.LINE, "L1")]
        assert exported["consent"] and exported["audit"]
        assert "127.0.0.1" not in json.dumps(exported)

        erased = dpo.delete("/v1/subjects/visitor:cookie-erase").json()
        assert erased["erased"]["identity_edges"] == 1 and erased["erased"]["consent"] == 1
        gone = dpo.get("/v1/subjects/visitor:cookie-erase/export").json()
        assert gone["identity_edges"] == [] and gone["consent"] == [] and gone["audit"] == []
        assert recognise(c, "cookie-erase")["state"] == "anonymous"  # consent went too

        kept = dpo.get("/v1/subjects/visitor:cookie-keep/export").json()
        assert kept["identity_edges"] and kept["consent"]
        assert recognise(c, "cookie-keep")["state"] == "network_line"
        audit = json.dumps(dpo.get("/v1/audit", params={"limit": 1000}).json())
        assert "127.0.0.1" not in audit and erased["receipt"] in audit


def test_bad_input_is_named(base: str) -> None:
    with client(base) as c:
        r = c.put(
            "/v1/consent/visitor:x/ads", json={"granted": True, "source": "a", "text_version": "v"}
        )
        assert r.status_code == 400 and "purpose" in r.json()["error"]
        r = c.put("/v1/consent/visitor:x/analytics", json={"source": "a", "text_version": "v"})
        assert r.status_code == 400 and "granted" in r.json()["error"]
        r = c.put("/v1/consent/447700900123/analytics", content=b"{not json")
        assert r.status_code == 400 and "JSON" in r.json()["error"]
        r = c.post(
            "/v1/recognitions", json={"visitor_id": "v", "purpose": "analytics", "port": 70000}
        )
        assert r.status_code == 400 and "port" in r.json()["error"]
        assert c.get("/v1/audit", params={"limit": "x"}).status_code == 400
        assert c.get("/healthz").status_code == 200


@pytest.mark.redis
def test_revocation_reaches_another_instance_within_one_second(tmp_path: Path) -> None:
    with redis_server() as redis_url:
        env = server_env(
            tmp_path, NETCX_IDENTITY__STORE="redis", NETCX_IDENTITY__REDIS_URL=redis_url
        )
        with (
            netcx_server(tmp_path / "a", env=env) as a,
            netcx_server(tmp_path / "b", env=env) as b,
            client(a) as ca,
            client(b) as cb,
        ):
            ca.put(
                "/v1/consent/visitor:cookie-2/personalisation",
                json={"granted": True, "source": "tag", "text_version": "v1"},
            )
            assert recognise(cb, "cookie-2")["state"] == "network_line"
            assert ca.delete("/v1/consent/visitor:cookie-2/personalisation").status_code == 200
            revoked_at = time.monotonic()
            while recognise(cb, "cookie-2")["state"] != "anonymous":
                assert time.monotonic() - revoked_at < 1.0, "revocation not seen within 1 s"
                time.sleep(0.02)
            assert time.monotonic() - revoked_at < 1.0
            # the other instance's view of the profile agrees
            ctx = cb.get("/v1/profiles/visitor:cookie-2/context").json()
            assert ctx["recognition"]["state"] == "anonymous"


def test_workers_share_the_embedded_store(tmp_path: Path) -> None:
    """`netcx serve --workers 2`: both worker processes use the same SQLite files, so a
    revocation answered by one worker is in force in the other at once."""
    with netcx_server(tmp_path / "data", env=server_env(tmp_path), args=("--workers", "2")) as base:
        headers = {**AUTH, "X-Netcx-Caller": "web"}
        grant = {"granted": True, "source": "tag", "text_version": "v1"}
        url = f"{base}/v1/consent/visitor:cookie-w/personalisation"
        assert httpx.put(url, json=grant, headers=headers).status_code == 200
        body = {"visitor_id": "cookie-w", "purpose": "personalisation"}
        # a fresh connection per request, so both workers answer some of them
        states = {
            httpx.post(f"{base}/v1/recognitions", json=body, headers=headers).json()["state"]
            for _ in range(10)
        }
        assert states == {"network_line"}
        assert httpx.delete(url, headers=headers).status_code == 200
        states = {
            httpx.post(f"{base}/v1/recognitions", json=body, headers=headers).json()["state"]
            for _ in range(10)
        }
        assert states == {"anonymous"}
