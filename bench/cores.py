"""Concurrent runs on one machine share its cores instead of each taking all of them.

Every process computes with the same number of torch threads (``BENCH_THREADS``, default all
cores), because results depend on it: forward passes agree across thread counts, but backward
reductions (training, relearning, GCG's token gradient) do not (measured: same generations and
logits with 1 and 2 threads, different weights after 5 AdamW steps). So instead of lowering a
process's threads when another starts, each stage's computation takes a *core slot*: the machine
has ``cores // threads`` of them (an ``flock`` on ``slot-i`` files in a machine-wide folder), a
process that finds none free waits for one. Two runs on 2 cores then take turns stage by stage at
full speed instead of running 4 threads on 2 cores (which made generation 15-20x slower), and
each gets the numbers it would get alone. Cached lookups take no slot. Slots are re-entrant
within a process (a stage that computes inside another keeps its slot).

A slot has two seats (``slot-i`` and ``slot-i.1``). A process takes both, unless it runs with
``BENCH_SLOT_SHARE=2``: then it takes one, and two such processes compute side by side, each at
the full thread count. That pays only when their waiting threads sleep instead of spinning
(OpenMP's ``GOMP_SPINCOUNT`` cut short, as Ray's workers do: ``bench/run/ray_executor.py``), and a
process that takes whole slots never computes beside one that shares.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
import time
from pathlib import Path

_held = threading.local()


def _positive(name: str) -> int | None:
    """A positive whole number from the environment variable ``name``, or None when unset."""
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    if not value.strip().isdigit() or int(value) < 1:
        from bench.errors import BenchError

        raise BenchError(f"{name} must be a positive whole number (torch threads per process), got {value!r}")
    return int(value)


def threads() -> int:
    """Torch threads every bench process computes with (``BENCH_THREADS`` or all cores)."""
    return _positive("BENCH_THREADS") or max(1, os.cpu_count() or 1)


SEATS = 2  # processes that may compute at once in one core slot


def share() -> int:
    """Processes computing at once in one core slot: ``BENCH_SLOT_SHARE``, 1 (default) or 2."""
    value = os.environ.get("BENCH_SLOT_SHARE", "1")
    if value not in ("1", "2"):
        from bench.errors import BenchError

        raise BenchError(f"BENCH_SLOT_SHARE must be 1 or 2, got {value!r}")
    return int(value)


def check_environment() -> None:
    """Every numeric setting bench reads from the environment, checked before a plan is shown:
    ``BENCH_THREADS`` (a positive whole number), ``BENCH_SLOT_SHARE`` (1 or 2) and
    ``BENCH_PROGRESS`` (1 shows progress bars without a terminal, 0 or unset does not; read by
    :mod:`bench.progress`). A bad value is one line, exit 2, not a traceback mid-run."""
    threads()
    share()
    value = os.environ.get("BENCH_PROGRESS")
    if value not in (None, "", "0", "1"):
        from bench.errors import BenchError

        raise BenchError(f"BENCH_PROGRESS must be 1 (progress bars) or 0, got {value!r}")


def slots() -> int:
    """Core slots on this machine: ``cores // threads``."""
    return max(1, (os.cpu_count() or 1) // threads())


def capacity() -> int:
    """How many processes of this process's kind compute at once: slots times their share."""
    return slots() * share()


def folder() -> Path:
    d = Path(os.environ.get("BENCH_CORES_DIR") or Path(tempfile.gettempdir()) / f"bench-cores-{os.getuid()}")
    d.mkdir(parents=True, exist_ok=True)
    return d


def configure_torch() -> None:
    check_environment()  # a bad setting is an error before anything is computed (also via the API)
    import torch

    if torch.get_num_threads() != threads():
        torch.set_num_threads(threads())


@contextlib.contextmanager
def core_slot(poll: float = 0.05, on_wait=None):
    """Hold one of the machine's core slots while computing, or one seat of one with
    ``BENCH_SLOT_SHARE=2`` (waits for a free one). ``on_wait(holders)`` is called once if this
    process has to wait, with who holds the slots (:func:`holders`)."""
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    d, n, whole = folder(), slots(), share() == 1
    handles, told = None, False
    while handles is None:
        handles = _take(d, n, whole)
        if handles is None:
            if on_wait is not None and not told:
                on_wait(holders(d, n))
                told = True
            time.sleep(poll)
    for h in handles:  # who holds the seat, for whoever waits for it
        h.seek(0)
        h.truncate()
        h.write(f"{os.getpid()} {time.strftime('%H:%M:%S')}\n")
        h.flush()
    _held.depth = 1
    try:
        yield
    finally:
        _held.depth = 0
        _release(handles)


def holders(d: Path | None = None, n: int | None = None) -> str:
    """``pid 123 (since 10:04:05)`` for each process holding a seat now (what a waiter prints)."""
    d, n = d or folder(), n or slots()
    seen = []
    for i in range(n):
        for seat in [d / f"slot-{i}", *(d / f"slot-{i}.{k}" for k in range(1, SEATS))]:
            free = _seat(seat)  # a seat nobody holds may still carry a killed holder's line
            if free is not None:
                _release([free])
                continue
            try:
                pid, since = seat.read_text().split()[:2]
            except (OSError, ValueError):
                continue
            if f"pid {pid} (since {since})" not in seen:
                seen.append(f"pid {pid} (since {since})")
    return ", ".join(seen) or "another process"


def _seat(path: Path):
    """The seat's file, locked, or None if another process holds it."""
    f = open(path, "a+")  # noqa: SIM115 (kept open while the seat is held; a+ keeps the holder's line)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def _release(handles: list) -> None:
    for h in handles:
        h.seek(0)
        h.truncate()
        h.flush()
        fcntl.flock(h, fcntl.LOCK_UN)
        h.close()


def _take(d: Path, n: int, whole: bool) -> list | None:
    """Both seats of a free slot (``whole``) or one free seat; None if there is none now."""
    for i in range(n):
        seats = [d / f"slot-{i}", *(d / f"slot-{i}.{k}" for k in range(1, SEATS))]
        if not whole:
            for seat in seats:
                if (f := _seat(seat)) is not None:
                    return [f]
            continue
        got = []
        for seat in seats:
            if (f := _seat(seat)) is None:
                break
            got.append(f)
        if len(got) == SEATS:
            return got
        _release(got)
    return None
