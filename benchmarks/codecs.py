"""Codec throughput and size on realistic columns, with fixed seeds.

    python benchmarks/codecs.py [values]        (default 1,000,000 values a column)

Prints, per data set and codec: encode and decode in M values/s (best of 3, one core) and
bytes per value; a peer row (plain Zstd level 3 over the raw little-endian array, pickle for
strings) to compare against; and what codec.encode_column picks. Run it compiled (PYTHONPATH
at a mypyc build) for the figures that matter; it says which it is.
"""

import pickle
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import zstandard

from rusts._compiled import is_extension_module
from rusts.compression import block, boolean, codec, dictionary, gorilla, numeric, timestamp, varint

SECOND_NS = 1_000_000_000
START_NS = 1_700_000_000 * SECOND_NS

Codec = tuple[str, Callable[[Any], bytes | None], Callable[[bytes], Any]]


def datasets(count: int) -> list[tuple[str, str, Any]]:
    """(name, column kind, values) for each realistic column."""
    rng = np.random.default_rng(20240601)
    steps = np.arange(count, dtype=np.int64)
    hosts = [f"host-{i:02d}.eu-west" for i in range(20)]
    host_weights = 1.0 / np.arange(1, 21)
    return [
        ("timestamps 10 s exact", "timestamp", START_NS + steps * 10 * SECOND_NS),
        (
            "timestamps 10 s +-1 ms jitter",
            "timestamp",
            START_NS + steps * 10 * SECOND_NS + rng.integers(-1_000_000, 1_000_000, count),
        ),
        (
            "timestamps irregular events (us)",
            "timestamp",
            START_NS + np.cumsum(rng.exponential(0.5 * SECOND_NS, count).astype(np.int64) // 1000 * 1000),
        ),
        ("floats random walk, 2 decimals", "float", np.round(100 + np.cumsum(rng.normal(0, 0.5, count)), 2)),
        ("floats money amounts", "float", np.round(np.exp(rng.normal(3, 1.5, count)), 2)),
        ("floats full precision sensor", "float", 20 + np.sin(steps / 500.0) + rng.normal(0, 0.01, count)),
        ("integers counter", "integer", np.cumsum(rng.poisson(100, count)).astype(np.int64)),
        ("integers gauge +-1000", "integer", rng.integers(-1000, 1000, count)),
        ("unsigned counter", "unsigned", np.cumsum(rng.poisson(5000, count)).astype(np.uint64)),
        ("strings 20 hosts", "string", [hosts[i] for i in rng.choice(20, count, p=host_weights / host_weights.sum())]),
        ("booleans 5% true", "boolean", rng.integers(0, 100, count) < 5),
    ]


def _raw_peer(values: Any) -> bytes:
    raw = pickle.dumps(values) if isinstance(values, list) else np.ascontiguousarray(values).tobytes()
    return zstandard.ZstdCompressor(level=3).compress(raw)


def _raw_peer_decode(frame: bytes) -> Any:
    return zstandard.ZstdDecompressor().decompress(frame)


CODECS: dict[str, list[Codec]] = {
    "timestamp": [
        ("timestamp-dod 0x01", timestamp.encode, timestamp.decode),
        ("varint-signed 0x03", varint.encode_signed, varint.decode_signed),
        ("numeric-integer-zstd 0x22", numeric.encode_integers, numeric.decode_integers),
    ],
    "float": [
        ("gorilla 0x02", gorilla.encode, gorilla.decode),
        ("numeric-decimal-zstd 0x20", numeric.encode_decimal_floats, numeric.decode_decimal_floats),
        ("numeric-xor-zstd 0x21", numeric.encode_xor_floats, numeric.decode_xor_floats),
    ],
    "integer": [
        ("varint-signed 0x03", varint.encode_signed, varint.decode_signed),
        ("numeric-integer-zstd 0x22", numeric.encode_integers, numeric.decode_integers),
        ("timestamp-dod 0x01", timestamp.encode, timestamp.decode),
    ],
    "unsigned": [
        ("varint-unsigned 0x04", varint.encode_unsigned, varint.decode_unsigned),
        ("numeric-integer-zstd 0x22", numeric.encode_integers, numeric.decode_integers),
    ],
    "string": [
        ("dictionary 0x05", dictionary.encode, dictionary.decode),
        ("zstd(dictionary) 0x11", lambda v: block.wrap_zstd(dictionary.encode(v)), codec.decode_column),
    ],
    "boolean": [
        ("boolean 0x06", boolean.encode, boolean.decode),
        ("zstd(boolean) 0x11", lambda v: block.wrap_zstd(boolean.encode(v)), codec.decode_column),
    ],
}


def best_seconds(run: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def measure(name: str, encode: Callable[[Any], bytes | None], decode: Callable[[bytes], Any], values: Any) -> None:
    count = len(values)
    encoded = encode(values)
    if encoded is None:
        print(f"  {name:<30} declined")
        return
    encode_s = best_seconds(lambda: encode(values))
    decode_s = best_seconds(lambda: decode(encoded))
    print(
        f"  {name:<30} encode {count / encode_s / 1e6:7.1f} M/s   decode {count / decode_s / 1e6:7.1f} M/s"
        f"   {len(encoded) / count:7.3f} B/value"
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    state = "compiled" if is_extension_module("rusts.compression.gorilla") else "interpreted"
    print(f"codecs benchmark: {count:,} values a column, {state}, numpy {np.__version__}")
    for name, kind, values in datasets(count):
        print(f"{name} ({kind})")
        for codec_name, encode, decode in CODECS[kind]:
            measure(codec_name, encode, decode, values)
        measure("peer: zstd-3 of raw/pickle", _raw_peer, _raw_peer_decode, values)
        chosen = codec.encode_column(kind, values)  # type: ignore[arg-type]
        encode_s = best_seconds(lambda: codec.encode_column(kind, values), 1)  # type: ignore[arg-type]
        decode_s = best_seconds(lambda: codec.decode_column(chosen))
        print(
            f"  -> encode_column picks {codec.codec_name(chosen)}: {len(chosen) / count:.3f} B/value,"
            f" encode_column {count / encode_s / 1e6:.1f} M/s, decode_column {count / decode_s / 1e6:.1f} M/s"
        )


if __name__ == "__main__":
    main()
