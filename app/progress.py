"""Progress bars of long commands: rich on stderr when it is a terminal, nothing when piped (issue #18).

stdout keeps only the command's result either way, so `balkanwatch reextract --all | tee log` and tests
that parse the output see what they always saw.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from balkanwatch.progress import Progress


@contextmanager
def progress_bar(description: str) -> Iterator[Progress | None]:
    """A `(done, total)` callback drawing a bar (description, bar, M/N, ETA) on a terminal's stderr; else None."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Bar(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
