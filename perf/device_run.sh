#!/usr/bin/env bash
# One call on a lent GPU machine (no package registry, no hub). Run from the repository root:
#   bash perf/device_run.sh check [SECONDS]  # the README's default run on CUDA; every method and
#                                            # attack of tiny on CUDA at small budgets (calibration
#                                            # included); real-width stand-ins in bf16 (default)
#   bash perf/device_run.sh grid [SECONDS]   # the full 3-seed tiny grid and its leaderboard
#   bash perf/device_run.sh ray [SECONDS]    # --executor ray beside the local executor on CUDA
# SECONDS is the call's time budget (default 560). Packages the machine lacks travel as wheels in
# .whl/ (README, "Running on a GPU"); the project is installed next to them. vLLM cannot travel
# (its wheel is far larger than what a call carries), so its checks run only where it is installed
# (perf/gpu_check.sh). Files for $OUT: logs, the leaderboard, the run records (runs.tgz).
set -uo pipefail
MODE=${1:-check}
BUDGET=${2:-560}
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

if [ "$MODE" = ray ]; then  # needs ray among the wheels (README, "On a GPU")
  echo "== --executor ray against the local executor on CUDA (perf/bench_ray.py: one lane per GPU)"
  rm -rf /tmp/perf && cp -r "$REPO/perf" /tmp/perf  # beside the installed package, not the source tree
  timeout "$(($(left) - 10))" python3 /tmp/perf/bench_ray.py --methods dpo,repo --order local,ray 2>&1 | tee "$OUT/ray.log" | tail -40
  echo "done in $(($(date +%s) - START)) s"
  exit 0
fi

if [ "$MODE" = grid ]; then
  export BENCH_HOME=${BENCH_HOME:-/tmp/grid}
  echo "== the full tiny grid: 3 seeds, every method and variant, matched operating points"
  BENCH_THREADS=1 python3 "$REPO/perf/grid.py" --seeds 3 --workers "${WORKERS:-12}" --deadline "$(($(left) - 45))" \
    --log "$OUT/grid.log" --set calibration.target=0.05 --set "calibration.methods=[dpo,npo,repo]" \
    --set generation.batch_size=256 2>&1 | tail -80
  timeout 40 bench leaderboard tiny --out "$OUT/tiny"
  tar czf "$OUT/runs.tgz" -C "$BENCH_HOME" runs
  echo "done in $(($(date +%s) - START)) s"
  exit 0
fi

echo "== stand-ins of the real boards at real width (4 blocks), bf16, HF generation on CUDA (background; standins.log)"
(
  D=/tmp/standins
  python3 -m bench.testing.standins data $D/data >/dev/null
  python3 -m bench.testing.standins build gpt2 $D/gpt2-medium --layers 4 --width 1024 --heads 16 --dtype bfloat16 >/dev/null
  python3 -m bench.testing.standins build gemma2 $D/gemma-2 --layers 4 --width 2304 --heads 8 --dtype bfloat16 >/dev/null
  time BENCH_HOME=$D/home timeout 150 python3 -m bench.testing.standins run gpt2-medium $D/gpt2-medium $D/data \
    --method dpo,repo --attacks gcg,relearn --set generation.backend=hf
  time BENCH_HOME=$D/home timeout 150 python3 -m bench.testing.standins run gemma-2-2b $D/gemma-2 $D/data \
    --method dpo,repo --attacks gcg,relearn --set generation.backend=hf \
    --set attacks.relearn.lora_rank=8 --set attacks.relearn.lora_alpha=16
) >"$OUT/standins.log" 2>&1 &

echo "== the README's default run, cold, on CUDA"
( time BENCH_HOME=/tmp/default timeout "$(($(left) / 2))" bench run --method repo --attacks gcg,relearn \
    --set generation.batch_size=256 ) >"$OUT/default.log" 2>&1
grep -A40 "results (toxic" "$OUT/default.log" | grep -v "^ *computed\|^ *cached" | head -36
tail -5 "$OUT/default.log"

echo "== every method and attack of tiny on CUDA, small budgets, calibration on ($(left) s left)"
SMALL=(models.0.organism.steps=60 models.0.organism.n_dialogue=3000 models.0.organism.n_reports=500
  generation.num_samples=2 generation.batch_size=256 eval.bootstrap=50 eval.probe_max_pairs=60
  eval.ppl_max_texts=50 eval.f1_max=20 calibration.target=0.05 "calibration.methods=[dpo,npo,repo]"
  attacks.gcg.num_steps=2 attacks.gcg.search_width=16 attacks.gcg.topk=16 attacks.gcg.n_train_prompts=2
  attacks.gcg_enhanced.num_steps=2 attacks.gcg_enhanced.search_width=16 attacks.gcg_enhanced.topk=16
  attacks.relearn.steps=5 "attacks.relearn.curve_steps=[0,2,5]"
  attacks.relearn_benign.steps=5 "attacks.relearn_benign.curve_steps=[0,2,5]")
for m in dpo npo repo repo-match repo-grl repo-retain rmu cb sft; do SMALL+=("methods.$m.steps=8"); done
SETS=(); for s in "${SMALL[@]}"; do SETS+=(--set "$s"); done
BENCH_HOME=/tmp/smoke BENCH_THREADS=1 python3 "$REPO/perf/grid.py" --seeds 1 --workers 12 \
  --deadline "$(($(left) - 30))" --log "$OUT/smoke.log" "${SETS[@]}" 2>&1 | tail -30
echo "failed stages:"; grep -h "Error\|error:" "$OUT/smoke.log" "$OUT/default.log" | sort | uniq -c | head
BENCH_HOME=/tmp/smoke timeout 20 bench results --board tiny 2>&1 | tail -45
wait
echo "== stand-ins"; grep -v "^ *computed\|^ *cached" "$OUT/standins.log" | tail -40
echo "done in $(($(date +%s) - START)) s"
