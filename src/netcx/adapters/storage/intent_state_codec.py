"""The one byte encoding of scorer state that every persistent IntentStateStore uses."""

from __future__ import annotations

import msgspec

from netcx.domain.intents.scoring import SubjectState

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SubjectState)


def encode_state(state: SubjectState) -> bytes:
    return _encoder.encode(state)


def decode_state(blob: bytes) -> SubjectState:
    return _decoder.decode(blob)
