"""The codec registry: one id byte per codec, first byte of every encoded column block.

Codec ids (each module's docstring has its byte layout):

    0x01 timestamp  delta-of-delta, bit-serial            (timestamp.py)
    0x02 gorilla    XOR floats, bit-serial                (gorilla.py)
    0x03 varint     zigzag + varint int64                 (varint.py)
    0x04 varint     varint uint64                         (varint.py)
    0x05 dictionary strings                               (dictionary.py)
    0x06 boolean    bit-packed                            (boolean.py)
    0x10 lz4        wrapper around one of the above       (block.py)
    0x11 zstd       wrapper around one of the above       (block.py)
    0x20 numeric    decimal-scaled floats + zstd          (numeric.py)
    0x21 numeric    XOR floats + byte shuffle + zstd      (numeric.py)
    0x22 numeric    int64/uint64 deltas + zstd            (numeric.py)
    0x23 factored   int64 quotients by a common factor, optionally relative to the
                    block's timestamps, around an inner block (relative.py)

A block is self-describing: decode_column needs only the bytes, except a factored block
relative to the timestamps (decode_with_reference takes them). Ids 0x00, 0x07-0x0F and
0x12-0x1F, 0x24-0xFF are unassigned and refused; a wrapper holds exactly one unwrapped block.

Column kinds and their decoded values: timestamp and integer -> int64 array, unsigned ->
uint64 array, float -> float64 array, boolean -> bool array, string -> list[str] (or, with
decode_string_codes and encode_string_codes, the distinct strings and each value's position).
"""

from collections.abc import Callable
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from rusts.compression import block, boolean, dictionary, gorilla, numeric, relative, timestamp, varint
from rusts.core.errors import CodecError

ColumnKind: TypeAlias = Literal["timestamp", "float", "integer", "unsigned", "string", "boolean"]
ColumnValues: TypeAlias = (
    npt.NDArray[np.int64] | npt.NDArray[np.uint64] | npt.NDArray[np.float64] | npt.NDArray[np.bool_] | list[str]
)
Encoder: TypeAlias = Callable[[Any], bytes | None]


def _signed_raw(values: npt.NDArray[np.int64]) -> bytes:
    return varint.encode_signed(values, varint.MODE_RAW)


def _unsigned_raw(values: npt.NDArray[np.uint64]) -> bytes:
    return varint.encode_unsigned(values, varint.MODE_RAW)


# Every codec that may encode each kind, earlier ones preferred on a tie in size.
CANDIDATES: Final[dict[str, tuple[Encoder, ...]]] = {
    "timestamp": (timestamp.encode, numeric.encode_integers),
    "float": (gorilla.encode, numeric.encode_decimal_floats, numeric.encode_xor_floats),
    "integer": (varint.encode_signed, _signed_raw, numeric.encode_integers),
    "unsigned": (varint.encode_unsigned, _unsigned_raw, numeric.encode_integers),
    "string": (dictionary.encode,),
    "boolean": (boolean.encode,),
}

# Encoding every candidate and keeping the smallest cost more than all of them together, and
# the bit-serial codecs rarely win. So the choosers below encode the numpy codecs, and a
# bit-serial codec only when an array-op size (exact, or a lower bound for Gorilla) says it
# can win; XOR floats and Gorilla only when a sample says they come near the best block.
XOR_SAMPLE_MARGIN: Final = 1.5
GORILLA_SAMPLE_MARGIN: Final = 1.05


def _choose_timestamp(values: npt.NDArray[np.int64]) -> bytes:
    best = numeric.encode_integers(values)
    if timestamp.encoded_size(values) <= len(best):
        return timestamp.encode(values)
    return best


def _choose_integer(values: npt.NDArray[np.int64] | npt.NDArray[np.uint64]) -> bytes:
    best = _choose_plain_integer(values)
    if values.dtype != np.int64:
        return best
    factor = relative.common_factor(values)  # type: ignore[arg-type]
    if factor == 1:
        return best
    factored = encode_factored(values, None, factor)  # type: ignore[arg-type]
    return factored if factored is not None and len(factored) < len(best) else best


def _choose_plain_integer(values: npt.NDArray[np.int64] | npt.NDArray[np.uint64]) -> bytes:
    best = numeric.encode_integers(values)
    delta_size = varint.encoded_size(values, varint.MODE_DELTA)
    raw_size = varint.encoded_size(values, varint.MODE_RAW)
    if min(delta_size, raw_size) > len(best):
        return best
    mode = varint.MODE_DELTA if delta_size <= raw_size else varint.MODE_RAW
    if values.dtype == np.uint64:
        return varint.encode_unsigned(values, mode)  # type: ignore[arg-type]
    return varint.encode_signed(values, mode)  # type: ignore[arg-type]


def encode_factored(values: npt.NDArray[np.int64], reference: npt.NDArray[np.int64] | None, factor: int) -> bytes | None:
    """A factored block (0x23) of int64 values by `factor` (mode 1 when a reference is given:
    the timestamps of the values' rows), or None when it would not decode exactly."""
    stored = relative.quotients(values, factor, reference)
    if stored is None:
        return None
    inner = _choose_plain_integer(stored)
    if inner[0] not in _ALREADY_COMPRESSED:
        for _, wrap, _ in WRAPPERS.values():
            wrapped = wrap(inner)
            if len(wrapped) < len(inner):
                inner = wrapped
    mode = relative.MODE_FACTOR if reference is None else relative.MODE_REFERENCE
    return relative.pack(mode, factor, inner)


def _decode_factored(data: bytes, reference: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.int64]:
    mode, factor, inner = relative.unpack(data)
    if mode == relative.MODE_REFERENCE and reference is None:
        raise CodecError("factored", "a block relative to timestamps decoded without them", 1)
    stored = decode_column(inner)
    if not isinstance(stored, np.ndarray) or stored.dtype != np.int64:
        raise CodecError("factored", "inner block does not hold int64 values", 3)
    quotients = np.asarray(stored, dtype=np.int64)  # already int64: narrows the type, copies nothing
    if mode == relative.MODE_FACTOR:
        return relative.restore(quotients, factor, None)
    assert reference is not None
    if len(reference) != len(quotients):
        raise CodecError("factored", f"{len(quotients)} values for {len(reference)} timestamps", 3)
    return relative.restore(quotients, factor, reference)


def decode_with_reference(data: bytes, reference: npt.NDArray[np.int64]) -> ColumnValues:
    """The values of any encoded column block; `reference` (the timestamps of the rows that
    carry the values) is used by factored blocks relative to them."""
    if len(data) > 0 and data[0] == relative.CODEC_ID:
        return _decode_factored(data, reference)
    return decode_column(data)


def _choose_float(values: npt.NDArray[np.float64]) -> bytes:
    decimal = numeric.encode_decimal_floats(values)
    if decimal is None:
        best = numeric.encode_xor_floats(values)
    else:
        best = decimal
        part = numeric.sample(values)
        estimate = len(numeric.encode_xor_floats(part)) * len(values) / max(len(part), 1)
        if estimate < len(decimal) * XOR_SAMPLE_MARGIN:
            xor = numeric.encode_xor_floats(values)
            if len(xor) < len(best):
                best = xor
    if gorilla.size_lower_bound(values) <= len(best) and _gorilla_sample_may_win(values, len(best)):
        bit_serial = gorilla.encode(values)
        if len(bit_serial) <= len(best):
            return bit_serial
    return best


def _gorilla_sample_may_win(values: npt.NDArray[np.float64], best_size: int) -> bool:
    part = numeric.sample(values)
    if part is values:
        return True
    return len(gorilla.encode(part)) * len(values) / len(part) <= best_size * GORILLA_SAMPLE_MARGIN


CHOOSERS: Final[dict[str, Callable[[Any], bytes]]] = {
    "timestamp": _choose_timestamp,
    "float": _choose_float,
    "integer": _choose_integer,
    "unsigned": _choose_integer,
    "string": dictionary.encode,
    "boolean": boolean.encode,
}

DECODERS: Final[dict[int, tuple[str, Callable[[bytes], ColumnValues]]]] = {
    timestamp.CODEC_ID: ("timestamp-dod", timestamp.decode),
    gorilla.CODEC_ID: ("gorilla", gorilla.decode),
    varint.SIGNED_ID: ("varint-signed", varint.decode_signed),
    varint.UNSIGNED_ID: ("varint-unsigned", varint.decode_unsigned),
    dictionary.CODEC_ID: ("dictionary", dictionary.decode),
    boolean.CODEC_ID: ("boolean", boolean.decode),
    numeric.DECIMAL_FLOAT_ID: ("numeric-decimal-zstd", numeric.decode_decimal_floats),
    numeric.XOR_FLOAT_ID: ("numeric-xor-zstd", numeric.decode_xor_floats),
    numeric.INTEGER_ID: ("numeric-integer-zstd", numeric.decode_integers),
    relative.CODEC_ID: ("factored", _decode_factored),
}

WRAPPERS: Final[dict[int, tuple[str, Callable[[bytes], bytes], Callable[[bytes], bytes]]]] = {
    block.LZ4_ID: ("lz4", block.wrap_lz4, block.unwrap_lz4),
    block.ZSTD_ID: ("zstd", block.wrap_zstd, block.unwrap_zstd),
}

# Blocks that already end in a general-purpose compressor gain nothing from a wrapper (a
# factored block chose the wrapper of its inner block).
_ALREADY_COMPRESSED: Final = frozenset(
    {numeric.DECIMAL_FLOAT_ID, numeric.XOR_FLOAT_ID, numeric.INTEGER_ID, relative.CODEC_ID}
)

_DTYPES: Final[dict[str, type[np.generic]]] = {
    "timestamp": np.int64,
    "integer": np.int64,
    "unsigned": np.uint64,
    "float": np.float64,
    "boolean": np.bool_,
}

assert not set(DECODERS) & set(WRAPPERS), "BUG: a codec id is assigned twice"


def _as_kind(kind: str, values: ColumnValues) -> npt.NDArray[Any] | list[str]:
    if kind == "string":
        if not isinstance(values, list):
            raise TypeError("a string column takes a list of str")
        return values
    dtype = _DTYPES.get(kind)
    if dtype is None:
        raise ValueError(f"unknown column kind {kind!r}")
    return np.ascontiguousarray(values, dtype=dtype)


def encode_column(kind: ColumnKind, values: ColumnValues) -> bytes:
    """The smallest block the codecs for `kind` make of `values`, wrappers included.

    Smallest as the choosers above judge it: exact for integers and timestamps; for floats an
    XOR block a sample rules out is not made.
    """
    column = _as_kind(kind, values)
    best = CHOOSERS[kind](column)
    if best[0] in _ALREADY_COMPRESSED:
        return best
    unwrapped = best
    for _, wrap, _ in WRAPPERS.values():
        wrapped = wrap(unwrapped)
        if len(wrapped) < len(best):
            best = wrapped
    return best


def decode_column(data: bytes) -> ColumnValues:
    """The values of any encoded column block."""
    if len(data) == 0:
        raise CodecError("column", "empty block", 0)
    wrapper = WRAPPERS.get(data[0])
    if wrapper is not None:
        data = wrapper[2](data)
        if data[0] in WRAPPERS:
            raise CodecError(wrapper[0], "a wrapper inside a wrapper", 0)
    decoder = DECODERS.get(data[0])
    if decoder is None:
        raise CodecError("column", f"unknown codec id 0x{data[0]:02x}", 0)
    return decoder[1](data)


def decode_string_codes(data: bytes) -> tuple[list[str], npt.NDArray[np.int64]]:
    """A string block as (its distinct strings, each value's position among them), without a str
    object per value: what an export hands to Arrow as indices into the strings."""
    if len(data) > 0 and data[0] in WRAPPERS:
        data = WRAPPERS[data[0]][2](data)
    if len(data) == 0 or data[0] != dictionary.CODEC_ID:
        values = decode_column(data)
        if not isinstance(values, list):
            raise CodecError("column", f"codec 0x{data[0]:02x} does not hold strings", 0)
        return values, np.arange(len(values), dtype=np.int64)
    entries, count, width, pos = dictionary.read_block(data)
    if width == 0:
        return entries, np.zeros(count, dtype=np.int64)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8, offset=pos))[: count * width]
    weights = np.left_shift(np.int64(1), np.arange(width - 1, -1, -1, dtype=np.int64))
    codes: npt.NDArray[np.int64] = bits.reshape(count, width).astype(np.int64) @ weights
    if count and int(codes.max()) >= len(entries):
        raise CodecError(dictionary.CODEC, f"index {int(codes.max())} beyond {len(entries)} entries", pos)
    return entries, codes


def encode_string_codes(words: list[str], codes: npt.NDArray[np.int64]) -> bytes:
    """dictionary.encode of the strings [words[c] for c in codes], made from the codes (no str per
    row is looked up): the same block byte for byte, entries in order of first appearance, one
    entry for equal strings under different codes (words joined from several dictionaries)."""
    count = len(codes)
    if count == 0:
        return dictionary.encode([])
    used, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    entry_of = np.empty(len(used), dtype=np.int64)
    entries: list[str] = []
    seen: dict[str, int] = {}
    for position in np.argsort(first, kind="stable").tolist():
        word = words[int(used[position])]
        entry = seen.get(word)
        if entry is None:
            entry = seen[word] = len(entries)
            entries.append(word)
        entry_of[position] = entry
    head = dictionary.header(count, entries)
    width = dictionary.index_width(len(entries))
    if width == 0:
        return head
    indices = entry_of[inverse.reshape(-1)]
    bits = (indices[:, None] >> np.arange(width - 1, -1, -1, dtype=np.int64)) & 1
    return head + np.packbits(bits.astype(np.uint8).reshape(-1)).tobytes()


def codec_name(data: bytes) -> str:
    """The codec a block was made with, e.g. "zstd(dictionary)"; for logs and benchmarks."""
    if len(data) == 0:
        raise CodecError("column", "empty block", 0)
    wrapper = WRAPPERS.get(data[0])
    if wrapper is not None:
        return f"{wrapper[0]}({codec_name(wrapper[2](data))})"
    decoder = DECODERS.get(data[0])
    if decoder is None:
        raise CodecError("column", f"unknown codec id 0x{data[0]:02x}", 0)
    return decoder[0]
