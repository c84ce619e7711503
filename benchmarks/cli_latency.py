"""How long `mlbench --help` and `mlbench table` take on a store of a few hundred runs, against the
1 s goal, and whether they import torch (they must not).

    python benchmarks/cli_latency.py [--runs 300] [--repeat 5]

Builds a synthetic results store (10 methods x 10 datasets x 3 seeds = 300 runs, 3 protocols x
10 metrics each) in a temporary directory with ``mlbench.runs.store.add_rows``, then runs each
command as a fresh subprocess (``python -m mlbench``, so interpreter start-up counts, as it does
for a user) --repeat times and prints the median wall time. The torch check runs each command
once more under ``python -X importtime`` and looks for torch among the imported modules.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlbench.runs.store import add_rows

REPO = Path(__file__).resolve().parents[1]
FLOOR = "import pandas, typer, pydantic, rich.table, rich.console"
METHODS = ["br", "mlknn", "haram", "cc", "bce", "mpvae", "cgmvae", "mulsupcon", "asl", "mulcon"]
DATASETS = [
    "yeast",
    "scene",
    "emotions",
    "enron",
    "bibtex",
    "delicious",
    "tmc2007-500",
    "corel5k",
    "medical",
    "mediamill",
]
METRICS = ["ex-f1", "mi-f1", "ma-f1", "ha", "hamming-loss", "jaccard", "p@1", "map", "ranking-loss", "coverage"]
GOAL_S = 1.0


def build_store(runs_dir: Path, n_runs: int) -> int:
    rows = []
    runs = [(m, d, s) for s in range(3) for d in DATASETS for m in METHODS][:n_runs]
    for i, (method, dataset, seed) in enumerate(runs):
        run_id = f"{dataset}/{method}/default/iterative-seed{seed}"
        for p, protocol in enumerate(("fixed", "val", "paper")):
            for k, metric in enumerate(METRICS):
                rows.append(
                    {
                        "dataset": dataset,
                        "method": method,
                        "variant": "default",
                        "seed": seed,
                        "split": "iterative",
                        "split_id": f"iterative-seed{seed}",
                        "train_fraction": 1.0,
                        "protocol": protocol,
                        "metric": metric,
                        "value": 0.3 + ((i * 7 + p * 3 + k) % 50) / 100,
                        "run_id": run_id,
                        "finished_at": "2026-01-01T00:00:00Z",
                        "zero_division": 0.0,
                        "method_name": method.upper(),
                        "data_sha256": "",
                    }
                )
    add_rows(runs_dir, rows)
    return len(rows)


def timed(argv: list[str], env: dict, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "mlbench", *argv], env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"mlbench {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return statistics.median(times)


def imports_torch(argv: list[str], env: dict) -> bool:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlbench", *argv], env=env, capture_output=True, text=True
    )
    # each line of -X importtime: "import time: self | cumulative | <indent>module"
    return any(line.rsplit("|", 1)[-1].strip() == "torch" for line in done.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        runs_dir.mkdir()
        n_rows = build_store(runs_dir, args.runs)
        env = dict(
            os.environ,
            MLBENCH_RUNS=str(runs_dir),
            MLBENCH_DATA=str(Path(tmp) / "data"),
            PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            OMP_NUM_THREADS="1",
            COLUMNS="200",
        )
        print(
            f"store: {args.runs} runs, {n_rows} rows; median of {args.repeat} fresh processes; "
            f"goal {GOAL_S:g} s; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        print(f"{'command':<44}{'median s':>9}  {'goal':<6}torch imported")
        for argv in (
            ["--help"],
            ["table"],
            ["table", "--metric", "ex-f1", "ma-f1", "--format", "csv"],
            ["table", "--paper", "cgmvae", "--metric", "ex-f1"],
        ):
            seconds = timed(argv, env, args.repeat)
            verdict = "ok" if seconds < GOAL_S else "OVER"
            print(
                f"{'mlbench ' + ' '.join(argv):<44}{seconds:>9.2f}  {verdict:<6}"
                f"{'YES' if imports_torch(argv, env) else 'no'}"
            )
        # The floor: what any Typer + pandas CLI pays before doing anything (typer 0.29 coerces
        # every option through pydantic), measured the same way, so a loaded machine still
        # gives a ratio.
        for label, code in (("python -c pass", "pass"), ("import pandas, typer, pydantic, rich", FLOOR)):
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], env=env, check=True)
                times.append(time.perf_counter() - start)
            print(f"{'(floor) ' + label:<44}{statistics.median(times):>9.2f}")


if __name__ == "__main__":
    main()
