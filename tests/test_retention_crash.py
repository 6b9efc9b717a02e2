"""kill -9 during a move to the cold tier or a partition drop: a real child process kills itself
(SIGKILL) at its n-th file-system step (fsync, rename, replace, unlink, remove, rmdir), for every
n until the step completes. The next open finds exactly one readable copy of the partition
(after a move) or the whole partition or none of it (after a drop), never a part, never two.
"""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

import rusts
from rusts.api.line_protocol import engine_parser
from rusts.storage.engine import EngineOptions, StorageEngine

HOUR = 3_600_000_000_000
DAY0 = 20_000 * 24 * HOUR
PACKAGE_ROOT = str(Path(rusts.__file__).parent.parent)

CHILD = textwrap.dedent(
    """
    import os, shutil, signal, sys
    from rusts.api.line_protocol import engine_parser
    from rusts.storage.engine import EngineOptions, StorageEngine

    data, cold, action, start, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    engine = StorageEngine.open(EngineOptions(data, cold_dir=cold, partition_duration_ns=3_600_000_000_000), engine_parser)
    steps = [0]

    def counted(original):
        def step(*args, **kwargs):
            steps[0] += 1
            if steps[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        return step

    for name in ("fsync", "rename", "replace", "unlink", "remove", "rmdir"):
        setattr(os, name, counted(getattr(os, name)))
    if action == "cold":
        engine.set_tier(start, "cold")
    else:
        engine.drop_partition(start)
    print("completed", steps[0], flush=True)
    os._exit(0)
    """
)


def options(data: Path, cold: Path) -> EngineOptions:
    return EngineOptions(str(data), cold_dir=str(cold), partition_duration_ns=HOUR)


def contents(engine: StorageEngine) -> dict[tuple[int, str], list[float]]:
    """Every series' every column, as plain lists."""
    out = {}
    for measurement in engine.measurements():
        for series_id in engine.series_ids(measurement):
            data = engine.read_series(series_id)
            if data is None:
                continue
            out[(series_id, "time")] = data.timestamps.tolist()
            for name, column in data.columns.items():
                out[(series_id, name)] = np.asarray(column.values).tolist()
    return out


def run_child(data: Path, cold: Path, action: str, kill_at: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(data), str(cold), action, str(DAY0), str(kill_at)],
        capture_output=True, text=True, env=env, timeout=120,
    )


def copies(data: Path, cold: Path) -> list[Path]:
    """Every directory of the first partition in either root (leftovers included)."""
    found = []
    for root in (data / "partitions", cold / "partitions"):
        if root.exists():
            found += [root / name for name in os.listdir(root) if name.endswith(f"p{DAY0}_{HOUR}")]
    return found


def test_kill_9_at_every_step_of_a_move_to_cold_leaves_one_copy(tmp_path: Path) -> None:
    engine = StorageEngine.open(options(tmp_path / "base", tmp_path / "base-cold"), engine_parser)
    rng = np.random.default_rng(3)
    for lo, hi in [(0, 30), (30, 120)]:
        lines = [f"m,host=h{i % 3} v={rng.normal():.3f},n={i}i {DAY0 + i * 60_000_000_000}" for i in range(lo, hi)]
        engine.write_line_protocol("\n".join(lines).encode())
        engine.flush()
    engine.delete(engine.series_ids("m")[:1], DAY0, DAY0 + 10 * 60_000_000_000)  # a tombstone the move must honour
    expected = contents(engine)
    engine.close()

    crashes = 0
    for kill_at in range(1, 200):
        trial = tmp_path / f"trial{kill_at}"
        data, cold = trial / "data", trial / "cold"
        shutil.copytree(tmp_path / "base", data)
        done = run_child(data, cold, "cold", kill_at)
        assert done.returncode in (0, -signal.SIGKILL), done.stderr
        engine = StorageEngine.open(options(data, cold), engine_parser)
        assert contents(engine) == expected, f"killed at step {kill_at}"
        assert engine.tier_of(DAY0) in ("hot", "cold")
        assert len(copies(data, cold)) == 1, (kill_at, copies(data, cold))
        assert len(engine.partitions) == 2
        engine.close()
        shutil.rmtree(trial)
        if done.returncode == 0:
            assert "completed" in done.stdout
            break
        crashes += 1
    else:
        raise AssertionError("the move never completed")
    assert crashes >= 10  # every fsync, rename and unlink of the move was a crash point


def test_kill_9_at_every_step_of_a_drop_leaves_all_or_nothing(tmp_path: Path) -> None:
    engine = StorageEngine.open(options(tmp_path / "base", tmp_path / "base-cold"), engine_parser)
    lines = [f"m,host=h{i % 3} v={i},n={i}i {DAY0 + i * 60_000_000_000}" for i in range(120)]
    engine.write_line_protocol("\n".join(lines).encode())
    engine.flush()
    engine.set_tier(DAY0, "cold")  # drop from the cold root
    before = contents(engine)
    engine.close()
    after = {
        key: [v for t, v in zip(before[(key[0], "time")], values) if t >= DAY0 + HOUR]
        for key, values in before.items()
    }

    outcomes = set()
    for kill_at in range(1, 100):
        trial = tmp_path / f"trial{kill_at}"
        data, cold = trial / "data", trial / "cold"
        shutil.copytree(tmp_path / "base", data)
        shutil.copytree(tmp_path / "base-cold", cold)
        done = run_child(data, cold, "drop", kill_at)
        assert done.returncode in (0, -signal.SIGKILL), done.stderr
        engine = StorageEngine.open(options(data, cold), engine_parser)
        found = contents(engine)
        assert found in (before, after), f"killed at step {kill_at}"
        outcomes.add("kept" if found == before else "dropped")
        assert len(copies(data, cold)) == (1 if found == before else 0)
        engine.close()
        shutil.rmtree(trial)
        if done.returncode == 0:
            break
    else:
        raise AssertionError("the drop never completed")
    assert outcomes == {"kept", "dropped"}
