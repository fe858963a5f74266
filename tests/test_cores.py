"""Concurrent processes take turns for the machine's core slots instead of oversubscribing it."""

from __future__ import annotations

import multiprocessing as mp
import time
import types

import pytest

from bench.errors import LostRun


def _hold(folder: str, threads: str, queue, seconds: float, barrier, share: str = "1") -> None:
    import os

    os.environ["BENCH_CORES_DIR"], os.environ["BENCH_THREADS"] = folder, threads
    os.environ["BENCH_SLOT_SHARE"] = share
    from bench.cores import core_slot

    barrier.wait(timeout=60)  # every process asks for a slot at the same moment
    with core_slot(poll=0.01):
        start = time.time()
        with core_slot():  # re-entrant: a stage computing inside another keeps its slot
            time.sleep(seconds)
        queue.put((start, time.time(), share))


def _windows(folder, threads, n=3, seconds=0.3, shares=None):
    """(start, end, share) of each process's computation, by start."""
    ctx = mp.get_context("spawn")
    q, barrier = ctx.Queue(), ctx.Barrier(n)
    shares = shares or ["1"] * n
    procs = [ctx.Process(target=_hold, args=(folder, threads, q, seconds, barrier, s)) for s in shares]
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

    cpus = str(os.cpu_count())  # the children see the real machine: threads = all its cores
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setenv("BENCH_THREADS", "2")
    assert cores.slots() == 1
    monkeypatch.setenv("BENCH_THREADS", "1")
    assert cores.slots() == 2
    w = _windows(str(tmp_path / "a"), cpus)
    assert all(a[1] <= b[0] + 0.005 for a, b in zip(w, w[1:])), w
    if int(cpus) >= 2:
        w = _windows(str(tmp_path / "b"), str(int(cpus) // 2), n=2, seconds=0.5)
        assert w[1][0] < w[0][1], w  # two slots: the second started before the first ended


def test_a_shared_slot_lets_two_full_width_processes_compute_at_once(tmp_path, monkeypatch):
    """With ``BENCH_SLOT_SHARE=2`` (Ray lanes on CPU) a process takes one of a slot's two seats:
    two processes at the full thread count overlap, a third waits for one of them. A process
    that takes whole slots never computes beside a sharing one."""
    import os

    from bench import cores

    cpus = str(os.cpu_count())  # the children see the real machine: threads = all its cores
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setenv("BENCH_THREADS", "2")
    monkeypatch.setenv("BENCH_SLOT_SHARE", "2")
    assert (cores.slots(), cores.capacity()) == (1, 2)
    monkeypatch.delenv("BENCH_SLOT_SHARE")
    assert (cores.slots(), cores.capacity()) == (1, 1)
    w = _windows(str(tmp_path / "s"), cpus, n=3, seconds=0.5, shares=["2"] * 3)
    assert w[1][0] < w[0][1], w  # the second started before the first ended
    assert w[2][0] >= min(w[0][1], w[1][1]) - 0.005, w  # the third waited for a free seat
    w = _windows(str(tmp_path / "m"), cpus, n=3, seconds=0.4, shares=["1", "2", "2"])
    whole = next(x for x in w if x[2] == "1")
    for other in w:  # the whole-slot process shares its time with no one
        if other is not whole:
            assert other[1] <= whole[0] + 0.005 or other[0] >= whole[1] - 0.005, w
    assert any(a[2] == b[2] == "2" and a[0] < b[1] and b[0] < a[1] for a in w for b in w if a is not b), w


def test_a_slot_share_other_than_1_or_2_is_a_one_line_error(monkeypatch):
    from bench import cores
    from bench.errors import BenchError

    monkeypatch.setenv("BENCH_SLOT_SHARE", "3")
    with pytest.raises(BenchError, match="BENCH_SLOT_SHARE must be 1 or 2"):
        cores.capacity()


@pytest.mark.parametrize(
    "user, share, spin",
    [
        ({}, 2, "1000"),  # nothing set: the short spin, two lanes per slot
        ({"OMP_WAIT_POLICY": "PASSIVE"}, 2, None),  # the user's passive policy shares too
        ({"OMP_WAIT_POLICY": "active"}, 1, None),  # spinning threads would collide: turns
        ({"GOMP_SPINCOUNT": "infinite"}, 1, "infinite"),  # a spin count of the user's: turns
        ({"OMP_WAIT_POLICY": "passive", "GOMP_SPINCOUNT": "10"}, 1, "10"),
    ],
)
def test_ray_lanes_share_slots_with_a_short_spin_unless_the_user_set_a_policy(user, share, spin, monkeypatch):
    """On CPU Ray's lanes get OpenMP's short spin-wait in their environment (read before they
    import torch) and share slots two by two; a policy of the user's is passed on unchanged, and
    only a passive one (without a spin count) still shares. On a GPU nothing changes. Lanes
    compute with the driver's thread count on any node (a node's own core count would change
    their numbers)."""
    from bench.run import ray_executor as executors

    for var in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(var, raising=False)
    for var, value in user.items():
        monkeypatch.setenv(var, value)
    env, got = executors._worker_env("/h", on_gpu=False, threads=3)
    assert env["BENCH_HOME"] == "/h" and env["BENCH_THREADS"] == "3"
    assert (got, env["BENCH_SLOT_SHARE"]) == (share, str(share))
    assert env.get("GOMP_SPINCOUNT") == spin
    assert env.get("OMP_WAIT_POLICY") == user.get("OMP_WAIT_POLICY")
    env, got = executors._worker_env("/h", on_gpu=True, threads=5)
    assert (got, env["BENCH_SLOT_SHARE"], env["BENCH_THREADS"]) == (1, "1", "5")
    assert env.get("GOMP_SPINCOUNT") == user.get("GOMP_SPINCOUNT")


def test_ray_lanes_are_counted_node_by_node():
    """A lane never spans nodes: two live 3-CPU nodes hold two 2-CPU lanes, not the three that the
    summed CPUs would promise (the third actor would wait forever); dead nodes hold none; on a
    GPU the GPUs limit, and a node without one adds no GPU lane."""
    from bench.run.ray_executor import lane_count

    cpu = [
        {"Alive": True, "Resources": {"CPU": 3.0}},
        {"Alive": True, "Resources": {"CPU": 3.0}},
        {"Alive": False, "Resources": {"CPU": 64.0}},
    ]
    assert lane_count(cpu, 2, 0) == 2
    assert lane_count(cpu, 1.5, 0) == 4  # half a slot's threads each: two lanes share a slot
    gpu = [
        {"Alive": True, "Resources": {"CPU": 16.0, "GPU": 1.0}},
        {"Alive": True, "Resources": {"CPU": 16.0}},
    ]
    assert lane_count(gpu, 1, 1) == 1
    assert lane_count([{"Alive": True, "Resources": {"CPU": 1.0}}], 2, 0) == 0


class _Ref:  # a fake Ray object ref: its value, and whether it ever completes
    def __init__(self, value, done: bool):
        self.value, self.done = value, done


class _Lost(Exception):  # stands for ray.exceptions.RayActorError: a lane's process gone for good
    pass


class _FakeLane:
    """A fake lane actor whose process starts or never does, or is lost at its ``lost_at``-th cell
    (0: already while starting); logs the cells it is given."""

    def __init__(self, name: str, starts: bool, log: list, lost_at: int | None = None):
        self.cells = 0

        def run(*cell):
            log.append((name, cell))
            self.cells += 1
            return _Ref(_Lost(name) if self.cells == lost_at else (name, cell), starts)

        self.ready = types.SimpleNamespace(remote=lambda: _Ref(_Lost(name) if lost_at == 0 else None, starts))
        self.run = types.SimpleNamespace(remote=run)


class _FakeRay:
    exceptions = types.SimpleNamespace(RayActorError=_Lost)

    @staticmethod
    def wait(refs, num_returns):
        done = [r for r in refs if r.done]
        assert done, "every pending call is on a lane that never starts: the run would wait forever"
        return done[:num_returns], [r for r in refs if r not in done[:num_returns]]

    @staticmethod
    def get(ref):
        if isinstance(ref.value, Exception):
            raise ref.value
        return ref.value


def test_ray_cells_go_only_to_started_lanes_and_each_comes_back_once():
    """A lane whose node has no room left never starts: it must hold no cell, or the run waits
    forever (cells given to every lane at once would). Every cell is run once and comes back
    once, also when a lane runs several one after another."""
    from bench.run.ray_executor import feed

    cells = [(0, "none", 0), (0, "dpo", 0), (0, "repo", 0)]
    log, got = [], []
    feed(_FakeRay, [_FakeLane("a", True, log), _FakeLane("b", False, log)], cells, got.append)
    assert log == [("a", c) for c in cells]
    assert sorted(c for _, c in got) == sorted(cells)
    log, got = [], []
    feed(_FakeRay, [_FakeLane("a", True, log), _FakeLane("b", True, log)], cells, got.append)
    assert sorted(c for _, c in log) == sorted(cells) and {n for n, _ in log} == {"a", "b"}
    assert sorted(c for _, c in got) == sorted(cells)


def test_a_lost_ray_lane_gives_its_cell_to_the_others_and_only_losing_all_stops_the_run():
    """A lane whose process is gone for good (at start, or during its second cell) leaves the grid
    to the lanes still alive: every cell comes back exactly once. With every lane lost the run
    stops instead of waiting, with ``LostRun``: the last loss's first line, the loss as its cause."""
    from bench.run.ray_executor import feed

    cells = [(0, "none", 0), (0, "dpo", 0), (0, "repo", 0)]
    log, got = [], []
    lanes = [
        _FakeLane("a", True, log, lost_at=2),
        _FakeLane("b", True, log, lost_at=0),
        _FakeLane("c", True, log),
    ]
    feed(_FakeRay, lanes, cells, got.append)
    assert sorted(c for _, c in got) == sorted(cells) and len(got) == len(cells)
    assert "b" not in {n for n, _ in log}  # lost while starting: given no cell
    lost = [c for n, c in log if n == "a"][1]  # the cell a was computing when it was lost
    assert [n for n, c in log if c == lost] == ["a", "c"]
    log, got = [], []  # lost while the other lane still computes: that lane takes the cell next
    feed(_FakeRay, [_FakeLane("a", True, log, lost_at=1), _FakeLane("c", True, log)], cells, got.append)
    assert sorted(c for _, c in got) == sorted(cells) and len(got) == len(cells)
    assert [n for n, _ in log] == ["a", "c", "c", "c"]
    with pytest.raises(LostRun, match=r"^every Ray lane was lost, the last with _Lost: a; .*rerun") as e:
        feed(_FakeRay, [_FakeLane("a\n  a traceback's second line", True, [], lost_at=1)], cells, [].append)
    assert isinstance(e.value.__cause__, _Lost)


def test_a_run_that_lost_every_lane_is_one_line_and_exit_code_1(monkeypatch, capsys):
    """Losing every lane is no bad input (exit 2) and no crash (a traceback): the CLI prints the
    loss in one line and exits with 1."""
    from bench import cli

    def lost(args):
        raise LostRun("every Ray lane was lost, the last with RayActorError: gone; a rerun resumes")

    monkeypatch.setattr(cli, "cmd_run", lost)
    assert cli.main(["run", "--method", "dpo"]) == 1
    err = capsys.readouterr().err
    assert (
        err == "bench: error: every Ray lane was lost, the last with RayActorError: gone; a rerun resumes\n"
    )
