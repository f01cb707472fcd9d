"""A small test authorization server: issues the access tokens the CAMARA tests need and
serves its JWKS (and OpenID discovery document) over HTTP on a free loopback port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from netcx.domain.camara import SCOPE_SHARE, SCOPE_VERIFY
from tests.servers import free_port

ISSUER = "https://authz.test.netcx.example"
AUDIENCE = "netcx-camara-test"
CLIENT_ID = "test-app-1"
NETWORK_AMR = ("network",)


class TestAuthorizationServer:
    """Signs RS256 tokens with its key (kid `test-rsa-1`); `rogue` has the same kid but a
    different key, so its tokens look right yet fail signature verification."""

    __test__ = False  # not a pytest test class

    def __init__(self, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        params = {"kid": "test-rsa-1", "alg": "RS256", "use": "sig"}
        self.key = RSAKey.generate_key(2048, parameters=params, private=True)
        self.rogue = RSAKey.generate_key(2048, parameters=params, private=True)
        self.ec_key = ECKey.generate_key(
            "P-256", parameters={"kid": "test-ec-1", "alg": "ES256"}, private=True
        )

    def jwks(self) -> dict[str, Any]:
        return KeySet([self.key, self.ec_key]).as_dict(private=False)

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks()), encoding="utf-8")
        return path

    def token(
        self,
        scopes: Sequence[str] = (SCOPE_VERIFY, SCOPE_SHARE),
        amr: Sequence[str] | None = NETWORK_AMR,
        expires_in_s: int = 600,
        now_s: int | None = None,
        key: RSAKey | ECKey | None = None,
        **claims: Any,
    ) -> str:
        """A signed access token; pass overrides (iss, aud, sub…) as keyword claims."""
        issued_s = int(time.time()) if now_s is None else now_s
        signing_key = key or self.key
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "user-1",
            "client_id": CLIENT_ID,
            "scope": " ".join(scopes),
            "iat": issued_s,
            "exp": issued_s + expires_in_s,
        }
        if amr is not None:
            payload["amr"] = list(amr)
        payload.update(claims)
        alg = "ES256" if isinstance(signing_key, ECKey) else "RS256"
        header = {"alg": alg, "kid": signing_key.kid, "typ": "at+jwt"}
        return jwt.encode(header, payload, signing_key)

    # The kinds of token the CAMARA feature files name.
    def valid(self, scope: str) -> str:
        return self.token(scopes=(scope,))

    def expired(self, scope: str) -> str:
        return self.token(scopes=(scope,), now_s=int(time.time()) - 3600, expires_in_s=600)

    def bad_signature(self, scope: str) -> str:
        return self.token(scopes=(scope,), key=self.rogue)

    def without_scope(self) -> str:
        return self.token(scopes=("openid", "location-verification:verify"))

    def not_by_mobile_network(self, scope: str) -> str:
        return self.token(scopes=(scope,), amr=("sms", "otp"))

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve `/.well-known/openid-configuration` and `/jwks` on 127.0.0.1; yields the
        JWKS URL. Counts JWKS fetches in `self.jwks_fetches`."""
        server_ref = self
        self.jwks_fetches = 0
        port = free_port()
        base = f"http://127.0.0.1:{port}"

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/jwks":
                    server_ref.jwks_fetches += 1
                    body = server_ref.jwks()
                elif self.path == "/.well-known/openid-configuration":
                    body = {"issuer": server_ref.issuer, "jwks_uri": f"{base}/jwks"}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"{base}/jwks"
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join()
