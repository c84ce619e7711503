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
# Delicious: rf 4-7 min a run, ecc 13 min, the neural methods 15-75 min (docs/benchmarks.md).
run --experiment "$baselines" --methods br rf cc ecc mlknn sleec boomer --datasets delicious
run --experiment cgmvae --datasets delicious --methods br mlknn haram sleec c2ae mpvae cgmvae \
    cgmvae-contrastive-only cgmvae-gm-only cgmvae-unigauss
run --experiment mulsupcon --datasets delicious --methods bce asl mulsupcon mulsupcon-all mulsupcon-any \
    mulsupconld-cld mulsupconld-rld
# Left for a GPU (hours to days each on one CPU thread, benchmarks/neural_flops.py): rbcc on
# delicious (157 s an epoch, 100 epochs: 4.4 h a run), lamp on delicious (4.7 h an epoch, 50
# epochs), mulcon's full label attention on delicious (328-340 s an epoch, 100 + 50 epochs).
#   mlbench reproduce --experiment cgmvae --methods lamp --datasets delicious --device cuda
#   mlbench reproduce --experiment mulsupcon --methods rbcc lamp mulcon --datasets delicious --device cuda
#   mlbench reproduce --experiment mlbench/papers/experiments/baselines.toml --methods rbcc --datasets delicious --device cuda
