#!/usr/bin/env bash
# One prepared script for a lent GPU machine: every GPU check at once, printing what to record.
#   bash perf/gpu_check.sh                 # organism board on CUDA, HF and vLLM generation
# Real-model boards need the hub, which a lent machine cannot reach: for them copy a model folder
# and data files over and run `bench run --board leaderboards/gpt2-medium/board.yaml --model DIR ...`.
# Needs torch with CUDA and vllm importable (pip install -e '.[vllm]'); no hub access needed.
set -euo pipefail
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 BENCH_HOME="${BENCH_HOME:-$(mktemp -d)}"
python -c "import torch; print('cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"
python -c "import vllm; print('vllm', vllm.__version__)" || echo "vllm missing: vLLM checks will fail"
SMALL=(--set attacks.gcg.num_steps=20 --set attacks.relearn.steps=20 --set "attacks.relearn.curve_steps=[0,5,20]")
echo "== organism on CUDA, HF generation"
time bench run --method dpo,repo --attacks gcg,relearn --set device=cuda "${SMALL[@]}"
echo "== organism on CUDA, vLLM generation (same models, cached; regenerates with vLLM)"
time bench run --method dpo,repo --attacks gcg,relearn --set device=cuda --set generation.backend=vllm "${SMALL[@]}"
bench results --board tiny
python perf/bench_generation.py
python perf/bench_gcg.py
