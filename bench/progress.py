"""Progress and logging for long work (rich), kept out of the computing code."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator


def console(stream, **kwargs):
    """A rich console; off a terminal (a log file, CI, ``| tee``) lines and tables are never cut
    to 80 columns: they take the width their content needs."""
    from rich.console import Console

    if not stream.isatty():
        kwargs.setdefault("width", 100_000)
    return Console(**kwargs)


class Reporter:
    """Stage lines and progress bars. On a terminal a long stage draws a bar; elsewhere (a log file,
    ``| tee``, CI) it prints one line when it starts and one when it ends, unless
    ``BENCH_PROGRESS=1`` asks for bars there too."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.console = console(sys.stderr, stderr=True, quiet=quiet)
        self.bars = not quiet and (sys.stderr.isatty() or os.environ.get("BENCH_PROGRESS") == "1")

    def line(self, text: str) -> None:
        self.console.print(text, highlight=False)

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[..., None]]:
        """Yields ``advance(n=1, **fields)``; a rich bar when interactive, nothing otherwise."""
        if not self.bars:  # no bar off a terminal: say that the long work started
            self.line(f"  [dim]started[/dim]  {description} ({total} to do)")
            yield lambda n=1, **kw: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            transient=True,
        ) as prog:
            tid = prog.add_task(description, total=total, info="")

            def advance(n: int = 1, **fields) -> None:
                info = " ".join(
                    f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()
                )
                prog.update(tid, advance=n, info=info)

            yield advance
