#!/usr/bin/env bash
# One prepared script for a lent GPU machine: every GPU check at once, printing what to record.
#   bash perf/gpu_check.sh                 # organism board on CUDA, HF and vLLM generation
# Real-model boards need the hub, which a lent machine cannot reach: their code paths run here on
# stand-ins (bench.testing.standins) at the real models' width in bf16 with vLLM, as CI runs them at width 64.
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
echo "== real boards on stand-ins at real width (4 blocks), bf16, vLLM"
D="$BENCH_HOME/standins"
python -m bench.testing.standins data "$D/data"
python -m bench.testing.standins build gpt2 "$D/gpt2-medium" --layers 4 --width 1024 --heads 16 --dtype bfloat16
python -m bench.testing.standins build gemma2 "$D/gemma-2" --layers 4 --width 2304 --heads 8 --dtype bfloat16
VL=(--set generation.backend=vllm --set device=cuda)
time python -m bench.testing.standins run gpt2-medium "$D/gpt2-medium" "$D/data" --method dpo,repo --attacks gcg,relearn "${VL[@]}"
time python -m bench.testing.standins run gemma-2-2b "$D/gemma-2" "$D/data" --method dpo,repo --attacks gcg,relearn \
  --set attacks.relearn.lora_rank=8 --set attacks.relearn.lora_alpha=16 "${VL[@]}"
python perf/bench_generation.py
python perf/bench_gcg.py
