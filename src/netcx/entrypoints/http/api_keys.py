"""API keys and error bodies shared by the internal JSON routes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from pydantic import SecretStr
from starlette.responses import JSONResponse, Response

from netcx.errors import NetcxError


class ApiKeys:
    """The configured `http.api_keys`, compared in constant time."""

    def __init__(self, secrets: Iterable[SecretStr]) -> None:
        self._keys = tuple(s.get_secret_value().encode() for s in secrets)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def known(self, given: str | bytes) -> bool:
        """Whether `given` is one of the keys (False for an empty or unknown one)."""
        raw = given.encode() if isinstance(given, str) else given
        return bool(raw) and any(hmac.compare_digest(raw, k) for k in self._keys)


def key_id(key: str) -> str:
    """What the audit log names a caller's key by: a hash prefix, never the key."""
    return "key#" + hashlib.sha256(key.encode()).hexdigest()[:12]


def error_response(err: NetcxError) -> Response:
    """`{"error": message}` with the error's HTTP status."""
    return JSONResponse({"error": str(err)}, status_code=err.http_status)
