"""What a tree of ``rf`` keeps against what scikit-learn's forest keeps, and that both give the
same probabilities, on real data.

    python benchmarks/rf_memory.py [--datasets delicious] [--trees 3] [--data-dir data]

For each dataset (iterative split seed 0): scikit-learn's ``RandomForestClassifier`` and mlbench's
``rf`` with ``--trees`` trees each, their fit seconds, the bytes of one tree's dense
(nodes, labels, classes) value array (scikit-learn) against one compact tree (mlbench: split
arrays and sparse leaf probabilities), both scaled to the default 100 trees, and the largest
difference between the two methods' test probabilities. One thread; the load is printed.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def compact_bytes(tree) -> int:
    arrays = (tree.left, tree.right, tree.feature, tree.threshold)
    leaves = tree.leaf_proba
    return sum(a.nbytes for a in arrays) + leaves.data.nbytes + leaves.indices.nbytes + leaves.indptr.nbytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["delicious"])
    parser.add_argument("--trees", type=int, default=3)
    parser.add_argument("--data-dir", default=os.environ.get("MLBENCH_DATA", "data"))
    args = parser.parse_args()

    from sklearn.ensemble import RandomForestClassifier

    from mlbench.data import load_split
    from mlbench.methods import create_method
    from mlbench.methods.base import FitContext

    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} cores)")
    print(
        "dataset     labels  trees  sklearn fit s  rf fit s  sklearn MB/tree  rf MB/tree  x100 sklearn GB  x100 rf GB  max |diff|"
    )
    for name in args.datasets:
        split = load_split(name, seed=0, data_dir=args.data_dir)
        X, Y, Xt = split.X_train, np.asarray(split.Y_train), split.X_test
        start = time.perf_counter()
        forest = RandomForestClassifier(n_estimators=args.trees, random_state=0).fit(X, Y)
        sk_fit = time.perf_counter() - start
        sk_proba = np.column_stack(
            [
                p[:, list(c).index(1)] if 1 in c else np.zeros(p.shape[0])
                for p, c in zip(forest.predict_proba(Xt), forest.classes_)
            ]
        )
        sk_mb = np.mean([e.tree_.value.nbytes for e in forest.estimators_]) / 1e6
        del forest
        ours = create_method("rf", overrides={"n_estimators": args.trees})  # imports outside the timing
        start = time.perf_counter()
        ours.fit(X, Y, context=FitContext(seed=0, progress=False))
        rf_fit = time.perf_counter() - start
        rf_mb = np.mean([compact_bytes(t) for t in ours.trees_]) / 1e6
        diff = np.abs(ours.predict_proba(Xt) - sk_proba).max()
        print(
            f"{name:<11} {Y.shape[1]:>6} {args.trees:>6} {sk_fit:>14.1f} {rf_fit:>9.1f} {sk_mb:>16.1f} {rf_mb:>11.2f}"
            f" {sk_mb * 100 / 1e3:>16.1f} {rf_mb * 100 / 1e3:>11.2f} {diff:>11.1e}"
        )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
