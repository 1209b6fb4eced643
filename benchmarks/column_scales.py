"""What unscaled columns cost, and the ratio ``fit`` warns on (issue 16).

For each data set, the 5-NN test accuracy after ``ContrastiveEmbedder()``
(defaults, ``random_state=0``) fitted on the columns as they are and after a
``StandardScaler``, beside ``_scales.column_scale_ratio`` of the training
rows (largest column standard deviation over the median one), which ``fit``
warns about above ``_scales.MAX_SCALE_RATIO``:

* ``digits``: the raw pixels, 0-16 (their scales carry meaning);
* ``digits_x1000``: every other pixel column x1000 (grams next to
  milligrams);
* ``hard_unscaled``: the hard synthetic set without its scaler
  (``datasets.hard_synthetic_unscaled``: 50 noise columns of ten times the
  informative ones' scale).

70/30 stratified split, seed 0.

    python benchmarks/column_scales.py [--datasets digits digits_x1000 hard_unscaled]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).parent))
from datasets import hard_synthetic_unscaled  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder  # noqa: E402
from sklearn_contrastive._scales import (  # noqa: E402
    MAX_SCALE_RATIO,
    column_scale_ratio,
)


def _digits():
    return load_digits(return_X_y=True)


def _digits_x1000():
    X, y = load_digits(return_X_y=True)
    X = X.copy()
    X[:, ::2] *= 1000
    return X, y


DATASETS = {
    "digits": _digits,
    "digits_x1000": _digits_x1000,
    "hard_unscaled": hard_synthetic_unscaled,
}


def knn_accuracy(X_train, X_test, y_train, y_test, scale: bool, **params) -> float:
    """5-NN test accuracy after the embedding (after a StandardScaler if
    ``scale``)."""
    if scale:
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    X_train, X_test = X_train.astype(np.float32), X_test.astype(np.float32)
    embedder = ContrastiveEmbedder(random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        embedder.fit(X_train, y_train)
    knn = KNeighborsClassifier(n_neighbors=5).fit(embedder.transform(X_train), y_train)
    return float(knn.score(embedder.transform(X_test), y_test))


def measure(name: str, **params) -> dict:
    X, y = DATASETS[name]()
    split = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    ratio, _ = column_scale_ratio(split[0])
    return {
        "ratio": ratio,
        "warned": ratio > MAX_SCALE_RATIO,
        "as_is": knn_accuracy(*split, scale=False, **params),
        "scaled": knn_accuracy(*split, scale=True, **params),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS)
    )
    args = parser.parse_args(argv)
    print("| data | scale ratio | warned | 5-NN as is | 5-NN after StandardScaler |")
    print("|---|---|---|---|---|")
    results = {}
    for name in args.datasets:
        r = results[name] = measure(name)
        print(
            f"| {name} | {r['ratio']:.1f} | {'yes' if r['warned'] else 'no'} "
            f"| {r['as_is']:.3f} | {r['scaled']:.3f} |",
            flush=True,
        )
    return results


if __name__ == "__main__":
    main()
