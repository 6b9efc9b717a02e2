"""Memtable: chunks merge in time order and the last write wins per field."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rusts.storage.columns import KIND_FLOAT, KIND_INTEGER, KIND_STRING, Column, SeriesData
from rusts.storage.memtable import JOIN_CHUNKS, SMALL_CHUNK_ROWS, MemTable, concat, resolve

# One write: (timestamp, {field: value}) rows; fields a/b float, n integer, s string.
write_rows = st.lists(
    st.tuples(
        st.integers(0, 20),
        st.fixed_dictionaries(
            {},
            optional={
                "a": st.floats(allow_nan=False),
                "n": st.integers(-(2**63), 2**63 - 1),
                "s": st.text(max_size=3),
            },
        ).filter(bool),
    ),
    min_size=1,
    max_size=12,
)
KINDS = {"a": KIND_FLOAT, "n": KIND_INTEGER, "s": KIND_STRING}


def chunk(rows: list[tuple[int, dict[str, object]]]) -> SeriesData:
    columns = {}
    for name, kind in KINDS.items():
        present = np.array([name in fields for _, fields in rows])
        if not present.any():
            continue
        if kind == KIND_STRING:
            values: object = [str(fields.get(name, "")) for _, fields in rows]
        else:
            dtype = np.float64 if kind == KIND_FLOAT else np.int64
            values = np.array([fields.get(name, 0) for _, fields in rows], dtype=dtype)
        columns[name] = Column(kind, values, None if present.all() else present)
    return SeriesData(7, np.array([ts for ts, _ in rows], dtype=np.int64), columns)


def as_rows(data: SeriesData) -> dict[int, dict[str, object]]:
    out: dict[int, dict[str, object]] = {}
    for row, ts in enumerate(data.timestamps.tolist()):
        fields = {}
        for name, column in data.columns.items():
            if column.present is None or column.present[row]:
                value = column.values[row]
                fields[name] = value.item() if hasattr(value, "item") else value
        out[ts] = fields
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(write_rows, min_size=1, max_size=40))  # past JOIN_CHUNKS writes: small chunks are joined
def test_last_write_wins_per_field(writes: list) -> None:
    expected: dict[int, dict[str, object]] = {}
    for rows in writes:
        for ts, fields in rows:
            expected.setdefault(ts, {}).update(fields)
    table = MemTable()
    for sequence, rows in enumerate(writes, start=1):
        table.write([chunk(rows)], sequence)
    got = table.read(7, 0, 100)
    assert got is not None
    assert got.timestamps.tolist() == sorted(expected)
    assert as_rows(got) == expected
    assert table.first_sequence == 1 and table.last_sequence == len(writes)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(write_rows, min_size=1, max_size=40),
    st.integers(0, 21),
    st.integers(0, 21),
    st.sets(st.sampled_from(sorted(KINDS)), min_size=1),
)
def test_a_read_of_some_fields_is_the_full_read_projected(writes: list, low: int, high: int, names: set[str]) -> None:
    """Reads that join only the fields asked for (and only the chunks in range) give the rows a
    full read gives, each field resolved alike; rows stay where none of those fields is present."""
    start, end = min(low, high), max(low, high) + 1
    full, part = MemTable(), MemTable()
    for sequence, rows in enumerate(writes, start=1):
        full.write([chunk(rows)], sequence)
        part.write([chunk(rows)], sequence)
    wanted = sorted(names)
    got = part.read(7, start, end, wanted)
    expected = full.read(7, start, end)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert got.timestamps.tolist() == expected.timestamps.tolist()
    assert set(got.columns) <= set(wanted)
    assert as_rows(got) == {ts: {n: v for n, v in fields.items() if n in names} for ts, fields in as_rows(expected).items()}


def test_read_is_a_half_open_range() -> None:
    table = MemTable()
    table.write([chunk([(t, {"a": float(t)}) for t in range(10)])], 1)
    got = table.read(7, 3, 6)
    assert got is not None and got.timestamps.tolist() == [3, 4, 5]
    assert table.read(7, 10, 20) is None
    assert table.read(8, 0, 100) is None


def test_concat_marks_missing_fields_absent() -> None:
    merged = concat([chunk([(1, {"a": 1.0})]), chunk([(2, {"n": 5})])])
    assert merged.columns["a"].present is not None
    assert merged.columns["a"].present.tolist() == [True, False]
    assert merged.columns["n"].present.tolist() == [False, True]
    assert resolve(merged).timestamps.tolist() == [1, 2]


def test_flush_triggers() -> None:
    table = MemTable(now=0.0)
    assert not table.should_flush(10, 10, 1.0, now=100.0)
    table.write([chunk([(t, {"a": 1.0}) for t in range(5)])], 1)
    assert table.should_flush(10**9, 4, 100.0, now=0.0)
    assert not table.should_flush(10**9, 10, 100.0, now=0.0)
    assert table.should_flush(10**9, 10, 1.0, now=2.0)
    assert table.should_flush(10, 10, 100.0, now=0.0)


def test_a_series_written_a_row_at_a_time_keeps_few_chunks_and_every_last_value() -> None:
    table = MemTable()
    expected: dict[int, dict[str, object]] = {}
    for sequence in range(1, 2001):
        ts = sequence % 700  # every timestamp written about three times: the last write wins
        fields: dict[str, object] = {"a": float(sequence), "n": sequence} if sequence % 2 else {"s": f"v{sequence}"}
        expected.setdefault(ts, {}).update(fields)
        table.write([chunk([(ts, fields)])], sequence)
    buffer = table.series[7]
    assert len(buffer.chunks) <= JOIN_CHUNKS + 2000 // SMALL_CHUNK_ROWS
    got = table.read(7, 0, 10_000)
    assert got is not None
    assert as_rows(got) == expected
    big = MemTable()  # bulk chunks are kept as written, never copied into one another
    for sequence in range(1, 2 * JOIN_CHUNKS):
        rows = [(sequence * 1000 + i, {"a": float(i)}) for i in range(SMALL_CHUNK_ROWS)]
        big.write([chunk(rows)], sequence)
    assert len(big.series[7].chunks) == 2 * JOIN_CHUNKS - 1


def test_string_codes_chunks_read_as_lists_and_flush_as_codes() -> None:
    """Chunks whose strings are StringCodes (a direct import's) answer reads as the same writes
    with lists do, overwrites and absent values included; a snapshot of codes-only chunks keeps
    codes, and one with a list chunk, or with more words than rows, is a list."""
    from rusts.storage.columns import StringCodes

    def write(coded: bool, rows: list[tuple[int, str | None]], words: list[str]) -> SeriesData:
        present = np.array([value is not None for _, value in rows])
        codes = np.array([words.index(value) if value is not None else 0 for _, value in rows], dtype=np.int64)
        values: object = StringCodes(words, codes) if coded else [words[c] for c in codes.tolist()]
        column = Column(KIND_STRING, values, None if present.all() else present)
        return SeriesData(7, np.array([t for t, _ in rows], dtype=np.int64), {"s": column})

    first_words, second_words = ["", "N", "Y"], ["Y", "N", "", "M"]
    writes = [
        ([(t, "N" if t % 3 else "Y") for t in range(0, 40, 2)], first_words),
        ([(t, None if t % 5 == 0 else "M") for t in range(1, 30, 3)], second_words),
        ([(t, "Y") for t in range(0, 12, 4)], second_words),  # overwrites: the later value wins
    ]
    tables = {}
    for coded in (False, True):
        table = MemTable()
        for sequence, (rows, words) in enumerate(writes, 1):
            table.write([write(coded, rows, words)], sequence)
        tables[coded] = table
    listed, coded_read = tables[False].read(7, 0, 100), tables[True].read(7, 0, 100)
    assert coded_read is not None and listed is not None
    assert isinstance(coded_read.columns["s"].values, list)
    assert as_rows(coded_read) == as_rows(listed)
    snapshot = tables[True].series[7].snapshot()
    assert isinstance(snapshot.columns["s"].values, list)  # overwrites resolved: the strings picked per row

    table = MemTable()
    table.write([write(True, [(t, "N") for t in range(10)], first_words)], 1)
    table.write([write(True, [(t, "Y") for t in range(10, 20)], second_words)], 2)
    joined = table.series[7].snapshot().columns["s"].values
    assert isinstance(joined, StringCodes) and joined.strings() == ["N"] * 10 + ["Y"] * 10
    table.write([write(False, [(20, "M")], second_words)], 3)
    assert table.series[7].snapshot().columns["s"].values[-1] == "M"  # a list chunk: lists throughout
    many = MemTable()
    many.write([write(True, [(0, "a")], [f"w{i}" for i in range(50)] + ["a"])], 1)
    many.write([write(True, [(1, "b")], ["b"])], 2)
    assert many.series[7].snapshot().columns["s"].values == ["a", "b"]  # 52 words for 2 rows: a list
