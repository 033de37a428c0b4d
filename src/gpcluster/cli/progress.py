"""Progress for long commands: a Rich progress bar on a terminal, plain timestamped lines otherwise (CI
logs, `nohup`, pipes), so a demo build or a large load never runs for minutes in silence."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console

Update = Callable[[str, int, int], None]  # (what is happening, steps done, total steps)
Step = Callable[[str], None]  # a new stage, described in words

PLAIN_EVERY_SECONDS = 10.0  # plain output repeats an unchanged stage at most this often


@contextmanager
def progress_bar(console: Console) -> Iterator[Update]:
    """Feed it the library's (description, done, total) callbacks."""
    if console.is_terminal:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("Starting", total=1)

            def update(description: str, done: int, total: int) -> None:
                bar.update(task, description=description, completed=done, total=max(total, 1))

            yield update
        return
    yield _plain_lines(console)


def _plain_lines(console: Console) -> Update:
    began = time.monotonic()
    last: dict[str, object] = {"description": None, "at": 0.0}

    def update(description: str, done: int, total: int) -> None:
        now = time.monotonic()
        if description == last["description"] and now - float(last["at"]) < PLAIN_EVERY_SECONDS:
            return
        last.update(description=description, at=now)
        share = f" ({done}/{total})" if total > 1 else ""
        console.print(f"[{now - began:6.1f} s] {description}{share}", highlight=False, markup=False,
                      soft_wrap=True)

    return update


@contextmanager
def stages(console: Console, title: str) -> Iterator[Step]:
    """A spinner with the current stage on a terminal; one timestamped line per stage otherwise."""
    began = time.monotonic()
    if console.is_terminal:
        with console.status(title) as status:
            yield lambda message: status.update(f"{message} ({time.monotonic() - began:.0f} s)")
    else:
        def line(message: str) -> None:
            console.print(f"[{time.monotonic() - began:6.1f} s] {message}", highlight=False, markup=False,
                          soft_wrap=True)

        line(title)
        yield line
    console.print(f"{title}: done in {time.monotonic() - began:.1f} s", highlight=False, markup=False, soft_wrap=True)
