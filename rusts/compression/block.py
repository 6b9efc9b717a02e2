"""LZ4 and Zstd block wrappers: a general-purpose compressor around another codec's block.

Format:

    0x10 | uvarint inner size | LZ4 block (no size prefix) of the inner block
    0x11 | uvarint inner size | Zstd frame (with its content size) of the inner block

The inner block starts with its own codec id; the column registry (codec.py) dispatches on
it and refuses a wrapper inside a wrapper, so decoding never recurses more than once.
Interpreted: the work happens inside the LZ4 and Zstd C libraries.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import lz4.block
import zstandard

from rusts.compression.varint import read_uvarint
from rusts.core.errors import CodecError

LZ4_ID: Final = 0x10
ZSTD_ID: Final = 0x11
ZSTD_LEVEL: Final = 3
# An LZ4 sequence expands at most ~255-fold; a larger claimed size is corruption.
LZ4_MAX_RATIO: Final = 255
# Refuse inner blocks beyond this before allocating their buffer.
MAX_INNER_SIZE: Final = 1 << 31


def _header(codec_id: int, inner_size: int) -> bytes:
    size = bytearray()
    while inner_size >= 0x80:
        size.append((inner_size & 0x7F) | 0x80)
        inner_size >>= 7
    size.append(inner_size)
    return bytes([codec_id]) + bytes(size)


def _read_header(data: bytes, codec_id: int, codec: str) -> tuple[int, int]:
    """(inner size, payload start), checked against MAX_INNER_SIZE."""
    if len(data) == 0 or data[0] != codec_id:
        raise CodecError(codec, "not a block of this wrapper", 0)
    inner_size, pos = read_uvarint(data, 1, codec)
    if inner_size <= 0 or inner_size > MAX_INNER_SIZE:
        raise CodecError(codec, f"implausible inner size {inner_size}", 1)
    return inner_size, pos


def wrap_lz4(inner: bytes) -> bytes:
    """An LZ4 wrapper block (id 0x10) around an encoded block."""
    return _header(LZ4_ID, len(inner)) + lz4.block.compress(inner, store_size=False)


def unwrap_lz4(data: bytes) -> bytes:
    """The inner block of an LZ4 wrapper block (id 0x10)."""
    inner_size, pos = _read_header(data, LZ4_ID, "lz4")
    if inner_size > (len(data) - pos) * LZ4_MAX_RATIO + 16:
        raise CodecError("lz4", f"inner size {inner_size} beyond what the payload can hold", 1)
    try:
        inner = lz4.block.decompress(data[pos:], uncompressed_size=inner_size)
    except lz4.block.LZ4BlockError as error:
        raise CodecError("lz4", f"corrupt payload: {error}", pos) from None
    if len(inner) != inner_size:
        raise CodecError("lz4", f"payload gave {len(inner)} bytes, header says {inner_size}", pos)
    return inner


_per_thread = threading.local()


def zstd_compressor(level: int) -> zstandard.ZstdCompressor:
    """This thread's compressor for `level`: zstandard objects are not thread-safe, and building
    a context per small block cost more than compressing it."""
    compressors: dict[int, zstandard.ZstdCompressor] | None = getattr(_per_thread, "compressors", None)
    if compressors is None:
        compressors = {}
        _per_thread.compressors = compressors
    compressor = compressors.get(level)
    if compressor is None:
        compressor = zstandard.ZstdCompressor(level=level, write_content_size=True)
        compressors[level] = compressor
    return compressor


def block_zstd_level() -> int:
    """The zstd level this thread's codecs compress at: ZSTD_LEVEL unless `zstd_level_of_blocks`
    set another (the numeric codecs end in Zstd themselves, so a segment's level must reach them)."""
    level: int = getattr(_per_thread, "level", ZSTD_LEVEL)
    return level


@contextmanager
def zstd_level_of_blocks(level: int) -> Iterator[None]:
    """Within the block, this thread's codecs compress at `level` (e.g. the cold tier's)."""
    if not 1 <= level <= 22:
        raise ValueError(f"zstd level {level} out of range 1..22")
    previous = block_zstd_level()
    _per_thread.level = level
    try:
        yield
    finally:
        _per_thread.level = previous


def zstd_decompressor() -> zstandard.ZstdDecompressor:
    """This thread's decompressor (see zstd_compressor)."""
    decompressor: zstandard.ZstdDecompressor | None = getattr(_per_thread, "decompressor", None)
    if decompressor is None:
        decompressor = zstandard.ZstdDecompressor()
        _per_thread.decompressor = decompressor
    return decompressor


def wrap_zstd(inner: bytes, level: int | None = None) -> bytes:
    """A Zstd wrapper block (id 0x11) around an encoded block; at `level`, else block_zstd_level()."""
    chosen = block_zstd_level() if level is None else level
    return _header(ZSTD_ID, len(inner)) + zstd_compressor(chosen).compress(inner)


def unwrap_zstd(data: bytes) -> bytes:
    """The inner block of a Zstd wrapper block (id 0x11)."""
    inner_size, pos = _read_header(data, ZSTD_ID, "zstd")
    return zstd_decompress_exact(data, pos, inner_size, "zstd")


def zstd_decompress_exact(data: bytes, pos: int, size: int, codec: str) -> bytes:
    """The Zstd frame at data[pos:], which must decompress to exactly `size` bytes."""
    frame = data[pos:]
    try:
        declared = zstandard.frame_content_size(frame)
        if declared != size:
            raise CodecError(codec, f"frame holds {declared} bytes, header says {size}", pos)
        content = zstd_decompressor().decompress(frame, max_output_size=size)
    except zstandard.ZstdError as error:
        raise CodecError(codec, f"corrupt frame: {error}", pos) from None
    if len(content) != size:
        raise CodecError(codec, f"frame gave {len(content)} bytes, header says {size}", pos)
    return content
