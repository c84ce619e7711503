"""Time the README's main job: `mlbench train --method br mlknn bce --dataset yeast --seed 0 1 2`
then `mlbench table --metric ex-f1`, each mode in a fresh runs directory, as a user runs it.

    python benchmarks/main_job.py                      # --jobs 1 (one after the other) vs auto
    python benchmarks/main_job.py --modes 1 2 auto --repeat 3
    python benchmarks/main_job.py --trees before=/tmp/base after=.   # two checkouts, interleaved

The data is fetched and split once beforehand (not timed: the README's block does that first).
Modes are interleaved over the repeats, so a change in the machine's load hits every mode alike.
Prints, per mode and repeat: train and table wall seconds, their sum, the CPU seconds of both
commands (workers included), the 1-minute load average before the run (as `uptime` shows it),
and the BCE example-F1 mean over the seeds (the numbers must not move between modes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAIN = ["train", "--method", "br", "mlknn", "bce", "--dataset", "yeast", "--seed", "0", "1", "2"]
TABLE = ["table", "--metric", "ex-f1"]


def adopt_orphans() -> None:
    """Become the subreaper of the commands' descendants (Linux): the workers' fork server
    outlives its command by a moment, as an orphan, and its CPU time (the imports it did for
    every worker) would otherwise never reach RUSAGE_CHILDREN."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):  # not Linux: the fork server's CPU time goes uncounted
        pass


def mlbench(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and all its descendants)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mlbench", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    while True:  # reap the adopted orphans (they exit once their command has)
        try:
            os.wait()
        except ChildProcessError:
            break
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers count once they are joined
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def load_average() -> float:
    return os.getloadavg()[0]


def bce_ex_f1(runs: Path) -> float:
    values = [
        json.loads(p.read_text())["fixed"]["metrics"]["ex-f1"]
        for p in sorted((runs / "yeast" / "bce" / "default").glob("*/metrics.json"))
    ]
    return sum(values) / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--modes", nargs="+", default=["1", "auto"], help="--jobs values to time; 'auto' gives no --jobs (the default)."
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--trees",
        nargs="+",
        default=[],
        metavar="NAME=PATH",
        help="time each mode with each checkout (its directory put first on PYTHONPATH), interleaved.",
    )
    parser.add_argument(
        "--omp1", action="store_true", help="OMP_NUM_THREADS=1 for the whole command (workers set 1 thread anyway)."
    )
    args = parser.parse_args()
    adopt_orphans()

    with tempfile.TemporaryDirectory(prefix="mlbench-main-job-") as scratch:
        root = Path(scratch)
        env = {**os.environ, "MLBENCH_DATA": str(root / "data"), "COLUMNS": "120"}
        if args.omp1:
            env["OMP_NUM_THREADS"] = "1"
        mlbench(["fetch", "yeast"], env)
        mlbench(["split", "yeast", "--seeds", "0", "1", "2"], env)
        trees = [tree.split("=", 1) for tree in args.trees] or [("", None)]
        print(
            f"{'tree':>8} {'mode':>6} {'rep':>3} {'load':>5} {'train s':>8} {'table s':>8} {'total s':>8} "
            f"{'CPU s':>6} {'bce ex-f1':>9}"
        )
        for rep in range(args.repeat):
            for mode in args.modes:
                for name, path in trees:
                    runs = root / f"runs-{name}-{mode}-{rep}"
                    run_env = {**env, "MLBENCH_RUNS": str(runs)}
                    if path is not None:
                        run_env["PYTHONPATH"] = os.pathsep.join([str(Path(path).resolve()), env.get("PYTHONPATH", "")])
                    load = load_average()
                    train, train_cpu = mlbench(TRAIN + ([] if mode == "auto" else ["--jobs", mode]), run_env)
                    table, table_cpu = mlbench(TABLE, run_env)
                    print(
                        f"{name:>8} {mode:>6} {rep:>3} {load:5.2f} {train:8.1f} {table:8.1f} "
                        f"{train + table:8.1f} {train_cpu + table_cpu:6.1f} {bce_ex_f1(runs):9.4f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
