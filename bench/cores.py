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


def threads() -> int:
    """Torch threads every bench process computes with (``BENCH_THREADS`` or all cores)."""
    value = os.environ.get("BENCH_THREADS")
    return max(1, int(value)) if value else max(1, os.cpu_count() or 1)


def share() -> int:
    """Processes computing at once in one core slot (``BENCH_SLOT_SHARE``, default 1). Ray tasks
    on CPU set 2 and start with OpenMP's spin-wait cut short (``GOMP_SPINCOUNT``), so that two
    tasks with the local run's thread count compute side by side: same numbers, since a thread
    count fixes the reduction order, while threads spinning at barriers would steal the cores."""
    value = os.environ.get("BENCH_SLOT_SHARE")
    return max(1, int(value)) if value else 1


def slots() -> int:
    """Core slots on this machine times their share: how many processes compute at once."""
    return max(1, (os.cpu_count() or 1) // threads()) * share()


def folder() -> Path:
    d = Path(os.environ.get("BENCH_CORES_DIR") or Path(tempfile.gettempdir()) / f"bench-cores-{os.getuid()}")
    d.mkdir(parents=True, exist_ok=True)
    return d


def configure_torch() -> None:
    import torch

    if torch.get_num_threads() != threads():
        torch.set_num_threads(threads())


@contextlib.contextmanager
def core_slot(poll: float = 0.05):
    """Hold one of the machine's core slots while computing (waits for a free one)."""
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    d, n = folder(), slots()
    handle = None
    while handle is None:
        for i in range(n):
            f = open(d / f"slot-{i}", "a")  # noqa: SIM115 (kept open while the slot is held)
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                continue
            handle = f
            break
        else:
            time.sleep(poll)
    _held.depth = 1
    try:
        yield
    finally:
        _held.depth = 0
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
