"""Cold fetch+parse and warm (cached) load time of every mirrored dataset.

    python benchmarks/data_speed.py [--mirror DIR_OR_URL] [--repeat 5]

Cold: the files are copied from the mirror (a local directory by default, so network speed does
not count), verified and parsed into a fresh cache. Warm: ``load_dataset`` from that cache (the
median of --repeat loads). Prints one row per dataset and the totals.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mlbench.data import load_dataset
from mlbench.data.fetch import fetch_dataset

MIRRORED = ["yeast", "scene", "emotions", "enron", "bibtex", "delicious", "tmc2007-500"]
DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "mirror"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", default=str(DEFAULT_MIRROR))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'dataset':<14}{'samples':>8}{'features':>9}{'labels':>7}  {'cold fetch+parse s':>18}  {'warm load s':>11}")
    cold_total = 0.0
    with tempfile.TemporaryDirectory() as data_dir:
        for name in MIRRORED:
            start = time.perf_counter()
            dataset = fetch_dataset(name, data_dir, mirror=args.mirror, source="mulan", force=True)
            cold = time.perf_counter() - start
            cold_total += cold
            warm = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                load_dataset(name, data_dir)
                warm.append(time.perf_counter() - start)
            print(
                f"{name:<14}{dataset.n_samples:>8}{dataset.n_features:>9}{dataset.n_labels:>7}  "
                f"{cold:>18.2f}  {statistics.median(warm):>11.3f}"
            )
    print(f"total cold fetch+parse of {len(MIRRORED)} datasets: {cold_total:.1f} s")


if __name__ == "__main__":
    main()
