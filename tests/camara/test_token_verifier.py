"""JWT access-token verification against a JWKS file or URL (joserfc)."""

import json
import time
from pathlib import Path

import pytest

from netcx.adapters.auth.jwks import FileJwks, HttpJwks, JwtAccessTokenVerifier
from netcx.domain.camara import SCOPE_SHARE, SCOPE_VERIFY
from netcx.errors import ConfigError, Unauthorized, Unavailable
from tests.camara.authz import AUDIENCE, CLIENT_ID, ISSUER, TestAuthorizationServer


@pytest.fixture(scope="module")
def authz() -> TestAuthorizationServer:
    return TestAuthorizationServer()


@pytest.fixture
def verifier(authz: TestAuthorizationServer, tmp_path: Path) -> JwtAccessTokenVerifier:
    jwks = FileJwks(authz.write_jwks(tmp_path / "jwks.json"))
    return JwtAccessTokenVerifier(jwks, ISSUER, AUDIENCE, now_s=lambda: int(time.time()))


def test_a_valid_token_yields_its_claims(
    authz: TestAuthorizationServer, verifier: JwtAccessTokenVerifier
) -> None:
    token = verifier.verify(authz.valid(SCOPE_VERIFY))
    assert token.scopes == {SCOPE_VERIFY}
    assert token.client_id == CLIENT_ID
    assert token.amr == ("network",)


def test_an_es256_token_from_the_same_jwks_verifies(
    authz: TestAuthorizationServer, verifier: JwtAccessTokenVerifier
) -> None:
    assert verifier.verify(authz.token(key=authz.ec_key)).scopes == {SCOPE_VERIFY, SCOPE_SHARE}


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda a: a.expired(SCOPE_VERIFY), "expired"),
        (lambda a: a.bad_signature(SCOPE_VERIFY), "bad_signature"),
        (lambda a: a.token(iss="https://evil.example"), "iss"),
        (lambda a: a.token(aud="someone-else"), "aud"),
        (lambda a: a.token(exp=None), "exp"),
        (lambda a: a.token(nbf=int(time.time()) + 3600), "not yet valid"),
        (lambda a: "not-a-jwt", "not valid"),
        (lambda a: "a.b.c", "not valid"),
    ],
)
def test_bad_tokens_are_unauthenticated_with_a_reason(
    authz: TestAuthorizationServer,
    verifier: JwtAccessTokenVerifier,
    make: object,
    says: str,
) -> None:
    with pytest.raises(Unauthorized, match=says):
        verifier.verify(make(authz))  # type: ignore[operator]


def test_a_symmetric_alg_token_is_refused(
    authz: TestAuthorizationServer, verifier: JwtAccessTokenVerifier
) -> None:
    from joserfc import jwt
    from joserfc.jwk import OctKey

    # The classic confusion attack: HS256 "signed" with a public key's bytes.
    key = OctKey.import_key(json.dumps(authz.jwks()["keys"][0]).encode())
    forged = jwt.encode({"alg": "HS256", "kid": "test-rsa-1"}, {"iss": ISSUER}, key)
    with pytest.raises(Unauthorized):
        verifier.verify(forged)


def test_a_token_from_an_unknown_key_is_unauthenticated(
    verifier: JwtAccessTokenVerifier,
) -> None:
    other = TestAuthorizationServer()
    other.key = other.ec_key  # kid test-ec-1 exists, but with a different key
    with pytest.raises(Unauthorized):
        verifier.verify(other.token(key=other.ec_key))
    from joserfc.jwk import ECKey

    stranger = ECKey.generate_key("P-256", parameters={"kid": "nobody"}, private=True)
    with pytest.raises(Unauthorized, match="unknown key"):
        verifier.verify(other.token(key=stranger))


def test_the_jwks_file_is_reread_when_keys_rotate(tmp_path: Path) -> None:
    old, new = TestAuthorizationServer(), TestAuthorizationServer()
    from joserfc.jwk import ECKey

    new.ec_key = ECKey.generate_key("P-256", parameters={"kid": "rotated-2"}, private=True)
    path = old.write_jwks(tmp_path / "jwks.json")
    verifier = JwtAccessTokenVerifier(
        FileJwks(path), ISSUER, AUDIENCE, now_s=lambda: int(time.time())
    )
    verifier.verify(old.valid(SCOPE_VERIFY))
    with pytest.raises(Unauthorized):
        verifier.verify(new.token(key=new.ec_key))
    new.write_jwks(path)
    verifier.verify(new.token(key=new.ec_key))


def test_a_jwks_with_private_keys_is_a_config_error(
    authz: TestAuthorizationServer, tmp_path: Path
) -> None:
    from joserfc.jwk import KeySet

    path = tmp_path / "private.json"
    path.write_text(json.dumps(KeySet([authz.key]).as_dict(private=True)))
    with pytest.raises(ConfigError, match="public keys only"):
        FileJwks(path).key_set()


def test_a_missing_or_broken_jwks_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        FileJwks(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="not a JWKS"):
        FileJwks(broken).key_set()


def test_the_expiry_uses_the_injected_clock(authz: TestAuthorizationServer, tmp_path: Path) -> None:
    jwks = FileJwks(authz.write_jwks(tmp_path / "jwks.json"))
    token = authz.token(now_s=1_000_000, expires_in_s=60)
    JwtAccessTokenVerifier(jwks, ISSUER, AUDIENCE, now_s=lambda: 1_000_030).verify(token)
    late = JwtAccessTokenVerifier(jwks, ISSUER, AUDIENCE, now_s=lambda: 1_000_061)
    with pytest.raises(Unauthorized, match="expired"):
        late.verify(token)
    lenient = JwtAccessTokenVerifier(jwks, ISSUER, AUDIENCE, now_s=lambda: 1_000_061, leeway_s=5)
    lenient.verify(token)


def test_only_asymmetric_algorithms_may_be_configured(tmp_path: Path) -> None:
    authz = TestAuthorizationServer()
    jwks = FileJwks(authz.write_jwks(tmp_path / "jwks.json"))
    with pytest.raises(ConfigError, match="HS256"):
        JwtAccessTokenVerifier(jwks, ISSUER, AUDIENCE, now_s=lambda: 0, algorithms=["HS256"])


def test_jwks_url_is_fetched_cached_and_refreshed_for_an_unknown_kid(
    authz: TestAuthorizationServer,
) -> None:
    clock = [1000.0]
    with authz.serve() as url:
        jwks = HttpJwks(url, ttl_s=300, now_s=lambda: clock[0], min_refresh_s=10)
        verifier = JwtAccessTokenVerifier(jwks, ISSUER, AUDIENCE, now_s=lambda: int(time.time()))
        verifier.verify(authz.valid(SCOPE_VERIFY))
        verifier.verify(authz.valid(SCOPE_SHARE))
        assert authz.jwks_fetches == 1
        # The issuer rotates in a new key: the first token with the new kid triggers a re-fetch.
        from joserfc.jwk import ECKey

        old_ec = authz.ec_key
        authz.ec_key = ECKey.generate_key("P-256", parameters={"kid": "ec-2"}, private=True)
        clock[0] += 11
        verifier.verify(authz.token(key=authz.ec_key))
        assert authz.jwks_fetches == 2
        authz.ec_key = old_ec
        clock[0] += 300
        verifier.verify(authz.valid(SCOPE_VERIFY))
        assert authz.jwks_fetches == 3


def test_an_unreachable_jwks_url_is_unavailable() -> None:
    from tests.servers import free_port

    jwks = HttpJwks(f"http://127.0.0.1:{free_port()}/jwks", ttl_s=300, now_s=time.time)
    with pytest.raises(Unavailable, match="JWKS"):
        jwks.key_set()
