"""The one byte encoding of scorer state that every persistent IntentStateStore uses.

A state is msgpack, LZ4-compressed behind a one-byte marker. States are a few kilobytes
whose evidence repeats the same keys, rules and sources (5 KB → ~0.9 KB); every event
rewrites its subjects' states, and the store's write cost follows the row size: with
compression a 32-subject group's update cost 40 → 24 µs per subject (SQLite). States written
before compression (plain msgpack, which never starts with the marker) still decode.
"""

from __future__ import annotations

from collections import OrderedDict

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
    subject's state was a fifth of its recognition. Encoding needs no cache: a state keeps
    its evidence encoded (`IntentScore.evidence_msgpack`), so encoding it copies those
    bytes and writes a few numbers per intent (4.5 µs per single event in place, against
    5.4 for the per-intent reuse this class did while evidence was kept as objects).
    Bounded: the oldest entries go first. A store clears it on every delete or erasure (no
    personal data stays in memory past an erasure). Not thread-safe: call it under the
    store's lock.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        # (an OrderedDict: evicting a plain dict's first key again and again makes each
        # `next(iter(d))` walk past the deleted slots — it doubled the cost of an update)
        self._held: OrderedDict[str, tuple[bytes, SubjectState]] = OrderedDict()

    def decode(self, subject: str, blob: bytes) -> SubjectState:
        held = self._held.get(subject)
        if held is not None and held[0] == blob:
            return held[1]
        state = decode_state(blob)
        self._keep(subject, blob, state)
        return state

    def held(self, subject: str) -> SubjectState | None:
        """The state last decoded or encoded for `subject`, if still held (the caller knows
        whether the stored bytes may have changed since)."""
        held = self._held.get(subject)
        return held[1] if held is not None else None

    def encode(self, subject: str, state: SubjectState) -> bytes:
        blob = encode_state(state)
        self._keep(subject, blob, state)
        return blob

    def clear(self) -> None:
        self._held.clear()

    def _keep(self, subject: str, blob: bytes, state: SubjectState) -> None:
        states = self._held
        if subject in states:
            states.move_to_end(subject)  # recently used stays longest
        elif len(states) >= self._capacity:
            states.popitem(last=False)
        states[subject] = (blob, state)
