"""Dictionary-coded strings: each distinct string stored once, values as bit-packed indices.

Format:

    0x05 | uvarint count | uvarint entries
         | entries x (uvarint byte length | UTF-8 bytes)
         | bit stream: count indices of w bits each, most significant bit first,
           zero-padded to a byte, w = bit length of (entries - 1) (0 when entries <= 1)

Entries are in order of first appearance. Strings are encoded with "surrogatepass" so any
Python str, lone surrogates included, round-trips exactly.
"""

from typing import Final

from librt.strings import BytesWriter
from mypy_extensions import i64, u8

from rusts.compression.varint import (
    BitWriter,
    check_header,
    leading_zeros,
    pad_for_reading,
    read_bits,
    read_count,
    read_uvarint,
    write_uvarint,
)
from rusts.core.errors import CodecError

CODEC_ID: Final = 0x05
CODEC: Final = "dictionary"


def encode(values: list[str]) -> bytes:
    """A dictionary block (id 0x05) for a list of strings."""
    positions: dict[str, i64] = {}
    entries: list[str] = []
    indices: list[i64] = []
    for value in values:
        index = positions.get(value, -1)
        if index < 0:
            index = len(entries)
            positions[value] = index
            entries.append(value)
        indices.append(index)
    out = _header(len(values), entries)
    width = index_width(len(entries))
    bits = BitWriter(out)
    for index in indices:
        bits.write_short(index, width)
    bits.flush()
    return out.getvalue()


def header(count: i64, entries: list[str]) -> bytes:
    """A block's bytes before its index stream: for an encoder that packs the indices itself."""
    return _header(count, entries).getvalue()


def _header(count: i64, entries: list[str]) -> BytesWriter:
    out = BytesWriter()
    out.append(u8(CODEC_ID))
    write_uvarint(out, count)
    write_uvarint(out, len(entries))
    for entry in entries:
        raw = entry.encode("utf-8", "surrogatepass")
        write_uvarint(out, len(raw))
        out.write(raw)
    return out


def index_width(entries: i64) -> i64:
    """Bits per index for a dictionary of `entries` strings."""
    if entries <= 1:
        return 0
    return 64 - leading_zeros(entries - 1)


def read_block(data: bytes) -> tuple[list[str], i64, i64, i64]:
    """A dictionary block's (entries, value count, index width, position of the index stream),
    its header and stream length checked."""
    check_header(data, CODEC_ID, CODEC)
    count, pos = read_count(data, 1, CODEC)
    entry_count, pos = read_count(data, pos, CODEC)
    if entry_count > count or (count > 0 and entry_count == 0):
        raise CodecError(CODEC, f"{entry_count} entries for {count} values", pos)
    entries, pos = read_entries(data, pos, entry_count)
    width = index_width(entry_count)
    stream_bits: i64 = (len(data) - pos) * 8
    if stream_bits < count * width or stream_bits - count * width >= 8:
        raise CodecError(CODEC, f"index stream of {stream_bits} bits for {count} values", pos)
    return entries, count, width, pos


def decode(data: bytes) -> list[str]:
    """The strings of a dictionary block (id 0x05)."""
    entries, count, width, pos = read_block(data)
    entry_count: i64 = len(entries)
    padded = pad_for_reading(data, pos)
    values: list[str] = []
    bit_pos: i64 = 0
    for value_index in range(count):
        index = read_bits(padded, bit_pos, width)
        bit_pos += width
        if index >= entry_count:
            raise CodecError(CODEC, f"index {index} beyond {entry_count} entries", pos + (bit_pos >> 3))
        values.append(entries[index])
    return values


def read_entries(data: bytes, pos: i64, entry_count: i64) -> tuple[list[str], i64]:
    """The dictionary's strings and the position after them."""
    entries: list[str] = []
    end: i64 = len(data)
    for entry_index in range(entry_count):
        length, pos = read_uvarint(data, pos, CODEC)
        if length < 0 or length > end - pos:
            raise CodecError(CODEC, f"entry of {length} bytes runs past the block", pos)
        try:
            entries.append(data[pos : pos + length].decode("utf-8", "surrogatepass"))
        except UnicodeDecodeError as error:
            raise CodecError(CODEC, f"entry is not UTF-8: {error.reason}", pos) from None
        pos += length
    return entries, pos
