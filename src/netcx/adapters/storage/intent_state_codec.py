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

from netcx.domain.intents.scoring import SubjectState

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SubjectState)
_LZ4 = b"\x00"  # msgpack's positive fixint 0: no encoded SubjectState (a map) starts with it


def encode_state(state: SubjectState) -> bytes:
    return _compressed(_encoder.encode(state))


def decode_state(blob: bytes) -> SubjectState:
    return _decoder.decode(_plain(blob))


def _compressed(plain: bytes) -> bytes:
    packed: bytes = lz4.block.compress(plain)
    return _LZ4 + packed


def _plain(blob: bytes) -> bytes:
    """A stored state's msgpack (the blob itself for states stored uncompressed)."""
    if blob[:1] == _LZ4:
        plain: bytes = lz4.block.decompress(memoryview(blob)[1:])
        return plain
    return blob


class DecodedStates:
    """The decoded states of recently read or written subjects, reused while the stored bytes
    are the same (compared in full, so another worker's write is never missed).

    A visit's events update the same few subjects again and again, and decoding a busy
    subject's state (dozens of evidence items) was a fifth of its recognition. Encoding is
    incremental too: a single event changes one or two of a subject's intents, and the
    scorer keeps the others' `IntentScore` objects, so `encode` reuses the msgpack of each
    intent whose object it encoded or decoded before (the bytes are those of encoding the
    whole state: a 7-intent, 17 KB state is encoded in 2.1 µs instead of 7.0). When most
    intents changed (a visit's batch of events) it encodes the whole state at once, which
    is cheaper than part by part (7.0 against 10.8 µs). It holds each state's msgpack
    too, so about its uncompressed size per subject. Bounded: the oldest entries go
    first. A store clears it on every delete or erasure (no personal data stays in memory
    past an erasure). Not thread-safe: call it under the store's lock.
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
        plain = _plain(blob)
        state = _decoder.decode(plain)
        self._keep(subject, _Held(blob, state, None, plain))
        return state

    def held(self, subject: str) -> SubjectState | None:
        """The state last decoded or encoded for `subject`, if still held (the caller knows
        whether the stored bytes may have changed since)."""
        held = self._held.get(subject)
        return held.state if held is not None else None

    def encode(self, subject: str, state: SubjectState) -> bytes:
        held = self._held.get(subject)
        before = held.state.intents if held is not None else {}
        intents = state.intents
        changed = [intent for intent, score in intents.items() if before.get(intent) is not score]
        if len(changed) * 2 > len(intents):
            plain = _encoder.encode(state)
            blob = _compressed(plain)
            self._keep(subject, _Held(blob, state, None, plain))
            return blob
        known: dict[str, msgspec.Raw] = {}
        if held is not None:
            # (the previous state's parts: kept from its encoding, or cut out of its msgpack
            # the first time, 3.6 µs)
            known = held.parts if held.parts is not None else _split(held.plain)
        if list(known) == list(intents):  # the same intents, in the same order
            parts = dict(known)
            for intent in changed:
                parts[intent] = msgspec.Raw(_encoder.encode(intents[intent]))
        else:
            parts = {
                intent: known[intent]
                if intent in known and before.get(intent) is score
                else msgspec.Raw(_encoder.encode(score))
                for intent, score in intents.items()
            }
        # The layout `SubjectState` encodes to (fields in order, defaults omitted).
        whole: dict[str, object] = {}
        if parts:
            whole["intents"] = parts
        if state.applied:
            whole["applied"] = state.applied
        blob = _compressed(_encoder.encode(whole))
        self._keep(subject, _Held(blob, state, parts, b""))
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
    parts: dict[str, msgspec.Raw] | None  # intent → the msgpack of state.intents[intent]
    plain: bytes  # state's msgpack, while `parts` is None


class _Split(msgspec.Struct):
    intents: dict[str, msgspec.Raw] = {}


_split_decoder = msgspec.msgpack.Decoder(_Split)


def _split(plain: bytes) -> dict[str, msgspec.Raw]:
    """Each intent's msgpack, cut out of a state's (views of `plain`, not copies)."""
    return _split_decoder.decode(plain).intents
