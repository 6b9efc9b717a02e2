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

A block is self-describing: decode_column needs only the bytes. Ids 0x00, 0x07-0x0F and
0x12-0x1F, 0x23-0xFF are unassigned and refused; a wrapper holds exactly one unwrapped block.

Column kinds and their decoded values: timestamp and integer -> int64 array, unsigned ->
uint64 array, float -> float64 array, boolean -> bool array, string -> list[str].
"""

from collections.abc import Callable
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from rusts.compression import block, boolean, dictionary, gorilla, numeric, timestamp, varint
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


# Tried in order for each kind; the smallest block wins, the earlier one on a tie.
CANDIDATES: Final[dict[str, tuple[Encoder, ...]]] = {
    "timestamp": (timestamp.encode, numeric.encode_integers),
    "float": (gorilla.encode, numeric.encode_decimal_floats, numeric.encode_xor_floats),
    "integer": (varint.encode_signed, _signed_raw, numeric.encode_integers),
    "unsigned": (varint.encode_unsigned, _unsigned_raw, numeric.encode_integers),
    "string": (dictionary.encode,),
    "boolean": (boolean.encode,),
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
}

WRAPPERS: Final[dict[int, tuple[str, Callable[[bytes], bytes], Callable[[bytes], bytes]]]] = {
    block.LZ4_ID: ("lz4", block.wrap_lz4, block.unwrap_lz4),
    block.ZSTD_ID: ("zstd", block.wrap_zstd, block.unwrap_zstd),
}

# Blocks that already end in a general-purpose compressor gain nothing from a wrapper.
_ALREADY_COMPRESSED: Final = frozenset({numeric.DECIMAL_FLOAT_ID, numeric.XOR_FLOAT_ID, numeric.INTEGER_ID})

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
    """The smallest block any codec for `kind` makes of `values` (wrappers included)."""
    column = _as_kind(kind, values)
    best = b""
    for encoder in CANDIDATES[kind]:
        encoded = encoder(column)
        if encoded is not None and (not best or len(encoded) < len(best)):
            best = encoded
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
