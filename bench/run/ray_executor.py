"""The Ray executor: the grid's independent cells (model × method × seed) on Ray, in lanes.

A lane is a Ray actor that holds its share of one node's cores (or one GPU) for the whole run
and computes cells one after another, so a process starts, imports and initialises CUDA once
per lane (Ray would start a fresh process for every task that asks for a GPU). Every lane opens
the same content-addressed store (``BENCH_HOME`` must be a path all workers see: a local folder
for a local Ray instance, a shared file system on a cluster), so finished artifacts are shared
and a lane that wants an artifact another is computing waits on its lock instead of computing it
twice. Base models (the organism) are prepared once, by the driver, while the lanes start.
Results are the same as the local executor's: the same stage functions run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.board.load import Plan
from bench.errors import BenchError, LostRun
from bench.progress import Reporter


class _Lane:
    """One lane of the grid: a Ray actor that holds its share of a node's cores (and its GPU) for
    the whole run and computes cells one after another, so a process starts, imports torch and
    initialises CUDA once per lane, not once per cell (Ray starts a fresh process for every task
    that asks for a GPU), and stays on the GPU it was given."""

    def __init__(self, plan: Plan, home: str) -> None:
        import torch  # noqa: F401  (both imported while the driver builds the shared inputs)

        from bench.run import local  # noqa: F401

        self.plan, self.home = plan, home

    def ready(self) -> None:
        """Returns once the lane's process has started (a lane gets its first cell only then)."""

    def run(self, index: int, method: str, seed: int) -> tuple[list[dict], list[dict]]:
        import gc

        import torch

        from bench.run import local as runner
        from bench.store import Store

        rt = runner.runtime(self.plan, Reporter(quiet=True), Store(Path(self.home)))
        rows = runner.run_cell(rt, self.plan, self.plan.board.models[index], method, seed)
        manifest = rt.manifest
        del rt  # the cell's models leave the lane before the next cell loads its own
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return rows, manifest


def lane_count(nodes: list[dict], cpus: float, gpus: float) -> int:
    """How many lanes of ``cpus`` CPUs (and ``gpus`` GPUs) fit on the cluster's live nodes, each
    node counted on its own (lanes do not span nodes)."""
    n = 0
    for node in nodes:
        if node.get("Alive", True):
            have = node.get("Resources", {})
            fits = [have.get("CPU", 0) // cpus] + ([have.get("GPU", 0) // gpus] if gpus else [])
            n += int(min(fits))
    return n


# how Ray says a lane is gone for good: its process died (restarts used up), was killed for memory,
# lost its node, or cannot be placed
LOST = ("RayActorError", "OutOfMemoryError", "NodeDiedError", "ActorUnschedulableError")


def feed(ray, lanes: list, cells: list, take) -> None:
    """Give each lane a cell once it has started and the next cell each time it returns one, until
    every cell has come back (each to ``take``). A lane that never starts (its node's resources
    held by others) holds no cell, so the others finish the grid. A lane lost for good (its
    process gone after its restarts) gives its cell back to the others; only when every lane is
    lost does the run stop, with ``LostRun`` naming the last loss."""
    lost = tuple(getattr(ray.exceptions, name) for name in LOST if hasattr(ray.exceptions, name))
    todo, starting, running, idle = list(cells), {lane.ready.remote(): lane for lane in lanes}, {}, []
    loss = None

    def give(lane) -> None:  # the next cell, or the lane waits idle for one given back
        if todo:
            cell = todo.pop(0)
            running[lane.run.remote(*cell)] = (lane, cell)
        else:
            idle.append(lane)

    while todo or running:
        if not starting and not running:  # every lane lost
            why = (str(loss).strip().splitlines() or [""])[0]
            raise LostRun(
                f"every Ray lane was lost, the last with {type(loss).__name__}: {why[:200]}; "
                "the cells finished are in the store and a rerun resumes from them"
            ) from loss
        (ref,), _ = ray.wait([*starting, *running], num_returns=1)
        if ref in starting:
            lane, cell = starting.pop(ref), None
        else:
            lane, cell = running.pop(ref)
        try:
            result = ray.get(ref)  # raises if the lane failed to start or its cell failed
        except lost as e:
            loss = e
            if cell is not None:
                todo.insert(0, cell)
                if idle:
                    give(idle.pop())
            continue
        if cell is not None:
            take(result)
        give(lane)


SHARE = 2  # Ray lanes computing at once per core slot on CPU, when waiting threads sleep
SPINCOUNT = "1000"  # OpenMP spin-wait iterations in Ray workers before a waiting thread sleeps


def _worker_env(home: str, on_gpu: bool, threads: int) -> tuple[dict, int]:
    """Environment of the lanes (read before they import torch) and how many lanes share a core
    slot. Every lane computes with the driver's torch ``threads`` (each cell's runtime sets them
    from ``BENCH_THREADS``), on any node, so its numbers are a local run's. On CPU two lanes share
    a slot, with OpenMP's spin-wait cut short, unless the user chose a wait policy of their own
    (passed on): a passive one (without a spin count) still shares, any other keeps one lane per
    slot, as spinning threads of two lanes would steal each other's cores. On a GPU: one lane per
    GPU."""
    env = {
        "BENCH_HOME": home,
        "BENCH_THREADS": str(threads),
        "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "0"),
    }
    if "BENCH_CORES_DIR" in os.environ:
        env["BENCH_CORES_DIR"] = os.environ["BENCH_CORES_DIR"]
    own = {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ}
    env.update(own)
    if on_gpu:
        share = 1
    elif not own:
        env["GOMP_SPINCOUNT"], share = SPINCOUNT, SHARE
    else:
        passive = own.get("OMP_WAIT_POLICY", "").lower() == "passive" and "GOMP_SPINCOUNT" not in own
        share = SHARE if passive else 1
    return {**env, "BENCH_SLOT_SHARE": str(share)}, share


def run_ray(plan: Plan, reporter: Reporter, address: str | None = None) -> Path:
    try:
        import ray
    except ImportError:
        raise BenchError("--executor ray needs ray: pip install 'detox-bench[ray]'") from None
    import torch

    from bench.board.load import seeded_spec
    from bench.run import local as runner

    t0 = time.time()
    rt = runner.runtime(plan, reporter)
    home = str(rt.store.home)
    on_gpu = rt.device.startswith("cuda")
    threads = torch.get_num_threads()  # the local run's (configure_torch)
    env, share = _worker_env(home, on_gpu, threads)
    # --address or RAY_ADDRESS join a cluster; otherwise a local instance, never a cluster that
    # happens to run on this machine
    target = address or os.environ.get("RAY_ADDRESS") or "local"
    started, lanes = not ray.is_initialized(), []
    if started:
        ray.init(address=target, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        # On CPU a lane reserves the cores of the local run's threads divided by the lanes that
        # share a slot (_worker_env).
        cpus, gpus = (1, 1) if on_gpu else (threads / share, 0)
        cells = runner.cells(plan)
        nodes = ray.nodes()
        n = min(lane_count(nodes, cpus, gpus), len(cells))
        need = f"one Ray lane of {cpus:g} CPUs" + (f" and {gpus} GPU" if gpus else "")
        if n == 0 and started and target == "local":  # a local instance never grows
            raise BenchError(f"this machine has no room for {need} (BENCH_THREADS sets a lane's threads)")
        if n == 0:
            reporter.line(f"no node of the Ray cluster has room for {need} yet: waiting for one")
        Lane = ray.remote(
            num_cpus=cpus,
            num_gpus=gpus,
            runtime_env={"env_vars": env},  # read before the lane imports torch
            max_restarts=2,  # a lane lost with its process (out of memory, say) comes back, and
            max_task_retries=2,  # its cell runs again, resuming from the store
        )(_Lane)
        lanes += [Lane.remote(plan, home) for _ in range(max(n, 1))]  # a cluster may grow
        live = sum(1 for node in nodes if node.get("Alive", True))
        placement = {"nodes": live, "lanes": len(lanes), "lane_cpus": cpus, "lane_gpus": gpus}
        # the lanes start and import while the shared inputs are built, once (an organism per seed
        # with reseed)
        for spec in plan.board.models:
            for seed in plan.board.seeds if spec.reseed else plan.board.seeds[:1]:
                runner.prepare(rt, seeded_spec(spec, seed))
        rows, manifest = [], list(rt.manifest)
        with reporter.task("ray cells", len(cells)) as advance:

            def take(result) -> None:
                rows.extend(result[0])
                manifest.extend(result[1])
                advance()

            try:
                feed(ray, lanes, cells, take)
            except ray.exceptions.RayTaskError as e:  # surface expected errors as one line
                if isinstance(e.cause, BenchError):
                    raise e.cause from None
                raise
    finally:
        for lane in lanes:  # a driver that outlives the run (Ray started by the caller) keeps none
            ray.kill(lane)
        if started:
            ray.shutdown()
    for st in manifest:
        reporter.line(f"  {'cached  ' if st['cached'] else 'computed'} {st['stage']:<9} {st['label']}")
    return runner.write_record(
        plan, rt.store, rows, manifest, rt.device, time.time() - t0, executor="ray", placement=placement
    )
