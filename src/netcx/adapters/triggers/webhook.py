"""Signed webhook transport: HMAC-SHA256 signature header and an idempotency key per trigger."""

from __future__ import annotations

import time

import httpx

from netcx.adapters.triggers.queue import PermanentDeliveryError
from netcx.domain.decisions.triggers import (
    IDEMPOTENCY_HEADER,
    SCHEMA,
    SCHEMA_VERSION,
    SIGNATURE_HEADER,
    Trigger,
    sign,
)

RETRYABLE = frozenset({408, 425, 429})


class WebhookTransport:
    def __init__(self, url: str, secret: bytes, timeout_s: float) -> None:
        self._url = url
        self._secret = secret
        self._client = httpx.Client(timeout=timeout_s)

    def deliver(self, body: bytes, trigger: Trigger) -> None:
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, int(time.time()), body),
            IDEMPOTENCY_HEADER: trigger.idempotency_key,
            "x-netcx-schema": f"{SCHEMA}/{SCHEMA_VERSION}",
        }
        response = self._client.post(self._url, content=body, headers=headers)
        status = response.status_code
        if 400 <= status < 500 and status not in RETRYABLE:
            raise PermanentDeliveryError(f"HTTP {status}")
        response.raise_for_status()

    def close(self) -> None:
        self._client.close()
