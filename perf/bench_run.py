"""The default command, cold (empty store) and warm (everything cached), side by side.

python perf/bench_run.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from common import machine

CMD = [sys.executable, "-m", "bench.cli", "run", "--method", "repo", "--attacks", "gcg,relearn", "--quiet"]


def main() -> None:
    home = tempfile.mkdtemp(prefix="bench-perf-")
    env = {**os.environ, "BENCH_HOME": home, "HF_HUB_OFFLINE": "1"}
    times = []
    for label in ("cold", "warm"):
        t0 = time.perf_counter()
        subprocess.run(CMD, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
        print(f"{label}: {times[-1]:.1f}s", flush=True)
    print(f"machine: {machine()}")
    print(
        f"default run cold {times[0]:.1f}s (target <= 300s), warm {times[1]:.1f}s (target <= 20s), "
        f"ratio {times[0] / times[1]:.0f}x"
    )


if __name__ == "__main__":
    main()
