"""The Ray executor: the grid's independent cells (model × method × seed) as Ray tasks.

Every task opens the same content-addressed store (``BENCH_HOME`` must be a path all workers
see: a local folder for a local Ray instance, a shared file system on a cluster), so finished
artifacts are shared and a task that wants an artifact another task is computing waits on its
lock instead of computing it twice. Base models (the organism) are prepared once, before the
tasks start. Results are the same as the local executor's: the same stage functions run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.config import Plan
from bench.errors import BenchError
from bench.report import Reporter


def _cell_task(
    plan: Plan, index: int, method: str, seed: int, home: str, threads: int
) -> tuple[list[dict], list[dict]]:
    import torch

    from bench import runner
    from bench.store import Store

    torch.set_num_threads(threads)  # same float reduction order as a local run: same numbers
    os.environ["BENCH_HOME"] = home
    rt = runner.runtime(plan, Reporter(quiet=True), Store(Path(home)))
    rows = runner.run_cell(rt, plan, plan.board.models[index], method, seed)
    return rows, rt.manifest


SHARE = 2  # Ray tasks computing at once per core slot on CPU, when waiting threads sleep
SPINCOUNT = "1000"  # OpenMP spin-wait iterations in Ray workers before a waiting thread sleeps


def _worker_env(home: str, on_gpu: bool) -> tuple[dict, int]:
    """Environment of the Ray workers (read before they import torch) and how many tasks share a
    core slot. On CPU: two, with OpenMP's spin-wait cut short, unless the user chose a wait policy
    of their own (passed on): a passive one (without a spin count) still shares, any other keeps
    one task per slot, as spinning threads of two tasks would steal each other's cores. On a GPU:
    one task per GPU, as before."""
    env = {"BENCH_HOME": home, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "0")}
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
    from bench import runner

    t0 = time.time()
    rt = runner.runtime(plan, reporter)
    from bench.config import seeded_spec

    for spec in plan.board.models:  # build shared inputs once (one organism per seed with reseed)
        for seed in plan.board.seeds if spec.reseed else plan.board.seeds[:1]:
            runner.prepare(rt, seeded_spec(spec, seed))
    home = str(rt.store.home)
    on_gpu = rt.device.startswith("cuda")
    env, share = _worker_env(home, on_gpu)
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            runtime_env={"env_vars": env},
        )
    try:
        import torch

        threads = torch.get_num_threads()
        # On CPU a task computes with the threads a local run uses, so results match it bit for
        # bit, and reserves their cores divided by the tasks that share a slot (_worker_env).
        task = ray.remote(num_cpus=1 if on_gpu else threads / share, num_gpus=1 if on_gpu else 0)(_cell_task)
        cells = runner.cells(plan)
        refs = [task.remote(plan, i, method, seed, home, threads) for i, method, seed in cells]
        rows, manifest = [], list(rt.manifest)
        with reporter.task("ray cells", len(refs)) as advance:
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                try:
                    r, m = ray.get(done[0])
                except ray.exceptions.RayTaskError as e:  # surface expected errors as one line
                    if isinstance(e.cause, BenchError):
                        raise e.cause from None
                    raise
                rows += r
                manifest += m
                advance()
    finally:
        if started:
            ray.shutdown()
    for st in manifest:
        reporter.line(f"  {'cached  ' if st['cached'] else 'computed'} {st['stage']:<9} {st['label']}")
    return runner.write_record(plan, rt.store, rows, manifest, rt.device, time.time() - t0, executor="ray")
