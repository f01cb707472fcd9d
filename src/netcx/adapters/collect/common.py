"""What every decoder needs besides the body: arrival time, client address, user agent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from netcx.domain.events import ClientAddress
from netcx.errors import InvalidInput

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Arrival:
    """Facts about the HTTP request an event arrived in (the server's, not the client's)."""

    received_ms: int
    client: ClientAddress | None
    user_agent: str | None


def new_event_id() -> str:
    """An id for an event whose sender gave none (it then cannot be deduplicated on retry)."""
    return uuid.uuid4().hex


def to_ms(value: datetime | None) -> int | None:
    """Epoch milliseconds of a timestamp; one without a zone is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def decode_json(body: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode a JSON body; a bad body raises InvalidInput naming the field (`$.batch[2].event`)."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as err:
        raise InvalidInput(f"invalid body: {err}") from err
    except msgspec.DecodeError as err:
        raise InvalidInput(f"body is not valid JSON: {err}") from err


def text_id(value: str | int | None) -> str | None:
    """Ids may be sent as numbers; an empty id is no id."""
    if value is None:
        return None
    text = str(value)
    return text or None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
