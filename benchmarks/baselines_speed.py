"""Fit and predict seconds and peak memory of the issue-12 baselines (cc, ecc, rf, boomer, sleec,
rbcc) on yeast, scene and delicious.

    python benchmarks/baselines_speed.py [--methods cc ecc rf sleec rbcc] [--datasets yeast scene]
                                         [--epochs 5] [--threads 1] [--mirror DIR_OR_URL]

The measurement is :mod:`method_speed`'s (a fresh child process per (method, dataset), peak
resident memory of that process, iterative split seed 0; rbcc trains --epochs epochs and its
seconds per epoch are reported: its default is 100 epochs). The machine's load average is
printed before and after, since these figures are only comparable at a similar load.
boomer is measured only when mlrl-boomer is installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import method_speed  # noqa: E402  (the shared measurement, run with other defaults)

DEFAULT_METHODS = ["cc", "ecc", "rf", "boomer", "sleec", "rbcc"]


def _boomer_installed() -> bool:
    try:
        import mlrl.boosting  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    argv = sys.argv[1:]
    if "--methods" not in argv:
        methods = [m for m in DEFAULT_METHODS if m != "boomer" or _boomer_installed()]
        argv = ["--methods", *methods, *argv]
    if "--threads" not in argv:
        argv += ["--threads", "1"]
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} cores)")
    sys.argv = [sys.argv[0], *argv]
    method_speed.main()
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
