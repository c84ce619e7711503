#!/usr/bin/env bash
# Regenerate docs/reports/*.md and the README's headline block from the committed store, and
# stage what changed: the reports, the README, results.csv and every run that is complete (a run
# still training stays out of git). Commit afterwards. Run from the repository root.
#   bash docs/reports/update.sh && git commit -m "docs/reports regenerated"
set -euo pipefail
cd "$(dirname "$0")/../.."
store=docs/reports/runs
for experiment in cgmvae mulsupcon mlbench/papers/experiments/baselines.toml; do
    mlbench report --experiment "$experiment" --runs-dir "$store" --out docs/reports >/dev/null
done
python docs/reports/headline.py
git add docs/reports/*.md README.md "$store/results.csv"
git ls-files --others --exclude-standard "$store" | grep '/status\.json$' | while read -r status; do
    if grep -q '"state": "complete"' "$status"; then git add "$(dirname "$status")"; fi
done
echo "staged: $(git ls-files "$store" | grep -c '/status\.json$') complete runs in git with the next commit"
