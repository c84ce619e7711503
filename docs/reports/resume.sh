#!/usr/bin/env bash
# Continue the reproduction behind docs/reports in the order that fills the most cells per CPU
# hour (rerun it any time: finished runs are skipped). One run at a time, one torch thread, at a
# low priority, so the machine stays usable. On a GPU machine, add `--device cuda` and drop the
# --methods filter of the last line.
#   nohup bash docs/reports/resume.sh > resume.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/../.."
run() { nice -n 15 mlbench reproduce -q --jobs 1 --threads-per-job 1 --runs-dir docs/reports/runs "$@"; }
baselines=mlbench/papers/experiments/baselines.toml
run --experiment "$baselines" --datasets yeast scene
run --experiment cgmvae --datasets yeast scene
run --experiment mulsupcon --datasets yeast scene
run --experiment "$baselines" --groups one-vs-rest local --methods br mlknn sleec --datasets delicious
# Delicious neural runs take hours each on a CPU; rbcc (804 s an epoch), lamp and mulcon need a GPU.
run --experiment cgmvae --groups main --methods c2ae mpvae cgmvae --datasets delicious
