"""Retrieval quality on digits: raw features, NCA and ContrastiveEmbedder.

Fits on the 70 % training split (standardised), then scores the 30 % test
split two ways: leave one out among the test rows, and test rows as queries
against the training rows as the gallery. Reports MAP@R, precision@1 and
5-NN accuracy; the embedder's figures are medians over seeds.

    python benchmarks/retrieval_figures.py [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from sklearn.neighbors import NeighborhoodComponentsAnalysis

sys.path.insert(0, str(Path(__file__).parent))
from datasets import DATASETS  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder  # noqa: E402
from sklearn_contrastive.metrics import (  # noqa: E402
    knn_accuracy,
    mean_average_precision_at_r,
    precision_at_k,
)


def scores(train, test, y_train, y_test):
    gallery = dict(X_reference=train, y_reference=y_train)
    return {
        "MAP@R (test, leave one out)": mean_average_precision_at_r(test, y_test),
        "P@1 (test, leave one out)": precision_at_k(test, y_test, k=1),
        "MAP@R (test vs train)": mean_average_precision_at_r(test, y_test, **gallery),
        "P@1 (test vs train)": precision_at_k(test, y_test, k=1, **gallery),
        "5-NN accuracy (test vs train)": knn_accuracy(test, y_test, k=5, **gallery),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--dataset", default="digits", choices=sorted(DATASETS))
    args = parser.parse_args(argv)
    X_train, X_test, y_train, y_test = DATASETS[args.dataset](0)

    rows = {"raw features": scores(X_train, X_test, y_train, y_test)}
    nca = NeighborhoodComponentsAnalysis(random_state=0).fit(X_train, y_train)
    rows["NCA"] = scores(nca.transform(X_train), nca.transform(X_test), y_train, y_test)
    runs = []
    for seed in args.seeds:
        embedder = ContrastiveEmbedder(random_state=seed).fit(X_train, y_train)
        runs.append(
            scores(
                embedder.transform(X_train),
                embedder.transform(X_test),
                y_train,
                y_test,
            )
        )
    rows["ContrastiveEmbedder"] = {
        name: statistics.median(run[name] for run in runs) for name in runs[0]
    }

    names = list(rows["raw features"])
    print(f"# {args.dataset}; embedder: median over seeds {args.seeds}")
    print("| representation | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for representation, values in rows.items():
        cells = " | ".join(f"{values[name]:.3f}" for name in names)
        print(f"| {representation} | {cells} |")


if __name__ == "__main__":
    main()
