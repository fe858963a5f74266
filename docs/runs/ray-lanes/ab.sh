#!/usr/bin/env bash
# Ray lanes (this tree) against Ray tasks (dc3bfc4, the code before lanes), both --executor ray,
# side by side in the order lanes, tasks, tasks, lanes, from stores that start with the built
# organism. Prints each run's seconds; compare the runs' rows with perf/bench_ray.py's rows().
#   git worktree add /tmp/tasks dc3bfc4
#   bash docs/runs/ray-lanes/ab.sh /tmp/tasks STORE_WITH_ORGANISM
set -euo pipefail
OLD=$1 ORGANISM=$2 NEW=$(cd "$(dirname "$0")/../../.." && pwd)
export HF_HUB_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0
W=$(mktemp -d); cd /tmp
for v in lanes tasks tasks lanes; do
  h=$W/$v-$RANDOM; mkdir -p "$h/store" && cp -r "$ORGANISM/organism" "$h/store/"
  if [ $v = tasks ]; then P=$OLD; else P=$NEW; fi
  s=$(date +%s.%N)
  PYTHONPATH=$P BENCH_HOME=$h python -m bench.cli run --method dpo,npo,repo --attacks relearn --quiet --executor ray >/dev/null
  echo "$v $(echo "$(date +%s.%N)-$s" | bc)"
done
echo "stores: $W"
