"""Bloom filters on series ids, one per partition, to skip partitions a query cannot touch.

A filter answers "might this partition hold series X?": never a false "no",
and a false "yes" with about the probability it was sized for (default 1%).

Sizing (the usual formulas, n items at false-positive rate p):

    m = ceil(-n * ln(p) / ln(2)**2)     bits
    k = max(1, round(m / n * ln(2)))    probes per item

Probes (Kirsch-Mitzenmacher double hashing): the 64-bit id is first mixed with
the SplitMix64 finalizer, so ids that are not uniform (small test ids, ids
from another source) still spread; h1 is the mixed value and h2 the mix of
h1 again, forced odd. Probe i sets bit `(h1 + i * h2) mod 2**64 mod m`.
numpy does all items at once: the arithmetic is modulo 2**64 on uint64
arrays, exactly as the scalar path computes it with Python ints, so
`might_contain` and `might_contain_many` agree bit for bit.

Bit i of the filter is bit (i % 8) (least significant first) of byte i // 8.

Serialized layout (`to_bytes`, all integers little-endian):

    offset  size  field
    0       4     magic b"RTBF"
    4       1     version, 1
    5       3     reserved, zero
    8       4     k, probes per item (1..64)
    12      8     m, number of bits (>= 1)
    20      8     items added (count of add calls' ids, duplicates included)
    28      ceil(m / 8)   the bits
    end-4   4     CRC32 (zlib) of every byte before it

A reader refuses a newer version, a bad magic, a length that does not match
m, or a CRC mismatch, with CorruptDataError.
"""

import math
import struct
import zlib
from typing import Final

import numpy as np
from numpy.typing import NDArray

from rusts.core.errors import CorruptDataError

MAGIC: Final = b"RTBF"
VERSION: Final = 1
_HEADER: Final = struct.Struct("<4sB3xIQQ")
_CRC: Final = struct.Struct("<I")
_MASK64: Final = (1 << 64) - 1
_MAX_PROBES: Final = 64

# SplitMix64 finalizer constants (Steele, Lea, Flood 2014).
_MIX_ADD: Final = 0x9E3779B97F4A7C15
_MIX_MUL1: Final = 0xBF58476D1CE4E5B9
_MIX_MUL2: Final = 0x94D049BB133111EB


def _mix(value: int) -> int:
    value = (value + _MIX_ADD) & _MASK64
    value = ((value ^ (value >> 30)) * _MIX_MUL1) & _MASK64
    value = ((value ^ (value >> 27)) * _MIX_MUL2) & _MASK64
    return value ^ (value >> 31)


def _mix_many(values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    # uint64 array arithmetic wraps modulo 2**64 silently, like the masks in _mix.
    values = values + np.uint64(_MIX_ADD)
    values = (values ^ (values >> np.uint64(30))) * np.uint64(_MIX_MUL1)
    values = (values ^ (values >> np.uint64(27))) * np.uint64(_MIX_MUL2)
    return values ^ (values >> np.uint64(31))


class BloomFilter:
    """A fixed-size Bloom filter over u64 series ids. Not thread-safe for writers."""

    __slots__ = ("bits", "probes", "bit_count", "items")

    def __init__(self, bit_count: int, probes: int) -> None:
        if bit_count < 1:
            raise ValueError(f"a bloom filter needs at least 1 bit, got {bit_count}")
        if not 1 <= probes <= _MAX_PROBES:
            raise ValueError(f"probes must be in 1..{_MAX_PROBES}, got {probes}")
        self.bit_count = bit_count
        self.probes = probes
        self.items = 0
        self.bits: NDArray[np.uint8] = np.zeros((bit_count + 7) // 8, dtype=np.uint8)

    @classmethod
    def for_capacity(cls, capacity: int, fpr: float = 0.01) -> "BloomFilter":
        """A filter sized so that `capacity` distinct ids give a false-positive rate of about `fpr`."""
        if not 0.0 < fpr < 1.0:
            raise ValueError(f"false-positive rate must be in (0, 1), got {fpr}")
        capacity = max(1, capacity)
        bit_count = max(8, math.ceil(-capacity * math.log(fpr) / (math.log(2) ** 2)))
        probes = min(_MAX_PROBES, max(1, round(bit_count / capacity * math.log(2))))
        return cls(bit_count, probes)

    def _positions(self, ids: NDArray[np.uint64]) -> NDArray[np.uint64]:
        """Bit positions, shape (probes, len(ids))."""
        h1 = _mix_many(ids)
        h2 = _mix_many(h1) | np.uint64(1)
        steps = np.arange(self.probes, dtype=np.uint64)[:, None]
        return (h1[None, :] + steps * h2[None, :]) % np.uint64(self.bit_count)

    def add_many(self, ids: NDArray[np.uint64]) -> None:
        """Add every id in `ids` (any integer array; converted to uint64)."""
        ids = np.ascontiguousarray(ids, dtype=np.uint64)
        if len(ids) == 0:
            return
        positions = self._positions(ids).ravel()
        if len(positions) * 8 >= self.bit_count:
            # Many ids: one dense pass over all m bits beats scattered read-modify-writes.
            flags = np.zeros(self.bits.size * 8, dtype=np.bool_)
            flags[positions] = True
            self.bits |= np.packbits(flags, bitorder="little")
        else:
            masks = np.left_shift(np.uint8(1), (positions & np.uint64(7)).astype(np.uint8))
            np.bitwise_or.at(self.bits, positions >> np.uint64(3), masks)
        self.items += len(ids)

    def add(self, series_id: int) -> None:
        """Add one id."""
        self.add_many(np.array([series_id], dtype=np.uint64))

    def might_contain(self, series_id: int) -> bool:
        """False means the id was certainly never added."""
        h1 = _mix(series_id & _MASK64)
        h2 = _mix(h1) | 1
        bits = self.bits
        for step in range(self.probes):
            position = ((h1 + step * h2) & _MASK64) % self.bit_count
            if not (int(bits[position >> 3]) >> (position & 7)) & 1:
                return False
        return True

    def might_contain_many(self, ids: NDArray[np.uint64]) -> NDArray[np.bool_]:
        """One boolean per id: False means certainly absent."""
        ids = np.ascontiguousarray(ids, dtype=np.uint64)
        if len(ids) == 0:
            return np.zeros(0, dtype=np.bool_)
        positions = self._positions(ids)
        hits = (self.bits[positions >> np.uint64(3)] >> (positions & np.uint64(7)).astype(np.uint8)) & np.uint8(1)
        result: NDArray[np.bool_] = hits.all(axis=0)
        return result

    def to_bytes(self) -> bytes:
        body = _HEADER.pack(MAGIC, VERSION, self.probes, self.bit_count, self.items) + self.bits.tobytes()
        return body + _CRC.pack(zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bloom filter>") -> "BloomFilter":
        """Decode `to_bytes` output; `source` names the file or block in errors."""
        if len(data) < _HEADER.size + _CRC.size:
            raise CorruptDataError(source, f"bloom filter truncated: {len(data)} bytes")
        magic, version, probes, bit_count, items = _HEADER.unpack_from(data, 0)
        if magic != MAGIC:
            raise CorruptDataError(source, f"not a bloom filter: magic {magic!r}", 0)
        if version > VERSION:
            raise CorruptDataError(source, f"bloom filter version {version} is newer than this reader ({VERSION})", 4)
        if version != VERSION:
            raise CorruptDataError(source, f"unknown bloom filter version {version}", 4)
        (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
        if zlib.crc32(memoryview(data)[: len(data) - _CRC.size]) != crc:
            raise CorruptDataError(source, "bloom filter CRC mismatch", len(data) - _CRC.size)
        if bit_count < 1 or not 1 <= probes <= _MAX_PROBES:
            raise CorruptDataError(source, f"bloom filter header invalid: k={probes} m={bit_count}", 8)
        expected = _HEADER.size + (bit_count + 7) // 8 + _CRC.size
        if len(data) != expected:
            raise CorruptDataError(source, f"bloom filter is {len(data)} bytes, header says {expected}")
        bloom = cls(bit_count, probes)
        bloom.items = items
        bloom.bits = np.frombuffer(data, dtype=np.uint8, count=(bit_count + 7) // 8, offset=_HEADER.size).copy()
        return bloom

    def fill_ratio(self) -> float:
        """Share of bits set; about 0.5 at the designed capacity."""
        return float(np.unpackbits(self.bits, count=self.bit_count, bitorder="little").mean())

    def expected_fpr(self) -> float:
        """False-positive rate estimated from the bits actually set."""
        return self.fill_ratio() ** self.probes
