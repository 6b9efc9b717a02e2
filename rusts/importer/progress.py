"""Progress of an import: a bar redrawn in place on a terminal, plain lines every few seconds otherwise,
and a summary at the end."""

import time
from typing import TextIO

from rusts.importer.convert import Skipped

BAR_WIDTH = 24
REDRAW_SECS = 0.2


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1000
    return f"{count:.1f} GB"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Reports rows read and written, rows/s, bytes and an ETA on `stream` (stderr)."""

    def __init__(self, stream: TextIO, total_rows: int | None, total_bytes: int, interval: float) -> None:
        self.stream = stream
        self.total_rows = total_rows
        self.total_bytes = total_bytes
        self.interval = interval
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self._last = self.started
        self._drawn = False

    def update(self, rows: int, written: int, bytes_read: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < (REDRAW_SECS if self.tty else self.interval):
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        rate = rows / elapsed
        done = rows / self.total_rows if self.total_rows else (bytes_read / self.total_bytes if self.total_bytes else 0.0)
        eta = _clock(elapsed * (1 - done) / done) if 0 < done < 1 else "-"
        figures = (
            f"{rows:,} rows read, {written:,} written, {rate:,.0f} rows/s, "
            f"{_size(bytes_read)}/{_size(self.total_bytes)}, ETA {eta}"
        )
        if self.tty:
            filled = int(BAR_WIDTH * min(done, 1.0))
            self.stream.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:4.0%} {figures}\x1b[K")
            self._drawn = True
        else:
            self.stream.write(f"rusts-import: {done:.0%} {figures}\n")
        self.stream.flush()

    def end_line(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False


def summary(state: str, files: int, rows: int, written: int, skipped: Skipped, elapsed: float, unique_time: bool) -> list[str]:
    """The closing lines: what was read, written and skipped (and why), how long it took."""
    rate = written / elapsed if elapsed > 0 else 0.0
    lines = [
        f"rusts-import: {state}: {files} file(s), {rows:,} rows read, {written:,} written, "
        f"{skipped.total():,} skipped in {elapsed:.2f} s ({rate:,.0f} rows/s written)"
    ]
    reasons = [
        (skipped.no_time, "without a timestamp"),
        (skipped.no_fields, "without any field value"),
        (skipped.duplicate, "with a dedup value already stored or seen earlier"),
        (skipped.rejected, "rejected by the database"),
    ]
    for count, why in reasons:
        if count:
            lines.append(f"  skipped {count:,} rows {why}")
    if skipped.same_time and unique_time:
        lines.append(f"  {skipped.same_time:,} rows had the series and time of an earlier row and were moved 1, 2, ... ns later")
    elif skipped.same_time:
        lines.append(
            f"  {skipped.same_time:,} rows had the series and time of an earlier row"
            " and were merged into it, the later values winning (--unique-time keeps every row)"
        )
    return lines
