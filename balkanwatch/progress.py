"""How long maintenance work reports how far it got: a `(done, total)` callback, nothing about terminals.

The caller decides what to do with it (the CLI draws a rich bar on a terminal, passes nothing when piped);
the work calls it with (0, total) first and (total, total) last.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

Progress = Callable[[int, int], None]


def counted(items: Iterable[T], progress: Progress | None, total: int, *, start: int = 0,
            every: int = 1) -> Iterator[T]:
    """Yield `items`, reporting `start` + how many the consumer has finished every `every` items and at the end."""
    if progress is None:
        yield from items
        return
    done = start
    progress(done, total)
    for item in items:
        yield item
        done += 1
        if (done - start) % every == 0:
            progress(done, total)
    if (done - start) % every:
        progress(done, total)
