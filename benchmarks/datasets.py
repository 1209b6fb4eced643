"""Data sets shared by the benchmark scripts.

Each loader returns ``X_train, X_test, y_train, y_test`` as float32, split
70/30 stratified with the given seed and standardised on the training part.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_wine,
    make_classification,
)
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def _split_and_scale(X, y, seed):
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(X_train)
    return (
        scaler.transform(X_train).astype(np.float32),
        scaler.transform(X_test).astype(np.float32),
        y_train,
        y_test,
    )


def digits(seed=0):
    """scikit-learn's 8x8 digits: 1,797 rows, 64 features, 10 classes."""
    X, y = load_digits(return_X_y=True)
    return _split_and_scale(X, y, seed)


def hard_synthetic(seed=0, n_samples=20_000):
    """The noisy 10-class set of the foundation issue.

    ``make_classification`` with 10 informative of 100 features and two
    clusters per class, plus 50 columns of N(0, 10^2) noise; 150 features.
    Raw 5-NN reaches about 0.16, 5-NN on the 10 informative columns 0.785.
    """
    return _split_and_scale(*hard_synthetic_unscaled(n_samples), seed)


def hard_synthetic_unscaled(n_samples=20_000):
    """``hard_synthetic``'s rows before the split and the scaler."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=100,
        n_informative=10,
        n_redundant=0,
        n_classes=10,
        n_clusters_per_class=2,
        random_state=0,
    )
    noise = np.random.default_rng(0).normal(0.0, 10.0, size=(n_samples, 50))
    return np.hstack([X, noise]), y


def wine(seed=0):
    """scikit-learn's wine recognition data: 178 rows, 13 features, 3 classes."""
    X, y = load_wine(return_X_y=True)
    return _split_and_scale(X, y, seed)


def breast_cancer(seed=0):
    """scikit-learn's breast cancer data: 569 rows, 30 features, 2 classes."""
    X, y = load_breast_cancer(return_X_y=True)
    return _split_and_scale(X, y, seed)


def gaussian_classes(n_samples, n_features=50, n_classes=10, seed=0, chunk=100_000):
    """``n_classes`` Gaussian blobs in float32, generated ``chunk`` rows at a time.

    Class means are drawn from N(0, 1) per feature, rows are their class mean
    plus N(0, 1) noise. Filling a preallocated array chunk by chunk keeps the
    temporaries at ``chunk x n_features``, so generating 1M rows costs little
    more memory than the data itself; the chunk size does not change the data.
    Not split or scaled: the scale benchmark trains on all rows.
    """
    label_rng, noise_rng = (np.random.default_rng([seed, i]) for i in range(2))
    means = label_rng.standard_normal((n_classes, n_features), dtype=np.float32)
    y = label_rng.integers(n_classes, size=n_samples)
    X = np.empty((n_samples, n_features), dtype=np.float32)
    for start in range(0, n_samples, chunk):
        rows = slice(start, min(start + chunk, n_samples))
        noise_rng.standard_normal(out=X[rows], dtype=np.float32)
        X[rows] += means[y[rows]]
    return X, y


def many_classes(n_samples=8_000):
    """A many-class set for the open-set benchmark: 40 classes, 100 features.

    ``make_classification`` with 12 informative of 60 features and one
    cluster per class, plus 40 columns of N(0, 10^2) noise (loud: ten times
    the informative columns' scale). Not split or scaled: see ``OPEN_SET``.
    """
    X, y = make_classification(
        n_samples=n_samples,
        n_features=60,
        n_informative=12,
        n_redundant=0,
        n_classes=40,
        n_clusters_per_class=1,
        random_state=0,
    )
    noise = np.random.default_rng(0).normal(0.0, 10.0, size=(n_samples, 40))
    return np.hstack([X, noise]), y


def _divide_by_16(X):
    return X / 16


def digits_open_set():
    """Digits for the open-set protocol: pixels scaled to [0, 1] (``X / 16``),
    digits 0-4 seen in fit, 5-9 unseen."""
    from sklearn.preprocessing import FunctionTransformer

    X, y = load_digits(return_X_y=True)
    return X, y, np.arange(5), FunctionTransformer(_divide_by_16)


def many_classes_open_set():
    """The many-class set for the open-set protocol: standardised, classes
    0-19 seen in fit, 20-39 unseen."""
    X, y = many_classes()
    return X, y, np.arange(20), StandardScaler()


#: Open-set protocols: ``(X, y, seen classes, scaler)``, unscaled; the
#: scaler is fitted on the rows a method is fitted on.
OPEN_SET = {"digits": digits_open_set, "many_classes": many_classes_open_set}


DATASETS = {
    "digits": digits,
    "hard_synthetic": hard_synthetic,
    "wine": wine,
    "breast_cancer": breast_cancer,
}
