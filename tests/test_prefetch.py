"""The read-ahead: items in order, the next one produced while this one is computed, and never
more than the one being computed and ``depth`` ahead alive at once."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from ce_cli.engine.prefetch import prefetch


class Item:
    def __init__(self, index: int) -> None:
        self.index = index


class Source:
    """Counts the items alive (made and not yet collected) each time one is made."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.alive: weakref.WeakSet[Item] = weakref.WeakSet()
        self.most_alive = 0
        self.started: list[threading.Event] = [threading.Event() for _ in range(n)]

    def __iter__(self) -> Iterator[Item]:
        for i in range(self.n):
            self.started[i].set()
            gc.collect()  # only references count, not garbage waiting for a collection
            item = Item(i)
            self.alive.add(item)
            self.most_alive = max(self.most_alive, len(self.alive))
            yield item
            del item


@pytest.mark.parametrize("depth", [1, 2])
def test_items_come_in_order_with_at_most_depth_ahead_alive(depth: int) -> None:
    source = Source(8)
    stream = prefetch(iter(source), depth=depth)
    seen = []
    for _ in range(source.n):
        item = next(stream)  # "computed" while the reader runs ahead
        index = item.index
        seen.append(index)
        if index + depth < source.n:
            assert source.started[index + depth].wait(10)  # the reader ran ahead...
        if index + depth + 1 < source.n:
            source.started[index + depth + 1].wait(0.2)  # ...and no further, if it is bounded
        del item  # done: nothing of the consumer's holds it while it asks for the next one
    assert next(stream, None) is None
    assert seen == list(range(source.n))
    # The one being computed and ``depth`` ahead (a queue of ``depth`` held one more).
    assert source.most_alive <= depth + 1


def test_the_next_item_is_produced_while_this_one_is_computed() -> None:
    source = Source(5)
    for item in prefetch(iter(source), depth=1):
        if item.index + 1 < source.n:
            # Without read-ahead the next item would be started only after this one is done.
            assert source.started[item.index + 1].wait(10), "no read-ahead"


def test_a_reader_error_reaches_the_consumer_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk gone")

    stream = prefetch(items(), depth=1)
    assert [next(stream), next(stream)] == [1, 2]
    with pytest.raises(OSError, match="disk gone"):
        next(stream)


def test_the_reader_stops_when_the_consumer_does() -> None:
    produced = []

    def items() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    stream = prefetch(items(), depth=1)
    assert next(stream) == 0
    stream.close()  # what a loop that breaks or raises does
    assert len(produced) <= 3  # the consumer's item, one ahead and one being made at most
    assert not any(t.name == "ce-eval-reader" and t.is_alive() for t in threading.enumerate())
