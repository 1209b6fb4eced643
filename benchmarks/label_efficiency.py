"""Learning with few or no labels on digits (issue 7's figures).

``semi``: keep a fraction of the training labels (stratified, at least two
rows per class) and compare 5-NN test accuracy of

(a) ContrastiveEmbedder fitted on the labelled rows only,
(b) ContrastiveEmbedder fitted on every training row, ``-1`` for the rest
    (``unlabeled_label=-1``: unlabelled rows train as SCARF views),
(c) scikit-learn's LabelSpreading (k-NN kernel) on the same rows, as a
    reference (its own predictions, it is a classifier),

the k-NN of (a) and (b) using the labelled training rows as its references.

``unsupervised``: ``fit(X)`` with no labels against PCA with the same output
dimension: 5-NN test accuracy (references: all training rows, labelled) and
KMeans adjusted Rand index on the test rows.

    python benchmarks/label_efficiency.py semi [--fractions 0.05 0.1] [--seeds 0 1 2]
    python benchmarks/label_efficiency.py unsupervised [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.semi_supervised import LabelSpreading

sys.path.insert(0, str(Path(__file__).parent))
from datasets import DATASETS  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder  # noqa: E402


def keep_labels(y, fraction, seed):
    """Boolean mask of the rows whose label is kept: ``fraction`` of each
    class, at least two rows."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        n_kept = max(2, round(fraction * len(rows)))
        keep[rng.choice(rows, n_kept, replace=False)] = True
    return keep


def knn_accuracy(train, y_train, test, y_test, k=5):
    return KNeighborsClassifier(k).fit(train, y_train).score(test, y_test)


def semi_supervised(X_train, X_test, y_train, y_test, fraction, seed, **params):
    """5-NN test accuracy of (a), (b) and (c) for one split and fraction."""
    keep = keep_labels(y_train, fraction, seed)
    labelled_only = ContrastiveEmbedder(random_state=seed, **params)
    labelled_only.fit(X_train[keep], y_train[keep])
    partial = ContrastiveEmbedder(random_state=seed, unlabeled_label=-1, **params)
    partial.fit(X_train, np.where(keep, y_train, -1))
    spreading = LabelSpreading(kernel="knn", n_neighbors=7)
    spreading.fit(X_train, np.where(keep, y_train, -1))
    return {
        "labelled rows": int(keep.sum()),
        "raw 5-NN": knn_accuracy(X_train[keep], y_train[keep], X_test, y_test),
        "(a) labelled only": knn_accuracy(
            labelled_only.transform(X_train[keep]),
            y_train[keep],
            labelled_only.transform(X_test),
            y_test,
        ),
        "(b) all rows, -1 for the rest": knn_accuracy(
            partial.transform(X_train[keep]),
            y_train[keep],
            partial.transform(X_test),
            y_test,
        ),
        "(c) LabelSpreading": spreading.score(X_test, y_test),
    }


def unsupervised(X_train, X_test, y_train, y_test, seed, **params):
    """5-NN accuracy and KMeans ARI of fit(X) without labels and of PCA."""
    n_classes = len(np.unique(y_train))
    embedder = ContrastiveEmbedder(random_state=seed, **params).fit(X_train)
    pca = PCA(n_components=embedder.n_components, random_state=seed).fit(X_train)
    results = {}
    for name, model in (
        ("raw", None),
        ("PCA", pca),
        ("ContrastiveEmbedder, no labels", embedder),
    ):
        train = X_train if model is None else model.transform(X_train)
        test = X_test if model is None else model.transform(X_test)
        clusters = KMeans(n_classes, n_init=10, random_state=seed).fit_predict(test)
        results[name] = (
            knn_accuracy(train, y_train, test, y_test),
            adjusted_rand_score(y_test, clusters),
        )
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=["semi", "unsupervised"])
    parser.add_argument("--dataset", default="digits", choices=list(DATASETS))
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-epochs", type=int, default=25)
    parser.add_argument("--corruption-rate", type=float, default=0.6)
    args = parser.parse_args(argv)
    params = {"max_epochs": args.max_epochs, "corruption_rate": args.corruption_rate}

    if args.study == "semi":
        for fraction in args.fractions:
            runs = [
                semi_supervised(*DATASETS[args.dataset](seed), fraction, seed, **params)
                for seed in args.seeds
            ]
            print(
                f"\n{fraction:.0%} of the labels kept, medians over seeds {args.seeds}"
            )
            print("| method | 5-NN test accuracy |\n|---|---|")
            for key in runs[0]:
                values = [run[key] for run in runs]
                print(f"| {key} | {statistics.median(values):.3f} |")
    else:
        runs = [
            unsupervised(*DATASETS[args.dataset](seed), seed, **params)
            for seed in args.seeds
        ]
        print(f"\nNo labels, medians over seeds {args.seeds}")
        print("| representation | 5-NN test accuracy | KMeans ARI (test) |")
        print("|---|---|---|")
        for key in runs[0]:
            accuracy = statistics.median(run[key][0] for run in runs)
            ari = statistics.median(run[key][1] for run in runs)
            print(f"| {key} | {accuracy:.3f} | {ari:.3f} |")


if __name__ == "__main__":
    main()
