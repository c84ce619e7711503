#!/usr/bin/env bash
# One GPU check, at most ~8 minutes on one H100/H200-class GPU:
#   bash benchmarks/gpu_check.sh [OUT_DIR]        (from the repository root)
# 1. installs what is missing (mlbench itself; torch with CUDA must already be there, or pip
#    must reach an index: a bare `pip install torch` pulls the CUDA wheel);
# 2. runs the test suite's CUDA-marked tests (tests/test_cuda.py);
# 3. prints C-GMVAE 100 epochs on yeast (goal < 5 s), the determinism check (same seed twice,
#    identical metrics), the same run in bf16 mixed precision, and seconds per epoch of C-GMVAE,
#    MPVAE and MulCon on delicious (goal < 1 s for C-GMVAE) when delicious can be fetched
#    (network, or MLBENCH_MIRROR pointing at a mirror).
# Everything lands in OUT_DIR (default ./gpu-check): runs, logs and summary.txt; paste the
# summary into docs/benchmarks.md.
set -uo pipefail
OUT=${1:-gpu-check}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
export PYTHONUNBUFFERED=1 MLBENCH_RUNS="$OUT/runs" MLBENCH_DATA="${MLBENCH_DATA:-$OUT/data}"

python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
  || { echo "no CUDA device visible to torch: nothing to check" >&2; exit 1; }
python -c "import mlbench" 2>/dev/null || python -m pip install -q -e ".[dev]" \
  || { echo "could not install mlbench: install its dependencies first" >&2; exit 1; }
python -c "import pytest" 2>/dev/null || python -m pip install -q pytest

say "== $(date -u '+%Y-%m-%d %H:%M UTC') $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
say "== $(python -c 'import torch, mlbench; print("torch", torch.__version__, "cuda", torch.version.cuda, "mlbench", mlbench.__version__)')"

say "== CUDA tests"
timeout 180 python -m pytest -q -m cuda tests/test_cuda.py -p no:cacheprovider 2>&1 | tail -3 | tee -a "$SUMMARY"

run_seconds() {  # run dir -> fit seconds recorded by the run
  python -c "import json,sys; print(json.load(open(sys.argv[1] + '/status.json'))['fit_seconds'])" "$1"
}
metrics_of() {
  python -c "import json,sys; m=json.load(open(sys.argv[1] + '/metrics.json')); print(json.dumps({p: r['metrics'] for p, r in m.items()}, sort_keys=True))" "$1"
}

python -m mlbench fetch yeast -q > /dev/null
say "== C-GMVAE, yeast, 100 epochs (goal < 5 s), twice with seed 0"
for i in 1 2; do
  timeout 120 python -m mlbench train --method cgmvae --dataset yeast --seed 0 --device cuda \
    --runs-dir "$OUT/runs-$i" -q > "$OUT/train-yeast-$i.log" 2>&1 || say "run $i failed (exit $?): $(tail -1 "$OUT/train-yeast-$i.log")"
done
RUN=yeast/cgmvae/default/iterative-seed0
if [ -f "$OUT/runs-1/$RUN/metrics.json" ] && [ -f "$OUT/runs-2/$RUN/metrics.json" ]; then
  say "fit seconds: $(run_seconds "$OUT/runs-1/$RUN") and $(run_seconds "$OUT/runs-2/$RUN")"
  if [ "$(metrics_of "$OUT/runs-1/$RUN")" = "$(metrics_of "$OUT/runs-2/$RUN")" ]; then
    say "determinism: identical metrics"
  else
    say "determinism: METRICS DIFFER"; metrics_of "$OUT/runs-1/$RUN" >> "$SUMMARY"; metrics_of "$OUT/runs-2/$RUN" >> "$SUMMARY"
  fi
  say "ex-f1 (paper protocol): $(python -c "import json,sys; print(json.load(open(sys.argv[1]))['paper']['metrics']['ex-f1'])" "$OUT/runs-1/$RUN/metrics.json")"
fi

say "== C-GMVAE, yeast, 100 epochs, precision=bf16"
timeout 120 python -m mlbench train --method cgmvae --dataset yeast --seed 0 --device cuda --set precision=bf16 \
  --runs-dir "$OUT/runs-bf16" -q > "$OUT/train-bf16.log" 2>&1 || say "bf16 run failed (exit $?): $(tail -1 "$OUT/train-bf16.log")"
BF=yeast/cgmvae/precision=bf16/iterative-seed0
[ -f "$OUT/runs-bf16/$BF/status.json" ] && say "fit seconds: $(run_seconds "$OUT/runs-bf16/$BF"), ex-f1 $(python -c "import json,sys; print(json.load(open(sys.argv[1]))['paper']['metrics']['ex-f1'])" "$OUT/runs-bf16/$BF/metrics.json")"

say "== delicious: seconds per epoch (C-GMVAE goal < 1 s)"
if timeout 120 python -m mlbench fetch delicious -q > "$OUT/fetch-delicious.log" 2>&1; then
  timeout 200 python benchmarks/neural_flops.py --device cuda --threads 1 --steps 30 \
    --methods cgmvae mpvae mulcon --datasets delicious 2>&1 | tee -a "$SUMMARY"
else
  say "delicious could not be fetched ($(tail -1 "$OUT/fetch-delicious.log")); set MLBENCH_MIRROR or MLBENCH_DATA"
fi
say "== done $(date -u '+%H:%M:%S UTC')"
