"""Rich progress bars for long work (on stderr, so stdout stays clean for tables and files)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from simshop_cli.console import stderr


def _progress(*extra: ProgressColumn) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        transient=True,  # the bar disappears when the work is done
    )


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``: n more units done."""
    with _progress() as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


@contextmanager
def steps_bar(description: str, total: int, start: int = 0) -> Iterator[Callable[[int], None]]:
    """Yield ``report(steps)``: the absolute count so far, shown with a steps/s readout.

    The rate is measured from the first report, so set-up time does not count.
    """
    with _progress(TextColumn("{task.fields[speed]}")) as progress:
        task = progress.add_task(description, total=total, completed=start, speed="")
        first: list[float] = []

        def report(steps: int) -> None:
            now = time.monotonic()
            if not first:
                first.append(now)
            elapsed = now - first[0]
            speed = f"{(steps - start) / elapsed:,.0f} steps/s" if elapsed > 1 else ""
            progress.update(task, completed=min(steps, total), speed=speed)

        yield report
