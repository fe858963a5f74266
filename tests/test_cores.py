"""Concurrent processes take turns for the machine's core slots instead of oversubscribing it."""

from __future__ import annotations

import multiprocessing as mp
import time


def _hold(folder: str, threads: str, queue, seconds: float, barrier) -> None:
    import os

    os.environ["BENCH_CORES_DIR"], os.environ["BENCH_THREADS"] = folder, threads
    from bench.cores import core_slot

    barrier.wait(timeout=60)  # every process asks for a slot at the same moment
    with core_slot(poll=0.01):
        start = time.time()
        with core_slot():  # re-entrant: a stage computing inside another keeps its slot
            time.sleep(seconds)
        queue.put((start, time.time()))


def _windows(folder, threads, n=3, seconds=0.3):
    ctx = mp.get_context("spawn")
    q, barrier = ctx.Queue(), ctx.Barrier(n)
    procs = [ctx.Process(target=_hold, args=(folder, threads, q, seconds, barrier)) for _ in range(n)]
    for p in procs:
        p.start()
    out = sorted(q.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    return out


def test_one_slot_per_full_width_process_serialises_computation(tmp_path, monkeypatch):
    """With as many threads as cores there is one slot: three processes never compute at once.
    With one thread per process on a 2-core machine there are two slots: two overlap."""
    import os

    from bench import cores

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setenv("BENCH_THREADS", "2")
    assert cores.slots() == 1
    monkeypatch.setenv("BENCH_THREADS", "1")
    assert cores.slots() == 2
    cpus = str(os.cpu_count())  # the children see the real machine
    w = _windows(str(tmp_path / "a"), cpus)
    assert all(a_end <= b_start + 0.005 for (_, a_end), (b_start, _) in zip(w, w[1:])), w
    if int(cpus) >= 2:
        w = _windows(str(tmp_path / "b"), str(int(cpus) // 2), n=2, seconds=0.5)
        assert w[1][0] < w[0][1], w  # two slots: the second started before the first ended


def test_a_shared_slot_lets_two_full_width_processes_compute_at_once(tmp_path, monkeypatch):
    """``BENCH_SLOT_SHARE=2`` (Ray tasks on CPU) gives each core slot two holders: two processes
    at the full thread count overlap, a third waits for one of them."""
    import os

    from bench import cores

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setenv("BENCH_THREADS", "2")
    monkeypatch.setenv("BENCH_SLOT_SHARE", "2")
    assert cores.slots() == 2
    monkeypatch.delenv("BENCH_SLOT_SHARE")
    assert cores.slots() == 1
    monkeypatch.setenv("BENCH_SLOT_SHARE", "2")  # the children inherit it
    w = _windows(str(tmp_path / "s"), str(os.cpu_count()), n=3, seconds=0.5)
    assert w[1][0] < w[0][1], w  # the second started before the first ended
    assert w[2][0] >= min(w[0][1], w[1][1]) - 0.005, w  # the third waited for a free holder


def test_ray_workers_share_slots_with_a_short_spin_unless_the_user_set_a_policy(monkeypatch):
    """Ray's workers get OpenMP's short spin-wait in their environment (read before they import
    torch) and share slots two by two; a passive policy of the user's shares too, an active one
    or a spin count of their own keeps one task per slot (spinning threads would collide)."""
    from bench import executors

    for var in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(var, raising=False)
    env, share = executors._worker_env("/h")
    assert env["BENCH_HOME"] == "/h" and env["GOMP_SPINCOUNT"] == executors.SPINCOUNT
    assert share == executors.SHARE == 2 and env["BENCH_SLOT_SHARE"] == "2"
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    env, share = executors._worker_env("/h")
    assert (share, env["BENCH_SLOT_SHARE"]) == (2, "2") and "GOMP_SPINCOUNT" not in env
    for var, value in (("OMP_WAIT_POLICY", "active"), ("GOMP_SPINCOUNT", "infinite")):
        monkeypatch.setenv(var, value)
        env, share = executors._worker_env("/h")
        assert (share, env["BENCH_SLOT_SHARE"]) == (1, "1") and "GOMP_SPINCOUNT" not in env
