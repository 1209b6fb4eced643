"""The figures of the foundation issue: 5-NN test accuracy with defaults.

On digits and on the hard synthetic set (70/30 stratified split, seed 0):
raw features, a reference linear metric learner (NCA on digits; LDA on the
hard set, where NCA's O(n^2) memory per step is too slow) and
ContrastiveEmbedder with default parameters, with fit times.

    python benchmarks/foundation_figures.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.neighbors import KNeighborsClassifier, NeighborhoodComponentsAnalysis

sys.path.insert(0, str(Path(__file__).parent))
from datasets import DATASETS  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder  # noqa: E402


def knn_accuracy(Z_train, Z_test, y_train, y_test):
    return KNeighborsClassifier(5).fit(Z_train, y_train).score(Z_test, y_test)


def methods(name, seed):
    yield "raw features", None
    if name == "digits":
        yield "NCA", NeighborhoodComponentsAnalysis(random_state=seed)
    else:
        yield "LDA", LinearDiscriminantAnalysis()
    yield "ContrastiveEmbedder (defaults)", ContrastiveEmbedder(random_state=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    args = parser.parse_args(argv)
    print("| data | method | 5-NN test accuracy (median) | per seed | fit s |")
    print("|---|---|---|---|---|")
    for name in args.datasets:
        X_train, X_test, y_train, y_test = DATASETS[name](seed=0)
        results = {}
        for seed in args.seeds:
            for label, method in methods(name, seed):
                start = time.perf_counter()
                if method is None:
                    Z_train, Z_test = X_train, X_test
                else:
                    Z_train = method.fit(X_train, y_train).transform(X_train)
                    Z_test = method.transform(X_test)
                fit_time = time.perf_counter() - start
                acc = knn_accuracy(Z_train, Z_test, y_train, y_test)
                results.setdefault(label, []).append((acc, fit_time))
        for label, runs in results.items():
            accs = [acc for acc, _ in runs]
            print(
                f"| {name} | {label} | {statistics.median(accs):.3f} "
                f"| {', '.join(f'{a:.3f}' for a in accs)} "
                f"| {statistics.median(t for _, t in runs):.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
