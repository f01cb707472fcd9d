"""Vectorised formatting of ids, addresses and times into Arrow string arrays (no Python loops)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_HEX4 = pa.array([f"{i:04x}" for i in range(65536)])  # zero-padded, for fixed-width hex
_HEX = pa.array([f"{i:x}" for i in range(65536)])  # canonical IPv6 group
_DEC = pa.array([str(i) for i in range(65536)])


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and literals (null in any part → null)."""
    return pc.binary_join_element_wise(*parts, "")


def dec(values: IntArray) -> pa.Array:
    """Decimal strings of non-negative integers."""
    return pc.cast(pa.array(values, pa.int64()), pa.string())


def ids(prefix: str, values: IntArray, width: int) -> pa.Array:
    """`prefix` + zero-padded decimal, e.g. ids("L", [7], 7) → ["L0000007"]."""
    return join(prefix, pc.utf8_lpad(dec(values), width, "0"))


def hex32(values: IntArray) -> pa.Array:
    """Eight lower-case hex digits of 32-bit unsigned values."""
    v = values.astype(np.int64)
    return join(_HEX4.take(pa.array((v >> 16) & 0xFFFF)), _HEX4.take(pa.array(v & 0xFFFF)))


def hex64(values: npt.NDArray[np.uint64]) -> pa.Array:
    """Sixteen lower-case hex digits of 64-bit unsigned values."""
    v = values.astype(np.uint64)
    parts = [
        _HEX4.take(pa.array(((v >> np.uint64(s)) & np.uint64(0xFFFF)).astype(np.int64)))
        for s in (48, 32, 16, 0)
    ]
    return join(*parts)


def ipv4(values: IntArray) -> pa.Array:
    """Dotted-quad strings of IPv4 addresses given as integers."""
    v = values.astype(np.int64)
    octets = [_DEC.take(pa.array((v >> s) & 0xFF)) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*octets, ".")


def ipv6_groups(groups: list[IntArray], suffix: str = "") -> pa.Array:
    """IPv6 text from leading 16-bit groups; fewer than eight groups end in '::' + suffix."""
    parts = [_HEX.take(pa.array(g.astype(np.int64) & 0xFFFF)) for g in groups]
    text = pc.binary_join_element_wise(*parts, ":")
    if len(groups) < 8:
        text = join(text, "::")
    return join(text, suffix) if suffix else text


_TIME_OF_DAY: list[pa.Array] = []


def _time_of_day() -> pa.Array:
    if not _TIME_OF_DAY:
        _TIME_OF_DAY.append(
            pa.array([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)])
        )
    return _TIME_OF_DAY[0]


def strftime_s(epoch_s: IntArray, fmt: str) -> pa.Array:
    """Format epoch seconds (UTC). Formats with `%H:%M:%S` are built from per-day strings
    and a time-of-day table (strftime per row is ~20x slower)."""
    epoch_s = np.asarray(epoch_s, dtype=np.int64)
    if "%H:%M:%S" not in fmt or len(epoch_s) == 0:
        return pc.strftime(pa.array(epoch_s, pa.int64()).cast(pa.timestamp("s")), format=fmt)
    before, after = fmt.split("%H:%M:%S", 1)
    day = epoch_s // 86_400
    first = int(day.min())
    days = np.arange(first, int(day.max()) + 1, dtype=np.int64) * 86_400
    index = pa.array(day - first)
    parts: list[pa.Array | str] = []
    for piece in (before, None, after):
        if piece is None:
            parts.append(_time_of_day().take(pa.array(epoch_s % 86_400)))
        elif "%" in piece:
            parts.append(strftime_s(days, piece).take(index))
        elif piece:
            parts.append(piece)
    return join(*parts)


def ms3(epoch_ms: IntArray) -> pa.Array:
    """The millisecond part, three digits."""
    return pc.utf8_lpad(dec(np.asarray(epoch_ms, np.int64) % 1000), 3, "0")


def pick(choices: list[str], index: IntArray) -> pa.Array:
    """Strings from a small vocabulary by index (dictionary-style take)."""
    return pa.array(choices, pa.string()).take(pa.array(index, pa.int64()))


def categorical(
    choices: list[str] | pa.Array, index: IntArray, valid: BoolArray | None = None
) -> pa.Array:
    """A dictionary-encoded column (no per-row string copy); null where not `valid` or where
    the chosen value is null. The dictionary holds distinct values only: Parquet writes a
    dictionary with repeated values non-deterministically."""
    values = choices if isinstance(choices, pa.Array) else pa.array(choices, pa.string())
    encoded = pc.dictionary_encode(values)
    remap = np.asarray(pc.fill_null(encoded.indices, 0).to_numpy(), np.int32)
    present = np.asarray(values.is_valid().to_numpy(zero_copy_only=False), bool)
    index = np.asarray(index, np.int64)
    keep = present[index] if valid is None else present[index] & np.asarray(valid, bool)
    return pa.DictionaryArray.from_arrays(pa.array(remap[index], mask=~keep), encoded.dictionary)


def nullify(values: pa.Array, keep: npt.NDArray[np.bool_]) -> pa.Array:
    """`values` where `keep`, null elsewhere."""
    return pc.if_else(pa.array(keep), values, pa.scalar(None, values.type))


def group_ranks(sizes: IntArray) -> IntArray:
    """0..n-1 within each consecutive group of the given sizes (for np.repeat'ed rows)."""
    total = int(sizes.sum())
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(total, dtype=np.int64) - starts
