"""The one byte encoding of scorer state that every persistent IntentStateStore uses.

A state is msgpack, LZ4-compressed behind a one-byte marker. States are a few kilobytes
whose evidence repeats the same keys, rules and sources (5 KB → ~0.9 KB); every event
rewrites its subjects' states, and the store's write cost follows the row size: with
compression a 32-subject group's update cost 40 → 24 µs per subject (SQLite). States written
before compression (plain msgpack, which never starts with the marker) still decode.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import lz4.block  # type: ignore[import-untyped]
import msgspec

from netcx.domain.intents.scoring import IntentScore, SubjectState

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SubjectState)
_LZ4 = b"\x00"  # msgpack's positive fixint 0: no encoded SubjectState (a map) starts with it


def encode_state(state: SubjectState) -> bytes:
    packed: bytes = lz4.block.compress(_encoder.encode(state))
    return _LZ4 + packed


def decode_state(blob: bytes) -> SubjectState:
    if blob[:1] == _LZ4:
        return _decoder.decode(lz4.block.decompress(memoryview(blob)[1:]))
    return _decoder.decode(blob)


class DecodedStates:
    """The decoded states of recently read or written subjects, reused while the stored bytes
    are the same (compared in full, so another worker's write is never missed).

    A visit's events update the same few subjects again and again, and decoding a busy
    subject's state (dozens of evidence items) was a fifth of its recognition. Encoding is
    incremental too: an event changes one or two of a subject's intents, and the scorer
    keeps the others' `IntentScore` objects, so `encode` reuses the msgpack of each intent
    it encoded before for the very same object (the bytes are those of encoding the whole
    state: a 7-intent, 17 KB state encoded in 2.1 µs instead of 7.0). Bounded: the
    oldest entries go first. A store clears it on every delete or erasure (no personal data
    stays in memory past an erasure). Not thread-safe: call it under the store's lock.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        # (an OrderedDict: evicting a plain dict's first key again and again makes each
        # `next(iter(d))` walk past the deleted slots — it doubled the cost of an update)
        self._held: OrderedDict[str, _Held] = OrderedDict()

    def decode(self, subject: str, blob: bytes) -> SubjectState:
        held = self._held.get(subject)
        if held is not None and held.blob == blob:
            return held.state
        state = decode_state(blob)
        self._keep(subject, _Held(blob, state, {}))
        return state

    def encode(self, subject: str, state: SubjectState) -> bytes:
        held = self._held.get(subject)
        before = held.parts if held is not None else {}
        parts: dict[str, tuple[IntentScore, msgspec.Raw]] = {}
        for intent, score in state.intents.items():
            part = before.get(intent)
            if part is None or part[0] is not score:
                part = (score, msgspec.Raw(_encoder.encode(score)))
            parts[intent] = part
        # The layout `SubjectState` encodes to (fields in order, defaults omitted).
        whole: dict[str, object] = {}
        if parts:
            whole["intents"] = {intent: raw for intent, (_, raw) in parts.items()}
        if state.applied:
            whole["applied"] = state.applied
        blob = _LZ4 + lz4.block.compress(_encoder.encode(whole))
        self._keep(subject, _Held(blob, state, parts))
        return blob

    def clear(self) -> None:
        self._held.clear()

    def _keep(self, subject: str, held: _Held) -> None:
        states = self._held
        if subject in states:
            states.move_to_end(subject)  # recently used stays longest
        elif len(states) >= self._capacity:
            states.popitem(last=False)
        states[subject] = held


class _Held(NamedTuple):
    blob: bytes
    state: SubjectState
    parts: dict[str, tuple[IntentScore, msgspec.Raw]]  # intent → (score, its msgpack)
