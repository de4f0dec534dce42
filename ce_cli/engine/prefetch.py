"""Read-ahead: decode the next record batches on a background thread while this one is computed.

pyarrow releases the GIL while it reads and decodes, so reading overlaps with the NumPy work.
The items alive at once are bounded, errors reach the consumer in order, and the reader thread
stops as soon as the consumer does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` in order, producing up to ``depth`` ahead on another thread.

    The reader takes a slot before it produces an item and the consumer gives it back when it
    asks for the next one, so at most ``depth + 1`` items exist at once: the one being computed
    and ``depth`` ahead, the one being decoded included. (A queue of ``depth`` held one more:
    the reader decoded an item and then waited, holding it, for room in the queue; on 100
    float32 columns each batch is 16 MiB.)
    """
    slots = threading.Semaphore(depth + 1)
    ready: queue.SimpleQueue[object] = queue.SimpleQueue()
    stop = threading.Event()

    def produce() -> None:
        try:
            while True:
                while not slots.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                item = next(items, _DONE)
                ready.put(item)
                if item is _DONE:
                    return
                del item  # held by the queue (and then the consumer) alone
        except BaseException as error:  # handed to the consumer, raised there
            ready.put(error)

    thread = threading.Thread(target=produce, name="ce-eval-reader", daemon=True)
    thread.start()
    try:
        while True:
            got = ready.get()
            if got is _DONE:
                return
            if isinstance(got, BaseException):
                raise got
            yield got  # type: ignore[misc]
            del got  # the consumer asks for the next one: it is done with this one
            slots.release()
    finally:
        stop.set()
        while thread.is_alive():
            try:
                ready.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
