"""Hinted handoff: durable per-node hint logs; replay in order; kill -9 never loses an appended hint and never
hands out one whose acknowledgement was recorded."""

import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from rusts.cluster.handoff import DELETE_KIND, HEADER, Hint, HintStore, HintStoreFullError
from rusts.core.errors import CorruptDataError

PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


def body(i: int) -> bytes:
    return f"cpu,host=h{i % 5} v={i}i {i}\n".encode() * (1 + i % 3)


def test_append_pending_ack_and_reopen(tmp_path: Path) -> None:
    store = HintStore(str(tmp_path / "hints"))
    assert [store.append("n1", i % 4, body(i), 1000) for i in range(1, 6)] == [1, 2, 3, 4, 5]
    assert store.append("node two/ü", 9, b"x 1\n") == 1
    assert [(h.sequence, h.shard, h.multiplier, h.body) for h in store.pending("n1", 2)] == [(1, 1, 1000, body(1)), (2, 2, 1000, body(2))]
    store.ack("n1", 3)
    assert [h.sequence for h in store.pending("n1")] == [4, 5]
    assert store.pending_counts() == {"n1": (2, len(body(4)) + len(body(5))), "node two/ü": (1, 4)}
    with pytest.raises(ValueError, match="cannot acknowledge hint 9: the last hint appended is 5"):
        store.ack("n1", 9)
    store.close()
    again = HintStore(str(tmp_path / "hints"))
    assert [h.sequence for h in again.pending("n1")] == [4, 5]
    assert [h.body for h in again.pending("node two/ü")] == [b"x 1\n"]
    again.ack("n1", 5)
    assert again.pending("n1") == [] and sorted(os.listdir(tmp_path / "hints")) == ["n1.acked", "~" + "node two/ü".encode().hex() + ".hints"]
    assert again.append("n1", 0, b"y 2\n") == 6  # sequences are never reused
    again.close()
    assert [h.sequence for h in HintStore(str(tmp_path / "hints")).pending("n1")] == [6]


def test_append_many_is_one_batch_in_order(tmp_path: Path) -> None:
    store = HintStore(str(tmp_path))
    assert store.append("n1", 0, b"a 1\n") == 1
    assert store.append_many("n1", [(3, b"b 2\n", 1), (4, b"c 3\n", 1000)]) == [2, 3]
    assert store.append_many("n1", []) == []
    with pytest.raises(ValueError, match="hint out of range: shard -1"):
        store.append_many("n1", [(5, b"d", 1), (-1, b"e", 1)])
    store.close()
    assert [(h.sequence, h.shard, h.multiplier, h.body) for h in HintStore(str(tmp_path)).pending("n1")] == [
        (1, 0, 1, b"a 1\n"), (2, 3, 1, b"b 2\n"), (3, 4, 1000, b"c 3\n")
    ]


def test_deliver_stops_at_the_first_refusal(tmp_path: Path) -> None:
    store = HintStore(str(tmp_path))
    for i in range(1, 8):
        store.append("n2", 0, body(i))
    seen: list[int] = []

    def send(hint: Hint) -> bool:
        seen.append(hint.sequence)
        return hint.sequence != 4

    assert store.deliver("n2", send, batch=3) == 3
    assert seen == [1, 2, 3, 4]
    assert [h.sequence for h in store.pending("n2")] == [4, 5, 6, 7]
    assert store.deliver("n2", lambda hint: True, batch=3) == 4
    assert store.pending("n2") == [] and store.pending_counts() == {}


def test_torn_tail_is_cut_and_corruption_is_named(tmp_path: Path) -> None:
    store = HintStore(str(tmp_path))
    for i in range(1, 4):
        store.append("n1", 1, body(i))
    store.close()
    log = tmp_path / "n1.hints"
    whole = log.read_bytes()
    log.write_bytes(whole + whole[4:30])  # half a record, as a crash mid-append leaves
    assert [h.sequence for h in HintStore(str(tmp_path)).pending("n1")] == [1, 2, 3]
    assert log.read_bytes() == whole
    broken = bytearray(whole)
    broken[len(HEADER) + 30] ^= 0xFF  # inside the first record's body, with records after it
    log.write_bytes(bytes(broken))
    with pytest.raises(CorruptDataError, match=r"/n1\.hints at offset 4: hint record fails its checksum"):
        HintStore(str(tmp_path))
    log.write_bytes(b"RHH\x07")
    with pytest.raises(CorruptDataError, match="hint log version 7 is newer than this release reads"):
        HintStore(str(tmp_path))


def test_deletes_queue_in_order_with_writes_and_version_1_logs_are_read(tmp_path: Path) -> None:
    store = HintStore(str(tmp_path))
    store.append("n1", 0, b"a 1\n", 1, accepted=50)
    assert store.append_delete("n1", 2, b"\x81\xa4drop\xc3", accepted=60) == 2
    store.append("n1", 0, b"a 2\n", 1000, accepted=70)
    assert store.heads() == {"n1": 50}
    store.close()
    assert (tmp_path / "n1.hints").read_bytes()[:4] == b"RHH\x02"
    again = HintStore(str(tmp_path))
    assert [(h.sequence, h.shard, h.is_delete, h.accepted) for h in again.pending("n1")] == [
        (1, 0, False, 50), (2, 2, True, 60), (3, 0, False, 70)]
    assert again.pending("n1")[1].multiplier == DELETE_KIND
    again.ack("n1", 2)
    assert again.heads() == {"n1": 70}
    again.close()
    # A log a version 1 release wrote (writes only, no accepted time) is rewritten as version 2 on open.
    (tmp_path / "old").mkdir()
    old = tmp_path / "old" / "n2.hints"
    records = b""
    for sequence, shard, line in ((1, 0, b"x 1\n"), (2, 1, b"y 2\n")):
        fixed = struct.pack("<QII", sequence, shard, 1)
        records += struct.pack("<II", len(line), zlib.crc32(line, zlib.crc32(fixed))) + fixed + line
    old.write_bytes(b"RHH\x01" + records)
    legacy = HintStore(str(tmp_path / "old"))
    assert old.read_bytes()[:4] == b"RHH\x02"
    assert [(h.sequence, h.shard, h.body, h.accepted) for h in legacy.pending("n2")] == [(1, 0, b"x 1\n", 0), (2, 1, b"y 2\n", 0)]
    legacy.append("n2", 1, b"b 3\n")
    legacy.close()
    assert [h.sequence for h in HintStore(str(tmp_path / "old")).pending("n2")] == [1, 2, 3]


def test_the_bound_refuses_whole_batches_and_marks_the_node_for_resync(tmp_path: Path) -> None:
    store = HintStore(str(tmp_path), max_bytes_per_node=100)
    assert store.append_many("n1", [(0, b"x" * 40, 1), (1, b"y" * 40, 1)]) == [1, 2]
    with pytest.raises(HintStoreFullError, match=r"hints for n1 would pass the bound: 80 bytes pending \+ 30 > 100"):
        store.append_many("n1", [(2, b"z" * 10, 1), (1, b"w" * 20, 1)])
    assert [h.sequence for h in store.pending("n1")] == [1, 2]  # what was stored stays, in order
    assert store.append("n3", 0, b"v" * 100) == 1  # the bound is per node
    marks = store.resync_needed()
    assert list(marks) == ["n1"] and marks["n1"].shards == {1, 2} and marks["n1"].missed == 2
    store.ack("n1", 2)
    assert store.append("n1", 2, b"z" * 90) == 3  # room again once delivered; the mark stays until cleared
    store.close()
    again = HintStore(str(tmp_path), max_bytes_per_node=100)
    assert again.resync_needed()["n1"].shards == {1, 2}
    assert again.clear_resync("n1") and not again.clear_resync("n1")
    assert again.resync_needed() == {} and HintStore(str(tmp_path)).resync_needed() == {}


CHILD = textwrap.dedent(
    """
    import sys
    from rusts.cluster.handoff import HintStore
    sys.path.insert(0, sys.argv[2])
    from test_cluster_handoff import body
    store = HintStore(sys.argv[1])
    i = store.last_sequence("n1")
    while True:
        i += 1
        sequence = store.append("n1", i % 7, body(i))
        assert sequence == i, (sequence, i)
        print("A", sequence, flush=True)
        if i % 5 == 0:
            store.ack("n1", i - 2)
            print("K", i - 2, flush=True)
    """
)


def test_kill_9_keeps_every_appended_hint_and_no_acknowledged_one(tmp_path: Path) -> None:
    rng = random.Random(4)
    directory = str(tmp_path / "hints")
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    appended: set[int] = set()
    acked = 0
    for _ in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, directory, str(Path(__file__).parent)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        assert child.stdout is not None
        wanted = rng.randint(30, 120)
        lines = 0
        while lines < wanted:
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else ""
            kind, number = line.split()
            if kind == "A":
                appended.add(int(number))
            else:
                acked = max(acked, int(number))
            lines += 1
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        if child.stderr:
            child.stderr.close()
        store = HintStore(directory)
        pending = store.pending("n1")
        sequences = [h.sequence for h in pending]
        watermark = store.acknowledged("n1")
        assert acked <= watermark <= max(appended) - 2, "the recorded acknowledgement is not one the child made"
        assert all(s > acked for s in sequences), "an acknowledged hint came back"
        assert sequences == list(range(watermark + 1, store.last_sequence("n1") + 1)), "hints not contiguous after the watermark"
        assert {s for s in appended if s > watermark} <= set(sequences), "an appended hint was lost"
        assert all(h.body == body(h.sequence) and h.shard == h.sequence % 7 for h in pending)
        store.close()
    final = HintStore(directory)
    delivered: list[int] = []
    final.deliver("n1", lambda hint: delivered.append(hint.sequence) is None)
    assert delivered and delivered == sorted(delivered) and min(delivered) > acked
    assert final.pending("n1") == [] and HintStore(directory).pending("n1") == []
