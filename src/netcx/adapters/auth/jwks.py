"""Verifies JWT access tokens (signature, issuer, audience, expiry) against a JWKS."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Collection
from pathlib import Path

import httpx
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from netcx.domain.camara import AccessToken
from netcx.errors import ConfigError, Unauthorized, Unavailable

log = logging.getLogger(__name__)

ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")

INVALID_CREDENTIALS = (
    "Request not authenticated due to missing, invalid, or expired credentials. "
    "A new authentication is required."
)


def load_key_set(document: str, source: str) -> KeySet:
    """A public KeySet from a JWKS JSON document; ConfigError naming `source` if it is not one."""
    try:
        data = json.loads(document)
        keys = KeySet.import_key_set(data)
    except (ValueError, TypeError, KeyError, JoseError) as err:
        raise ConfigError(f"{source}: not a JWKS document: {err}") from err
    if any(k.is_private for k in keys):
        raise ConfigError(f"{source}: a JWKS for token verification must hold public keys only")
    return keys


class FileJwks:
    """A JWKS read from a file, re-read when the file changes (key rotation by the operator)."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ConfigError(f"camara.jwks_file={path}: no such file")
        self._path = path
        self._mtime_ns = -1
        self._keys = KeySet([])

    def key_set(self, *, refresh: bool = False) -> KeySet:
        mtime_ns = self._path.stat().st_mtime_ns
        if mtime_ns != self._mtime_ns:
            self._keys = load_key_set(self._path.read_text(encoding="utf-8"), str(self._path))
            self._mtime_ns = mtime_ns
        return self._keys


class HttpJwks:
    """A JWKS fetched from the authorization server's `jwks_uri`, cached for `ttl_s` and
    re-fetched early (at most every `min_refresh_s`) when a token names an unknown key."""

    def __init__(
        self,
        url: str,
        ttl_s: float,
        now_s: Callable[[], float],
        min_refresh_s: float = 10.0,
        timeout_s: float = 5.0,
    ) -> None:
        self._url = url
        self._ttl_s = ttl_s
        self._min_refresh_s = min_refresh_s
        self._timeout_s = timeout_s
        self._now_s = now_s
        self._keys: KeySet | None = None
        self._fetched_s = 0.0
        self._lock = threading.Lock()

    def key_set(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            age_s = self._now_s() - self._fetched_s
            if (
                self._keys is None
                or age_s >= self._ttl_s
                or (refresh and age_s >= self._min_refresh_s)
            ):
                self._keys = self._fetch()
                self._fetched_s = self._now_s()
            return self._keys

    def _fetch(self) -> KeySet:
        try:
            response = httpx.get(self._url, timeout=self._timeout_s)
            response.raise_for_status()
        except httpx.HTTPError as err:
            if self._keys is not None:
                log.warning("jwks refresh failed, keeping cached keys: %s", type(err).__name__)
                return self._keys
            raise Unavailable(f"cannot fetch the JWKS from {self._url}: {err}") from err
        return load_key_set(response.text, self._url)


class JwtAccessTokenVerifier:
    """Verifies a JWT access token: signature by a JWKS key with an allowed asymmetric
    algorithm, `iss` equal to the configured issuer, `aud` containing the configured
    audience, `exp` present and in the future (with `leeway_s`), `nbf` if present."""

    def __init__(
        self,
        jwks: FileJwks | HttpJwks,
        issuer: str,
        audience: str,
        now_s: Callable[[], int],
        algorithms: Collection[str] = ("RS256", "ES256"),
        leeway_s: int = 0,
    ) -> None:
        unsupported = sorted(set(algorithms) - set(ASYMMETRIC_ALGORITHMS))
        if unsupported:
            raise ConfigError(f"camara.algorithms: not allowed for access tokens: {unsupported}")
        self._jwks = jwks
        self._algorithms = list(algorithms)
        self._claims = jwt.JWTClaimsRegistry(
            now=now_s,
            leeway=leeway_s,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
        )

    def verify(self, token: str) -> AccessToken:
        """The token's claims if it is valid now; Unauthorized (with a reason) otherwise."""
        decoded = self._decode(token)
        try:
            self._claims.validate(decoded.claims)
        except ExpiredTokenError as err:
            raise Unauthorized("the access token has expired") from err
        except JoseError as err:
            raise Unauthorized(f"the access token is not valid: {err.description}") from err
        return AccessToken.from_claims(decoded.claims)

    def _decode(self, token: str) -> jwt.Token:
        try:
            return self._decode_with(token, self._jwks.key_set())
        except InvalidKeyIdError:
            # A key the cached JWKS does not have yet: the issuer may have rotated keys.
            try:
                return self._decode_with(token, self._jwks.key_set(refresh=True))
            except InvalidKeyIdError as err:
                raise Unauthorized("the access token is signed by an unknown key") from err

    def _decode_with(self, token: str, keys: KeySet) -> jwt.Token:
        try:
            return jwt.decode(token, keys, algorithms=self._algorithms)
        except InvalidKeyIdError:
            raise
        except JoseError as err:
            raise Unauthorized(f"the access token is not valid: {err.error}") from err
        except (ValueError, TypeError) as err:
            raise Unauthorized("the access token is not a well-formed JWT") from err
