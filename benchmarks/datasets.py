"""Data sets shared by the benchmark scripts.

Each loader returns ``X_train, X_test, y_train, y_test`` as float32, split
70/30 stratified with the given seed and standardised on the training part.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits, make_classification
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
    return _split_and_scale(np.hstack([X, noise]), y, seed)


DATASETS = {"digits": digits, "hard_synthetic": hard_synthetic}
