#!/usr/bin/env bash
# One call on a lent GPU machine (no package registry, no hub): GPU checks, then the full tiny grid
# that the committed leaderboard comes from. Run from the repository root:
#   bash perf/device_run.sh [SECONDS]     # SECONDS: time budget of this call (default 560)
# Packages the machine lacks travel as wheels in .whl/ (README, "Running on a GPU"); the project
# is installed next to them. vLLM cannot travel (its wheel is far larger than what a call carries),
# so its checks run only where it is installed (perf/gpu_check.sh). A second call with the same
# BENCH_HOME resumes the grid where the first stopped.
set -uo pipefail
BUDGET=${1:-560}
START=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - START))); }
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
OUT=${OUT:-$(mktemp -d)}
REPO=$(pwd)
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target /tmp/proj . >/dev/null || exit 1
export PYTHONPATH=/tmp/proj${PYTHONPATH:+:$PYTHONPATH}
cd /tmp  # import the installed package, not the source tree
mkdir -p /tmp/bin && printf '#!/bin/sh\nexec python3 -c "import sys; from bench.cli import main; sys.exit(main())" "$@"\n' >/tmp/bin/bench
chmod +x /tmp/bin/bench && export PATH=/tmp/bin:$PATH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0), 'cpus', __import__('os').cpu_count())"
python3 -c "import vllm" 2>/dev/null && echo "vllm present: run perf/gpu_check.sh for its checks" || echo "vllm not installed: vLLM checks skipped"
export BENCH_HOME=${BENCH_HOME:-/tmp/grid}
if [ ! -d "$BENCH_HOME/runs" ]; then
  echo "== the README's default run, cold, on CUDA (time and per-stage summary)"
  ( time timeout "$(left)" bench run --method repo --attacks gcg,relearn --set generation.batch_size=256 ) 2>&1 | tail -32
  echo "== stand-ins of the real boards at real width (4 blocks), bf16, HF generation on CUDA: in the background, log standins.log"
  (
    D=/tmp/standins
    python3 -m bench.standins data $D/data >/dev/null
    python3 -m bench.standins build gpt2 $D/gpt2-medium --layers 4 --width 1024 --heads 16 --dtype bfloat16 >/dev/null
    python3 -m bench.standins build gemma2 $D/gemma-2 --layers 4 --width 2304 --heads 8 --dtype bfloat16 >/dev/null
    time BENCH_HOME=$D/home timeout 150 python3 -m bench.standins run gpt2-medium $D/gpt2-medium $D/data \
      --method dpo,repo --attacks gcg,relearn --set generation.backend=hf
    time BENCH_HOME=$D/home timeout 150 python3 -m bench.standins run gemma-2-2b $D/gemma-2 $D/data \
      --method dpo,repo --attacks gcg,relearn --set generation.backend=hf \
      --set attacks.relearn.lora_rank=8 --set attacks.relearn.lora_alpha=16
  ) >"$OUT/standins.log" 2>&1 &
fi
echo "== the full tiny grid: 3 seeds, every method and variant, matched operating points ($(left) s left)"
BENCH_THREADS=1 python3 "$REPO/perf/grid.py" --seeds 3 --workers "${WORKERS:-12}" --deadline "$(($(left) - 45))" \
  --log "$OUT/grid.log" --set calibration.target=0.05 --set "calibration.methods=[dpo,npo,repo]" \
  --set generation.batch_size=256 2>&1 | tail -80
timeout 40 bench leaderboard tiny --out "$OUT/tiny"
tar czf "$OUT/runs.tgz" -C "$BENCH_HOME" runs
wait
echo "done in $(($(date +%s) - START)) s"
