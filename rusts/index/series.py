"""Series index: SeriesId <-> (measurement, tags, canonical key), persisted append-only.

Ids. A series' id is BLAKE2b-64 of its canonical key (rusts.core.hashing).
If that id is already taken by a *different* key, the new series gets the
first free id among `_alternate_id(key, 1)`, `_alternate_id(key, 2)`, ...
(BLAKE2b-64 of `key NUL attempt` personalised "rusts.collision"), and a
warning is logged. The chosen id is what the file stores, so an id never
changes after restart; readers must take ids from this index, never hash
a key themselves.

Series numbers, and why not BitMap64. The tag index needs sets of series and
cheap AND/OR/NOT. pyroaring 1.x has BitMap64, but SeriesIds are uniform
64-bit hashes: a 64-bit roaring map splits on the high 48 bits, so each id
lands in its own container. Measured here on 1 M ids: BitMap64 takes 22 MB and
0.5 s per intersection, a 32-bit BitMap of dense numbers 230 bytes and 0.03 s.
So each live series also gets a dense u32 *series number*, given in order of
creation, and every bitmap holds numbers; `ids_of` maps a bitmap back to ids
with one numpy gather. Numbers live in memory only: `open` gives the live
series numbers 0..n-1 in file order, so removed series leave no holes after a
restart. Nothing may persist a number; persist ids.

File `series.idx` in the index directory (integers little-endian):

    header, 8 bytes
        0   6   magic b"RTSIDX"
        6   1   version, 1
        7   1   reserved, 0
    frame, repeated to the end of the file
        0   4   payload length n (u32, > 0)
        4   4   CRC32 (zlib) of the payload
        8   n   payload: kind (u8), then by kind:
    kind 1, CREATE: series created, in creation order
        count c (u32), strings s (u32)
        ids              u64[c]
        tag counts       u16[c]
        codes            u32[c + 2 * sum of tag counts]; per series the
                         measurement, then tag key 1, tag value 1, ...
                         as indexes into this frame's string table
        key lengths      u32[c], in UTF-8 bytes
        string lengths   u32[s], in UTF-8 bytes
        keys             the c canonical keys' UTF-8, concatenated
        strings          the string table's UTF-8, concatenated
    kind 2, REMOVE: series removed (delete or drop measurement)
        count c (u32)
        ids              u64[c]

Why a string table: measurements, tag keys and most tag values repeat, so a
frame stores each once and a series is a few u32 codes. Loading decodes only
the distinct strings and the keys; the tag index is grouped from code arrays
by numpy. In memory too, a series' tags are codes into one table of strings.

Writing. `get_or_create` changes memory only; `flush()` (alias `sync()`)
appends one CREATE frame for everything new since the last one and fsyncs.
A removal first frames the creations before it, so the file keeps the order
of events. `rewrite()` replaces the file with the live series only.

Loading. A frame that runs past the end of the file, or fails its CRC while
being the last frame (or followed only by zero bytes), is a torn tail: it is
cut off with a logged warning and the file truncated there. A bad frame
followed by other data, an unknown kind, a frame whose contents contradict
its lengths, or one id given to two live series raise CorruptDataError. A
newer version is refused. The tag index is rebuilt from the live series.

Threads: writers serialise on a lock. `get_or_create` of a known series is
one dict lookup, without the lock; lookups read dicts and lists that writers
publish in a safe order (the id's number before the key's id).
"""

import array
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterable
from hashlib import blake2b
from types import TracebackType
from typing import Final, NamedTuple, TypeVar

import numpy as np
from numpy.typing import NDArray
from pyroaring import BitMap

from rusts.core.errors import CorruptDataError
from rusts.core.hashing import series_id_of_key, series_key
from rusts.index.tags import TagIndex

FILE_NAME: Final = "series.idx"
MAGIC: Final = b"RTSIDX"
VERSION: Final = 1
HEADER: Final = MAGIC + bytes([VERSION, 0])
KIND_CREATE: Final = 1
KIND_REMOVE: Final = 2
MAX_NUMBERS: Final = 1 << 32
MAX_TAGS: Final = 0xFFFF

_FRAME: Final = struct.Struct("<II")
_CREATE_HEAD: Final = struct.Struct("<BII")
_REMOVE_HEAD: Final = struct.Struct("<BI")
_PERSON: Final = b"rusts.collision"
_REWRITE_CHUNK: Final = 65536

_log = logging.getLogger(__name__)
_Scalar = TypeVar("_Scalar", bound=np.generic)


class SeriesEntry(NamedTuple):
    """One live series as the index knows it."""

    series_id: int
    measurement: str
    tags: list[tuple[str, str]]
    key: str
    number: int


def _alternate_id(key: str, attempt: int) -> int:
    """The id tried for `key` on its `attempt`-th collision (attempt >= 1)."""
    data = key.encode("utf-8") + b"\x00" + str(attempt).encode("ascii")
    return int.from_bytes(blake2b(data, digest_size=8, person=_PERSON).digest(), "little")


def _frame(payload: bytes) -> bytes:
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def _encode_texts(texts: list[str]) -> tuple[bytes, bytes]:
    """(u32 UTF-8 lengths, concatenated UTF-8) of `texts`."""
    joined = "".join(texts)
    if joined.isascii():
        return np.fromiter(map(len, texts), dtype="<u4", count=len(texts)).tobytes(), joined.encode("ascii")
    encoded = [text.encode("utf-8") for text in texts]
    return np.fromiter(map(len, encoded), dtype="<u4", count=len(texts)).tobytes(), b"".join(encoded)


def _decode_texts(data: bytes, lengths: NDArray[np.int64], path: str, offset: int) -> list[str]:
    ends = np.cumsum(lengths)
    slices = map(slice, (ends - lengths).tolist(), ends.tolist())
    if data.isascii():
        decoded = data.decode("ascii")
        return list(map(decoded.__getitem__, slices))
    try:
        return [data[part].decode("utf-8") for part in slices]
    except UnicodeDecodeError as error:
        raise CorruptDataError(path, f"CREATE frame has invalid UTF-8: {error}", offset) from None


def _encode_create(
    ids: NDArray[np.uint64], tag_counts: NDArray[np.int64], codes: NDArray[np.uint32], keys: list[str], strings: list[str]
) -> bytes:
    """A CREATE frame; `codes` index the global `strings`, re-coded here to a frame-local table."""
    used, local_codes = np.unique(codes, return_inverse=True)
    key_lengths, key_text = _encode_texts(keys)
    string_lengths, string_text = _encode_texts([strings[code] for code in used.tolist()])
    payload = b"".join(
        (
            _CREATE_HEAD.pack(KIND_CREATE, len(ids), len(used)),
            ids.astype("<u8").tobytes(),
            tag_counts.astype("<u2").tobytes(),
            local_codes.astype("<u4").tobytes(),
            key_lengths,
            string_lengths,
            key_text,
            string_text,
        )
    )
    return _frame(payload)


def _encode_remove(ids: list[int]) -> bytes:
    return _frame(_REMOVE_HEAD.pack(KIND_REMOVE, len(ids)) + np.array(ids, dtype="<u8").tobytes())


class _Loaded:
    """Series read from a file in file order; `positions` maps each live id to its place."""

    def __init__(self) -> None:
        self.ids: list[NDArray[np.uint64]] = []
        self.tag_counts: list[NDArray[np.int64]] = []
        self.codes: list[NDArray[np.int64]] = []
        self.keys: list[str] = []
        self.positions: dict[int, int] = {}
        self.dead: list[int] = []
        self.strings: list[str] = []
        self.string_codes: dict[str, int] = {}

    def intern(self, strings: list[str]) -> NDArray[np.int64]:
        """Global codes of a frame's string table."""
        table = self.string_codes
        missing = [text for text in strings if text not in table] if table else strings
        table.update(zip(missing, range(len(self.strings), len(self.strings) + len(missing))))
        self.strings.extend(missing)
        return np.fromiter(map(table.__getitem__, strings), dtype=np.int64, count=len(strings))


def _decode_create(payload: bytes, loaded: _Loaded, path: str, offset: int) -> None:
    """Append one CREATE payload's series to `loaded`."""
    if len(payload) < _CREATE_HEAD.size:
        raise CorruptDataError(path, "CREATE frame too short", offset)
    _, count, string_count = _CREATE_HEAD.unpack_from(payload, 0)
    at = _CREATE_HEAD.size
    if len(payload) < at + 14 * count + 4 * string_count:
        raise CorruptDataError(path, f"CREATE frame too short for {count} series", offset)
    ids = np.frombuffer(payload, dtype="<u8", count=count, offset=at).astype(np.uint64)
    tag_counts = np.frombuffer(payload, dtype="<u2", count=count, offset=at + 8 * count).astype(np.int64)
    at += 10 * count
    code_count = count + 2 * int(tag_counts.sum())
    if len(payload) < at + 4 * code_count + 4 * count + 4 * string_count:
        raise CorruptDataError(path, "CREATE frame too short for its codes", offset)
    codes = np.frombuffer(payload, dtype="<u4", count=code_count, offset=at).astype(np.int64)
    at += 4 * code_count
    key_lengths = np.frombuffer(payload, dtype="<u4", count=count, offset=at).astype(np.int64)
    string_lengths = np.frombuffer(payload, dtype="<u4", count=string_count, offset=at + 4 * count).astype(np.int64)
    at += 4 * (count + string_count)
    key_bytes, string_bytes = int(key_lengths.sum()), int(string_lengths.sum())
    if at + key_bytes + string_bytes != len(payload) or (code_count and int(codes.max()) >= string_count):
        raise CorruptDataError(path, "CREATE frame contents do not match its lengths", offset)
    keys = _decode_texts(payload[at : at + key_bytes], key_lengths, path, offset)
    strings = _decode_texts(payload[at + key_bytes :], string_lengths, path, offset)
    base = len(loaded.keys)
    before = len(loaded.positions)
    loaded.positions.update(zip(ids.tolist(), range(base, base + count)))
    if len(loaded.positions) != before + count:
        raise CorruptDataError(path, "a series id is given to two live series", offset)
    loaded.ids.append(ids)
    loaded.tag_counts.append(tag_counts)
    loaded.codes.append(loaded.intern(strings)[codes])
    loaded.keys.extend(keys)


def _decode_remove(payload: bytes, loaded: _Loaded, path: str, offset: int) -> None:
    if len(payload) < _REMOVE_HEAD.size:
        raise CorruptDataError(path, "REMOVE frame too short", offset)
    _, count = _REMOVE_HEAD.unpack_from(payload, 0)
    if len(payload) != _REMOVE_HEAD.size + 8 * count:
        raise CorruptDataError(path, f"REMOVE frame length does not match {count} ids", offset)
    for series_id in np.frombuffer(payload, dtype="<u8", count=count, offset=_REMOVE_HEAD.size).tolist():
        position = loaded.positions.pop(series_id, None)
        if position is not None:
            loaded.dead.append(position)


_DECODERS: Final = {KIND_CREATE: _decode_create, KIND_REMOVE: _decode_remove}


def _is_torn_tail(data: bytes, start: int, end: int) -> bool:
    """A bad frame at `start` is a torn write when nothing real follows it."""
    return end >= len(data) or not data[start:].strip(b"\x00")


def _read_file(path: str) -> tuple[_Loaded, int]:
    """Everything in `path`, and the length of its valid prefix."""
    with open(path, "rb") as file:
        data = file.read()
    if len(data) < len(HEADER):
        if data != HEADER[: len(data)]:
            raise CorruptDataError(path, "not a series index file (short, bad magic)", 0)
        return _Loaded(), 0
    if data[:6] != MAGIC:
        raise CorruptDataError(path, f"not a series index file: magic {data[:6]!r}", 0)
    if data[6] != VERSION:
        newer = " is newer than this reader" if data[6] > VERSION else " is unknown"
        raise CorruptDataError(path, f"series index version {data[6]}{newer} (reader {VERSION})", 6)
    loaded = _Loaded()
    position = len(HEADER)
    while position + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, position)
        end = position + _FRAME.size + length
        payload = data[position + _FRAME.size : end]
        if length == 0 or end > len(data) or zlib.crc32(payload) != crc:
            if _is_torn_tail(data, position, end):
                break
            raise CorruptDataError(path, "series index frame fails its CRC", position)
        decode = _DECODERS.get(payload[0])
        if decode is None:
            raise CorruptDataError(path, f"unknown series index frame kind {payload[0]}", position)
        decode(payload, loaded, path, position)
        position = end
    return loaded, position


def _fsync_directory(directory: str) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_new_file(path: str, frames: Iterable[bytes]) -> None:
    with open(path, "wb") as file:
        file.write(HEADER)
        for frame in frames:
            file.write(frame)
        file.flush()
        os.fsync(file.fileno())


def _grown(values: NDArray[_Scalar], needed: int) -> NDArray[_Scalar]:
    if needed <= len(values):
        return values
    grown = np.zeros(max(needed, len(values) * 2), dtype=values.dtype)
    grown[: len(values)] = values
    return grown


class SeriesIndex:
    """All series of one database: ids, keys, measurements and tags; owns the tag index `tags`.

    Per series number n: `_keys[n]` (None once removed), `_id_by_number[n]`,
    and its string codes (measurement, k1, v1, ...) at
    `_codes[_code_starts[n]:_code_starts[n + 1]]` into `_strings`.
    """

    def __init__(self, directory: str, loaded: _Loaded, file_size: int) -> None:
        """Use `SeriesIndex.open`."""
        self.directory = directory
        self.path = os.path.join(directory, FILE_NAME)
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        ids = np.concatenate(loaded.ids) if loaded.ids else np.zeros(0, dtype=np.uint64)
        tag_counts = np.concatenate(loaded.tag_counts) if loaded.tag_counts else np.zeros(0, dtype=np.int64)
        codes = np.concatenate(loaded.codes) if loaded.codes else np.zeros(0, dtype=np.int64)
        keys = loaded.keys
        numbers = loaded.positions
        if loaded.dead:
            live = np.ones(len(keys), dtype=np.bool_)
            live[loaded.dead] = False
            codes = codes[np.repeat(live, 1 + 2 * tag_counts)]
            ids, tag_counts = ids[live], tag_counts[live]
            keys = [key for key, alive in zip(keys, live.tolist()) if alive]
            numbers = dict(zip(ids.tolist(), range(len(keys))))
        count = len(keys)
        self._strings = loaded.strings
        self._string_codes = loaded.string_codes
        self._keys: list[str | None] = list(keys)
        self._numbers: dict[int, int] = numbers
        self._key_ids: dict[str, int] = dict(zip(keys, ids.tolist()))
        if len(self._key_ids) != count:
            raise CorruptDataError(self.path, "a series key has two live ids")
        self._id_by_number: NDArray[np.uint64] = np.zeros(max(1024, 2 * count), dtype=np.uint64)
        self._id_by_number[:count] = ids
        self._code_starts: NDArray[np.int64] = np.zeros(max(1025, 2 * count + 1), dtype=np.int64)
        np.cumsum(1 + 2 * tag_counts, out=self._code_starts[1 : count + 1])
        self._codes: NDArray[np.int64] = _grown(codes, max(4096, 2 * len(codes)))
        starts = self._code_starts[:count]
        pair_owners = np.repeat(np.arange(count, dtype=np.int64), tag_counts)
        pair_starts = np.repeat(starts + 1 - 2 * np.cumsum(np.concatenate(([0], tag_counts[:-1]))), tag_counts)
        pair_at = pair_starts + 2 * np.arange(len(pair_owners), dtype=np.int64)
        self.tags = TagIndex.build(self._strings, codes[starts], pair_owners, codes[pair_at], codes[pair_at + 1])
        self._framed_upto = count
        self._out = bytearray()
        self._file_size = file_size
        self._file = open(self.path, "ab")

    @classmethod
    def open(cls, directory: str) -> "SeriesIndex":
        """Load (or create) the index kept in `directory`."""
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, FILE_NAME)
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            _write_new_file(path, ())
            _fsync_directory(directory)
        loaded, valid = _read_file(path)
        size = os.path.getsize(path)
        if valid < len(HEADER):
            _log.warning("%s: torn file header (%d bytes), starting an empty index", path, size)
            _write_new_file(path, ())
            valid = len(HEADER)
        elif valid < size:
            _log.warning("%s: torn tail of %d bytes at offset %d cut off", path, size - valid, valid)
            with open(path, "r+b") as file:
                file.truncate(valid)
                file.flush()
                os.fsync(file.fileno())
        return cls(directory, loaded, valid)

    # -- writes -----------------------------------------------------------------

    def get_or_create(self, measurement: str, sorted_tags: list[tuple[str, str]], key: str | None = None) -> int:
        """The id of the series, created if new. `sorted_tags` sorted by key, keys unique.

        `key` may pass the canonical key when the caller already has it
        (rusts.api.line_protocol.SeriesBatch.key); then a known series costs one
        dict lookup.
        """
        if key is None:
            key = series_key(measurement, sorted_tags)
        series_id = self._key_ids.get(key)
        if series_id is not None:
            return series_id
        return self._create(measurement, sorted_tags, key)

    def _create(self, measurement: str, sorted_tags: list[tuple[str, str]], key: str) -> int:
        for (left, _), (right, _) in zip(sorted_tags, sorted_tags[1:]):
            if not left < right:
                raise ValueError(f"tags of {key!r} must be sorted by key with unique keys: {left!r}, {right!r}")
        if len(sorted_tags) > MAX_TAGS:
            raise ValueError(f"series {key[:100]!r} has {len(sorted_tags)} tags, at most {MAX_TAGS} are allowed")
        if key != series_key(measurement, sorted_tags):
            raise ValueError(f"key {key!r} is not the canonical key of its measurement and tags")
        with self._lock:
            series_id = self._key_ids.get(key)
            if series_id is not None:
                return series_id
            series_id = series_id_of_key(key)
            attempt = 0
            while series_id in self._numbers:
                attempt += 1
                series_id = _alternate_id(key, attempt)
            if attempt:
                _log.warning("series id collision: %r gets id %#018x after %d attempts", key, series_id, attempt)
            number = len(self._keys)
            if number >= MAX_NUMBERS:
                raise OverflowError(f"{self.path}: more than {MAX_NUMBERS} series created since start; restart")
            self._append_locked(number, series_id, measurement, sorted_tags, key)
            return series_id

    def _append_locked(
        self, number: int, series_id: int, measurement: str, sorted_tags: list[tuple[str, str]], key: str
    ) -> None:
        """Store a new series; readers find it once `_key_ids` has it, so that comes last."""
        texts = [measurement]
        for tag_key, tag_value in sorted_tags:
            texts.append(tag_key)
            texts.append(tag_value)
        table = self._string_codes
        for text in texts:
            if text not in table:
                table[text] = len(self._strings)
                self._strings.append(text)
        # Grown copies are swapped in whole, so a reader holding the old array still reads valid ids.
        self._id_by_number = _grown(self._id_by_number, number + 1)
        self._code_starts = _grown(self._code_starts, number + 2)
        start = int(self._code_starts[number])
        self._codes = _grown(self._codes, start + len(texts))
        self._codes[start : start + len(texts)] = [table[text] for text in texts]
        self._code_starts[number + 1] = start + len(texts)
        self._id_by_number[number] = series_id
        self._keys.append(key)
        self.tags.add(number, measurement, sorted_tags)
        self._numbers[series_id] = number
        self._key_ids[key] = series_id

    def _series_texts(self, number: int) -> tuple[str, list[tuple[str, str]]]:
        """Measurement and tags of a series number (live or not)."""
        strings = self._strings
        texts = [strings[code] for code in self._codes[self._code_starts[number] : self._code_starts[number + 1]].tolist()]
        return texts[0], list(zip(texts[1::2], texts[2::2]))

    def _encode_numbers(self, numbers: NDArray[np.int64]) -> bytes:
        """A CREATE frame for these live series numbers."""
        starts, ends = self._code_starts[numbers], self._code_starts[numbers + 1]
        lengths = ends - starts
        at = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)
        keys = [self._keys[number] or "" for number in numbers.tolist()]
        codes = self._codes[at].astype(np.uint32)
        return _encode_create(self._id_by_number[numbers], (lengths - 1) // 2, codes, keys, self._strings)

    def _frame_pending_locked(self) -> None:
        """Encode the series created since the last CREATE frame. Holds `_lock`."""
        start, stop = self._framed_upto, len(self._keys)
        if start == stop:
            return
        self._out += self._encode_numbers(np.arange(start, stop, dtype=np.int64))
        self._framed_upto = stop

    def remove(self, series_ids: Iterable[int]) -> int:
        """Forget these series (unknown ids are skipped); returns how many were removed."""
        with self._lock:
            self._frame_pending_locked()
            removed: list[int] = []
            for series_id in series_ids:
                number = self._numbers.get(series_id)
                if number is None:
                    continue
                measurement, tags = self._series_texts(number)
                self.tags.remove(number, measurement, tags)
                self._forget_locked(series_id, number)
                removed.append(series_id)
            if removed:
                self._out += _encode_remove(removed)
            return len(removed)

    def drop_measurement(self, measurement: str) -> int:
        """Forget every series of `measurement`; returns how many there were."""
        with self._lock:
            self._frame_pending_locked()
            numbers = self.tags.drop_measurement(measurement)
            ids = self._id_by_number[np.frombuffer(numbers.to_array(), dtype=np.uint32)].tolist()
            for series_id, number in zip(ids, numbers):
                self._forget_locked(series_id, number)
            if ids:
                self._out += _encode_remove(ids)
            return len(ids)

    def _forget_locked(self, series_id: int, number: int) -> None:
        key = self._keys[number]
        if key is None:
            raise AssertionError("BUG: a live series has no key")
        del self._key_ids[key]
        del self._numbers[series_id]
        self._keys[number] = None

    def flush(self) -> None:
        """Append everything new to the file and fsync it."""
        with self._io_lock:
            with self._lock:
                self._frame_pending_locked()
                out = bytes(self._out)
                self._out.clear()
            if not out:
                return
            try:
                self._file.write(out)
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError:
                # Cut a partial write off, so later frames do not follow a torn one, and keep the frames.
                with self._lock:
                    self._out[:0] = out
                self._file.close()
                os.truncate(self.path, self._file_size)
                self._file = open(self.path, "ab")
                raise
            self._file_size += len(out)

    sync = flush

    def rewrite(self) -> None:
        """Replace the file by one holding only the live series (after many removals)."""
        with self._io_lock, self._lock:
            live = np.array(sorted(self._numbers.values()), dtype=np.int64)
            frames = [
                self._encode_numbers(live[start : start + _REWRITE_CHUNK])
                for start in range(0, len(live), _REWRITE_CHUNK)
            ]
            temporary = self.path + ".tmp"
            _write_new_file(temporary, frames)
            self._file.close()
            os.replace(temporary, self.path)
            _fsync_directory(self.directory)
            self._file = open(self.path, "ab")
            self._file_size = os.path.getsize(self.path)
            self._out.clear()
            self._framed_upto = len(self._keys)

    def close(self) -> None:
        self.flush()
        self._file.close()

    def __enter__(self) -> "SeriesIndex":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- reads ------------------------------------------------------------------

    def __len__(self) -> int:
        """Live series."""
        return len(self._numbers)

    def id_of(self, key: str) -> int | None:
        return self._key_ids.get(key)

    def __contains__(self, series_id: object) -> bool:
        return series_id in self._numbers

    def lookup(self, series_id: int) -> SeriesEntry | None:
        """The series with this id, or None."""
        number = self._numbers.get(series_id)
        if number is None:
            return None
        key = self._keys[number]
        if key is None:
            return None  # removed while we looked
        measurement, tags = self._series_texts(number)
        return SeriesEntry(series_id, measurement, tags, key, number)

    def measurements(self) -> list[str]:
        return self.tags.measurements()

    def series_of_measurement(self, measurement: str) -> BitMap:
        """Series numbers of the measurement (see `ids_of`)."""
        return self.tags.all_series(measurement)

    def ids_of(self, numbers: BitMap) -> NDArray[np.uint64]:
        """The series ids of a bitmap of series numbers, in number order."""
        ids_by_number = self._id_by_number  # a writer may swap in a grown copy; this one stays valid
        result: NDArray[np.uint64] = ids_by_number[np.frombuffer(numbers.to_array(), dtype=np.uint32)]
        return result

    def number_of(self, series_id: int) -> int | None:
        return self._numbers.get(series_id)

    def numbers_of(self, series_ids: Iterable[int]) -> BitMap:
        """The bitmap of series numbers of these ids; unknown ids are skipped."""
        numbers = self._numbers
        found = [number for number in map(numbers.get, series_ids) if number is not None]
        return BitMap(array.array("I", found))
