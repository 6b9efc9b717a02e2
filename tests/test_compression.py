"""Codecs: decode(encode(x)) == x bit for bit, and corrupt input fails with CodecError only.

Run interpreted and compiled (PYTHONPATH pointing at a mypyc build): compiled i64 wraps on
overflow where interpreted ints do not, so both must pass.
"""

import signal
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from librt.strings import BytesWriter

from rusts.compression import block, boolean, codec, dictionary, gorilla, numeric, relative, timestamp, varint
from rusts.core.errors import CodecError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
BIT_WIDTHS = (0, 1, 31, 32, 33, 63, 64)

SPECIAL_FLOATS = [
    0.0,
    -0.0,
    float("inf"),
    float("-inf"),
    float("nan"),
    5e-324,
    -5e-324,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    2.2250738585072014e-308,
]
# NaNs with payloads and sign bits that float arithmetic would not preserve.
SPECIAL_FLOAT_BITS = [0x7FF8000000000001, 0xFFF8000000000000, 0x7FF0000000000001, 0xFFFFFFFFFFFFFFFF, 0x8000000000000000]

int64s = st.one_of(st.integers(INT64_MIN, INT64_MAX), st.sampled_from([INT64_MIN, INT64_MAX, 0, -1, 1]))
uint64s = st.one_of(st.integers(0, UINT64_MAX), st.sampled_from([0, 1, 2**63, 2**63 - 1, UINT64_MAX]))
float_bits = st.one_of(st.integers(0, UINT64_MAX), st.sampled_from(SPECIAL_FLOAT_BITS))


def as_int64(values: list[int]) -> npt.NDArray[np.int64]:
    return np.array(values, dtype=np.int64)


def as_float64(bits: list[int]) -> npt.NDArray[np.float64]:
    return np.array(bits, dtype=np.uint64).view(np.float64)


def same_bits(left: npt.NDArray[Any], right: npt.NDArray[Any]) -> bool:
    return left.dtype == right.dtype and left.tobytes() == right.tobytes()


@st.composite
def decimal_floats(draw: st.DrawFn) -> npt.NDArray[np.float64]:
    """Prices: a random walk of cents, the kind the decimal codec is for."""
    steps = draw(st.lists(st.integers(-10_000, 10_000), max_size=200))
    scale = draw(st.integers(0, 4))
    return np.cumsum(np.array(steps, dtype=np.int64)).astype(np.float64) / 10.0**scale


@st.composite
def timestamp_arrays(draw: st.DrawFn) -> npt.NDArray[np.int64]:
    """Either arbitrary int64s (unsorted, repeated, extremes) or regular ns series with jitter."""
    if draw(st.booleans()):
        return as_int64(draw(st.lists(int64s, max_size=200)))
    start = draw(st.integers(0, 2**62))
    jitter = draw(st.lists(st.integers(-1_000_000, 1_000_000), max_size=200))
    interval = draw(st.sampled_from([1, 1_000_000_000, 10_000_000_000]))
    return start + np.arange(len(jitter), dtype=np.int64) * interval + as_int64(jitter)


# ---- bit helpers ---------------------------------------------------------------------------


def test_low_mask_widths() -> None:
    for width in range(64):
        assert varint.low_mask(width) == (1 << width) - 1


@pytest.mark.parametrize("width", BIT_WIDTHS)
def test_bit_field_round_trip_at_width(width: int) -> None:
    patterns = [0, 1, 0x5555555555555555, -0x5555555555555556, -1, INT64_MIN, INT64_MAX, 0x123456789ABCDEF0]
    for misalignment in range(9):
        out = BytesWriter()
        bits = varint.BitWriter(out)
        bits.write(0, misalignment)
        for pattern in patterns:
            bits.write(pattern, width)
        bits.flush()
        stream = out.getvalue()
        assert len(stream) == (misalignment + width * len(patterns) + 7) // 8
        padded = varint.pad_for_reading(stream, 0)
        for i, pattern in enumerate(patterns):
            expected = pattern & ((1 << width) - 1)
            if width == 64 and expected > INT64_MAX:
                expected -= 2**64
            assert varint.read_bits(padded, misalignment + i * width, width) == expected


@pytest.mark.parametrize("width", BIT_WIDTHS)
def test_leading_and_trailing_zeros_at_width(width: int) -> None:
    top_bit = {0: 0, 64: INT64_MIN}.get(width, 1 << (width - 1) if width else 0)
    all_ones = {0: 0, 64: -1}.get(width, (1 << width) - 1)
    assert varint.leading_zeros(top_bit) == 64 - width
    assert varint.leading_zeros(all_ones) == 64 - width
    assert varint.trailing_zeros(top_bit) == (64 if width == 0 else width - 1)
    assert varint.trailing_zeros(all_ones) == (64 if width == 0 else 0)


@given(int64s)
def test_uvarint_round_trip(value: int) -> None:
    out = BytesWriter()
    out.append(7)
    varint.write_uvarint(out, value)
    data = out.getvalue()
    assert varint.read_uvarint(data, 1, "test") == (value, len(data))
    assert len(data) - 1 <= 10


@given(st.lists(int64s, max_size=50))
def test_zigzag_round_trip(values: list[int]) -> None:
    array = as_int64(values)
    patterns = varint.zigzag(array)
    assert same_bits(varint.unzigzag(patterns), array)
    assert patterns.view(np.uint64).tolist() == [2 * v if v >= 0 else -2 * v - 1 for v in values]


# ---- round trips ---------------------------------------------------------------------------


@given(st.lists(float_bits, max_size=200))
def test_gorilla_round_trip(bits: list[int]) -> None:
    values = as_float64(bits)
    assert same_bits(gorilla.decode(gorilla.encode(values)), values)


@given(st.lists(st.sampled_from(SPECIAL_FLOATS), max_size=50))
def test_gorilla_special_floats(values: list[float]) -> None:
    array = np.array(values, dtype=np.float64)
    assert same_bits(gorilla.decode(gorilla.encode(array)), array)


@given(decimal_floats())
def test_gorilla_decimal_walk(values: npt.NDArray[np.float64]) -> None:
    assert same_bits(gorilla.decode(gorilla.encode(values)), values)


@given(timestamp_arrays())
def test_timestamp_round_trip(values: npt.NDArray[np.int64]) -> None:
    assert same_bits(timestamp.decode(timestamp.encode(values)), values)


def test_timestamp_regular_interval_costs_a_bit() -> None:
    values = 1_700_000_000_000_000_000 + np.arange(8001, dtype=np.int64) * 10_000_000_000
    assert len(timestamp.encode(values)) < 1 + 3 + 8 + 12 + 1000 + 2


@pytest.mark.parametrize("mode", [varint.MODE_RAW, varint.MODE_DELTA])
@given(values=st.lists(int64s, max_size=200))
def test_varint_signed_round_trip(mode: int, values: list[int]) -> None:
    array = as_int64(values)
    assert same_bits(varint.decode_signed(varint.encode_signed(array, mode)), array)


@pytest.mark.parametrize("mode", [varint.MODE_RAW, varint.MODE_DELTA])
@given(values=st.lists(uint64s, max_size=200))
def test_varint_unsigned_round_trip(mode: int, values: list[int]) -> None:
    array = np.array(values, dtype=np.uint64)
    assert same_bits(varint.decode_unsigned(varint.encode_unsigned(array, mode)), array)


@given(st.lists(st.one_of(st.text(max_size=8), st.sampled_from(["", "\ud800", "é", "\x00"])), max_size=100))
def test_dictionary_round_trip(values: list[str]) -> None:
    assert dictionary.decode(dictionary.encode(values)) == values


@given(st.lists(st.sampled_from(["", "a", "b", "\ud800", "é", "x" * 30, "z"]), max_size=300), st.sampled_from(["bare", "lz4", "zstd"]))
def test_dictionary_codes_give_the_strings(values: list[str], outer: str) -> None:
    encoded = dictionary.encode(values)
    data = {"bare": encoded, "lz4": block.wrap_lz4(encoded), "zstd": block.wrap_zstd(encoded)}[outer]
    words, codes = codec.decode_string_codes(data)
    assert codes.dtype == np.int64 and [words[c] for c in codes.tolist()] == values


@given(
    st.lists(st.sampled_from(["", "a", "b", "\ud800", "é", "x" * 30]), min_size=1, max_size=12),
    st.data(),
)
def test_strings_encoded_from_codes_make_the_same_block(words: list[str], data: st.DataObject) -> None:
    """Equal words under several codes (dictionaries of several chunks joined) are one entry."""
    codes = data.draw(st.lists(st.integers(0, len(words) - 1), max_size=300))
    array = np.array(codes, dtype=np.int64)
    strings = [words[c] for c in codes]
    assert codec.encode_string_codes(words, array) == dictionary.encode(strings)


def test_dictionary_codes_refuse_an_index_past_the_entries() -> None:
    block_bytes = bytearray(dictionary.encode(["a", "b", "c", "c"]))  # 3 entries, 2-bit indices 00 01 10 10
    block_bytes[-1] = 0b11101010  # the first index becomes 3
    with pytest.raises(CodecError, match="beyond 3 entries"):
        codec.decode_string_codes(bytes(block_bytes))
    with pytest.raises(CodecError):
        codec.decode_string_codes(bytes(block_bytes[:-1]))


@given(st.lists(st.booleans(), max_size=200))
def test_boolean_round_trip(values: list[bool]) -> None:
    array = np.array(values, dtype=np.bool_)
    assert same_bits(boolean.decode(boolean.encode(array)), array)


@given(st.binary(min_size=1, max_size=300))
def test_block_wrappers_round_trip(inner: bytes) -> None:
    assert block.unwrap_lz4(block.wrap_lz4(inner)) == inner
    assert block.unwrap_zstd(block.wrap_zstd(inner)) == inner


@given(st.lists(int64s, min_size=1, max_size=200), st.sampled_from([1, 3, 1000, 10**9, 2**62]), st.data())
def test_factored_integers_round_trip_or_decline(values: list[int], unit: int, data: st.DataObject) -> None:
    """Factored blocks give every value back bit for bit, also where int64 arithmetic wraps,
    or are declined; relative ones need their reference and refuse to decode without it."""
    multiples = as_int64([v // unit * unit + (unit if v // unit * unit < INT64_MIN else 0) for v in values])
    reference = as_int64(data.draw(st.lists(int64s, min_size=len(values), max_size=len(values))))
    offsets = data.draw(st.lists(st.integers(-(10**6), 10**6), min_size=len(values), max_size=len(values)))
    with np.errstate(over="ignore"):
        near = multiples + as_int64(offsets) * np.int64(unit)  # wraps at the extremes, on purpose
    for array, ref in ((multiples, None), (multiples, reference), (near, multiples)):
        block_bytes = codec.encode_factored(array, ref, relative.common_factor(array))
        if block_bytes is None:
            continue
        assert block_bytes[0] == relative.CODEC_ID
        if ref is None:
            assert same_bits(codec.decode_column(block_bytes), array)  # type: ignore[arg-type]
        else:
            assert same_bits(codec.decode_with_reference(block_bytes, ref), array)  # type: ignore[arg-type]
            with pytest.raises(CodecError, match="without them"):
                codec.decode_column(block_bytes)
            with pytest.raises(CodecError, match="timestamps"):
                codec.decode_with_reference(block_bytes, ref[:-1])


def test_factored_integers_shrink_times_near_the_reference() -> None:
    rng = np.random.default_rng(5)
    times = 1_762_000_000 * 10**9 + np.cumsum(rng.integers(1, 20000, 5000)) * 10**9 + rng.integers(0, 3, 5000) * 10**6
    dropoff = (times // 10**9 + rng.integers(60, 300, 5000)) * 10**9
    plain = codec.encode_column("integer", dropoff)
    relative_block = codec.encode_factored(dropoff, times, relative.common_factor(dropoff))
    assert relative_block is not None and len(relative_block) * 1.5 < len(plain)
    assert codec.codec_name(plain) == "factored"  # whole seconds in ns: a factor of 10**9 alone helps
    assert same_bits(codec.decode_with_reference(relative_block, times), dropoff)
    assert same_bits(codec.decode_column(plain), dropoff)  # type: ignore[arg-type]


@given(st.lists(int64s, max_size=200))
def test_numeric_integers_round_trip(values: list[int]) -> None:
    array = as_int64(values)
    assert same_bits(numeric.decode_integers(numeric.encode_integers(array)), array)
    unsigned = array.view(np.uint64)
    assert same_bits(numeric.decode_integers(numeric.encode_integers(unsigned)), unsigned)


@given(st.lists(float_bits, max_size=200))
def test_numeric_floats_round_trip(bits: list[int]) -> None:
    values = as_float64(bits)
    assert same_bits(numeric.decode_xor_floats(numeric.encode_xor_floats(values)), values)
    encoded = numeric.encode_decimal_floats(values)
    if encoded is not None:
        assert same_bits(numeric.decode_decimal_floats(encoded), values)


@given(decimal_floats())
def test_numeric_decimal_floats_round_trip(values: npt.NDArray[np.float64]) -> None:
    encoded = numeric.encode_decimal_floats(values)
    assert encoded is not None
    assert same_bits(numeric.decode_decimal_floats(encoded), values)


@given(decimal_floats(), st.lists(st.tuples(st.integers(0, 10**6), float_bits), max_size=4))
def test_numeric_decimal_floats_patch_exceptions(values: npt.NDArray[np.float64], odd: list[tuple[int, int]]) -> None:
    values = np.concatenate([values, np.full(1000, 2.5)])
    for position, bits in odd:
        values[position % len(values)] = as_float64([bits])[0]
    values[len(values) // 2] = -0.0
    encoded = numeric.encode_decimal_floats(values)
    assert encoded is not None
    assert same_bits(numeric.decode_decimal_floats(encoded), values)


def test_decimal_floats_decline_what_they_cannot_hold() -> None:
    for value in [float("nan"), float("inf"), -0.0, 0.1 + 0.2, 1e300]:
        assert numeric.encode_decimal_floats(np.array([1.5, value])) is None


# ---- the registry --------------------------------------------------------------------------

COLUMN_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "timestamp": timestamp_arrays(),
    "integer": st.lists(int64s, max_size=100).map(as_int64),
    "unsigned": st.lists(uint64s, max_size=100).map(lambda v: np.array(v, dtype=np.uint64)),
    "float": st.one_of(st.lists(float_bits, max_size=100).map(as_float64), decimal_floats()),
    "boolean": st.lists(st.booleans(), max_size=100).map(lambda v: np.array(v, dtype=np.bool_)),
    "string": st.lists(st.sampled_from(["cpu", "mem", "disk", "", "\ud800"]), max_size=100),
}


@pytest.mark.parametrize("kind", sorted(COLUMN_STRATEGIES))
@settings(max_examples=60)
@given(data=st.data())
def test_encode_column_round_trip(kind: str, data: st.DataObject) -> None:
    values = data.draw(COLUMN_STRATEGIES[kind])
    decoded = codec.decode_column(codec.encode_column(kind, values))  # type: ignore[arg-type]
    if kind == "string":
        assert decoded == values
    else:
        assert isinstance(decoded, np.ndarray) and same_bits(decoded, values)


@given(timestamp_arrays())
def test_timestamp_encoded_size_is_exact(values: npt.NDArray[np.int64]) -> None:
    assert timestamp.encoded_size(values) == len(timestamp.encode(values))


@pytest.mark.parametrize("mode", [varint.MODE_RAW, varint.MODE_DELTA])
@given(values=st.lists(int64s, max_size=200))
def test_varint_encoded_size_is_exact(mode: int, values: list[int]) -> None:
    array = as_int64(values)
    assert varint.encoded_size(array, mode) == len(varint.encode_signed(array, mode))
    unsigned = array.view(np.uint64)
    assert varint.encoded_size(unsigned, mode) == len(varint.encode_unsigned(unsigned, mode))


@given(st.one_of(st.lists(float_bits, max_size=200).map(as_float64), decimal_floats()))
def test_gorilla_size_lower_bound_holds(values: npt.NDArray[np.float64]) -> None:
    assert gorilla.size_lower_bound(values) <= len(gorilla.encode(values))


@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=30), st.integers(0, 15))
def test_uvarint_decode_fast_path_matches_slow(values: list[int], lead: int) -> None:
    """read_uvarints loads 8 bytes at a time where it can; non-minimal encodings included."""
    out = BytesWriter()
    for value in values:
        varint.write_uvarint(out, value - 2**64 if value > INT64_MAX else value)
    data = bytes(lead) + out.getvalue() + b"\x80\x80\x00"
    patterns = np.frombuffer(varint.read_uvarints(data, 0, lead + len(values) + 1, "test"), dtype=np.uint64)
    assert patterns.tolist() == [0] * lead + values + [0]


@pytest.mark.parametrize("kind", ["timestamp", "integer", "unsigned", "float"])
def test_encode_column_choice_within_two_percent_of_exhaustive(kind: str) -> None:
    rng = np.random.default_rng(11)
    steps = np.arange(100_000, dtype=np.int64)
    columns: dict[str, list[Any]] = {
        "timestamp": [
            10**18 + steps * 10**10,
            10**18 + steps * 10**10 + rng.integers(-(10**6), 10**6, len(steps)),
            steps[:50] * 3,
        ],
        "integer": [np.cumsum(rng.poisson(100, len(steps))), rng.integers(-1000, 1000, len(steps)), steps[:20]],
        "unsigned": [np.cumsum(rng.poisson(5000, len(steps))).astype(np.uint64), steps[:20].astype(np.uint64)],
        "float": [
            np.round(100 + np.cumsum(rng.normal(0, 0.5, len(steps))), 2),
            20 + np.sin(steps / 500.0) + rng.normal(0, 0.01, len(steps)),
            rng.normal(0, 1, 30),
            np.repeat(rng.normal(0, 1, 1000), 100),
        ],
    }
    for values in columns[kind]:
        chosen = codec.encode_column(kind, values)  # type: ignore[arg-type]
        column = codec._as_kind(kind, values)
        sizes = [len(block) for block in (encoder(column) for encoder in codec.CANDIDATES[kind]) if block is not None]
        assert len(chosen) <= min(sizes) * 1.02 + 2


def test_encode_column_keeps_the_smallest() -> None:
    values = np.round(100 + np.cumsum(np.random.default_rng(7).normal(0, 1, 5000)), 2)
    chosen = codec.encode_column("float", values)
    for encoder in codec.CANDIDATES["float"]:
        candidate = encoder(values)
        assert candidate is None or len(chosen) <= len(candidate)


def test_registry_refuses_unknown_empty_and_nested() -> None:
    for data in [b"", b"\x00", b"\x7f\x00", block.wrap_zstd(block.wrap_lz4(boolean.encode(np.ones(3, np.bool_))))]:
        with pytest.raises(CodecError):
            codec.decode_column(data)


def test_codec_refuses_another_codecs_block() -> None:
    with pytest.raises(CodecError):
        gorilla.decode(timestamp.encode(as_int64([1, 2, 3])))


# ---- corrupt and truncated input -----------------------------------------------------------


def sample_blocks() -> Iterator[tuple[str, bytes]]:
    rng = np.random.default_rng(42)
    walk = np.round(50 + np.cumsum(rng.normal(0, 1, 40)), 2)
    floats = np.concatenate([walk, as_float64(SPECIAL_FLOAT_BITS), np.array(SPECIAL_FLOATS)])
    stamps = 1_700_000_000_000_000_000 + np.arange(40, dtype=np.int64) * 10_000_000_000
    stamps += rng.integers(-(10**6), 10**6, 40)
    ints = np.concatenate([np.cumsum(rng.integers(0, 1000, 30)), as_int64([INT64_MIN, INT64_MAX, -1])])
    names = [["cpu", "mem", "disk", "é"][i] for i in rng.integers(0, 4, 40)]
    flags = rng.integers(0, 100, 45) < 30
    yield "gorilla", gorilla.encode(floats)
    yield "timestamp", timestamp.encode(stamps)
    yield "timestamp-extremes", timestamp.encode(ints)
    yield "varint-signed", varint.encode_signed(ints)
    yield "varint-signed-raw", varint.encode_signed(ints, varint.MODE_RAW)
    yield "varint-unsigned", varint.encode_unsigned(ints.view(np.uint64))
    yield "dictionary", dictionary.encode(names)
    yield "boolean", boolean.encode(flags)
    yield "zstd", block.wrap_zstd(dictionary.encode(names))
    yield "lz4", block.wrap_lz4(dictionary.encode(names))
    yield "numeric-integer", numeric.encode_integers(stamps)
    yield "factored", codec.encode_column("integer", stamps // 1000 * 1000)
    yield "numeric-xor", numeric.encode_xor_floats(floats)
    decimal = numeric.encode_decimal_floats(walk)
    assert decimal is not None
    yield "numeric-decimal", decimal


SAMPLES = list(sample_blocks())


def decode_or_codec_error(decode: Callable[[bytes], object], data: bytes) -> None:
    """Decoding corrupt data may give values or raise CodecError; anything else fails."""
    try:
        decode(data)
    except CodecError:
        pass


class _Hung(Exception):
    pass


@pytest.fixture(autouse=True)
def no_hang(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a corruption test that runs more than 60 s instead of waiting forever."""
    if "corrupt" not in request.node.name and "truncated" not in request.node.name:
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise _Hung(f"{request.node.name} hung")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(("name", "data"), SAMPLES, ids=[name for name, _ in SAMPLES])
def test_truncated_blocks_raise_codec_error(name: str, data: bytes) -> None:
    assert codec.decode_column(data) is not None
    for end in range(len(data)):
        with pytest.raises(CodecError):
            codec.decode_column(data[:end])


@pytest.mark.parametrize(("name", "data"), SAMPLES, ids=[name for name, _ in SAMPLES])
def test_corrupt_bytes_raise_codec_error_or_decode(name: str, data: bytes) -> None:
    for offset in range(len(data)):
        for flip in (0x01, 0x80, 0xFF):
            corrupt = bytearray(data)
            corrupt[offset] ^= flip
            decode_or_codec_error(codec.decode_column, bytes(corrupt))
    decode_or_codec_error(codec.decode_column, data + b"\x00")


@settings(max_examples=300)
@given(st.sampled_from(SAMPLES), st.binary(max_size=40), st.integers(0, 400))
def test_corrupt_random_splices_raise_codec_error_or_decode(sample: tuple[str, bytes], junk: bytes, at: int) -> None:
    data = sample[1]
    decode_or_codec_error(codec.decode_column, data[:at] + junk + data[at + len(junk) :])


@given(st.binary(max_size=64))
def test_corrupt_arbitrary_bytes_raise_codec_error_or_decode(data: bytes) -> None:
    for codec_id in list(codec.DECODERS) + list(codec.WRAPPERS):
        decode_or_codec_error(codec.decode_column, bytes([codec_id]) + data)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["decimal", "walk", "integers", "empty"]), st.integers(0, 300), st.integers(0, 2**32)), min_size=1, max_size=6))
def test_decode_concatenated_equals_decoding_each(specs: list[tuple[str, int, int]]) -> None:
    """Many numeric blocks decoded at once give what decoding each and joining gives, bit for
    bit (exceptions, every delta order, wrap-around); mixed kinds are declined."""
    blocks: list[bytes] = []
    for shape, count, seed in specs:
        rng = np.random.default_rng(seed)
        if shape == "decimal":
            values = np.round(rng.normal(50, 30, count), 2)
            values[rng.random(count) < 0.01] = np.nan
            block_bytes = numeric.encode_decimal_floats(values) or numeric.encode_decimal_floats(np.zeros(count))
        elif shape == "walk":
            block_bytes = numeric.encode_decimal_floats(np.round(100 + np.cumsum(rng.normal(0, 1, count)), 1))
        elif shape == "integers":
            ints = np.cumsum(rng.integers(-(2**62), 2**62, count, dtype=np.int64)) if seed % 2 else np.cumsum(np.cumsum(rng.integers(0, 9, count)))
            block_bytes = numeric.encode_integers(ints.astype(np.int64))
        else:
            block_bytes = numeric.encode_decimal_floats(np.zeros(0))
        assert block_bytes is not None
        blocks.append(block_bytes)
    kinds = {data[0] for data in blocks}
    joined = numeric.decode_concatenated(blocks)
    if len(kinds) > 1:
        assert joined is None
        return
    assert joined is not None
    each = [codec.decode_column(data) for data in blocks]
    assert same_bits(joined, np.concatenate(each))  # type: ignore[arg-type]


def test_decode_concatenated_refuses_corrupt_blocks() -> None:
    good = numeric.encode_decimal_floats(np.round(np.linspace(0, 50, 100), 2))
    assert good is not None
    for end in range(len(good)):
        with pytest.raises(CodecError):
            numeric.decode_concatenated([good, good[:end] if end >= 3 else good[:3]])
