"""Items of a stream made ahead on a helper thread, so making the next overlaps using this one.

Worth it when one side spends its time without the GIL: pyarrow decoding a Parquet batch
(the importer's reader), or pyarrow encoding and compressing a row group (the exporter's
writer, with the windows decoded on the helper thread).
"""

import queue
import threading
from collections.abc import Iterator
from typing import Any, Final

# Items made ahead of the consumer; bounds the memory held in the queue.
PREFETCH: Final = 2


def prefetched(items: Iterator[Any], depth: int = PREFETCH) -> Iterator[Any]:
    """The items of `items`, produced up to `depth` ahead on a helper thread. An exception
    of the producer is raised here at its place in the stream; closing this generator (the
    consumer stopped: Ctrl-C, an error) stops the producer at its next item."""
    ready: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple[int, Any]) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for item in items:
                if not offer((0, item)):
                    return
            offer((1, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            offer((2, exc))

    producer = threading.Thread(target=read, name="rusts-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            state, item = ready.get()
            if state == 1:
                return
            if state == 2:
                raise item
            yield item
    finally:
        stop.set()
