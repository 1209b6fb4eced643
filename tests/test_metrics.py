"""Retrieval metrics against brute-force oracles over the full distance matrix."""

import re

import numpy as np
import pytest

from sklearn_contrastive import metrics
from sklearn_contrastive.metrics import mean_average_precision_at_r, precision_at_k


def _ranked_others(X):
    """For each row, the other rows by increasing distance (no ties here)."""
    distances = np.linalg.norm(X[:, None] - X[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    return np.argsort(distances, axis=1)[:, :-1]


def _oracle_precision_at_k(X, y, k):
    ranked = _ranked_others(X)
    scores = [
        np.mean(y[ranked[i, :k]] == y[i])
        for i in range(len(y))
        if np.sum(y == y[i]) > 1
    ]
    return np.mean(scores) if scores else np.nan


def _oracle_map_at_r(X, y):
    ranked = _ranked_others(X)
    scores = []
    for i in range(len(y)):
        r = np.sum(y == y[i]) - 1
        if r == 0:
            continue
        hits, total = 0, 0.0
        for position in range(1, r + 1):
            if y[ranked[i, position - 1]] == y[i]:
                hits += 1
                total += hits / position
        scores.append(total / r)
    return np.mean(scores) if scores else np.nan


@pytest.fixture(params=[0, 1, 2])
def data(request):
    rng = np.random.default_rng(request.param)
    y = rng.integers(0, 4, size=60)
    X = rng.normal(size=(60, 3)) + y[:, None] * rng.uniform(0, 1.5)
    y[0] = 9  # a class with a single member
    return X, y


@pytest.mark.parametrize("k", [1, 3, 10])
def test_precision_at_k_matches_the_oracle(data, k):
    X, y = data
    assert precision_at_k(X, y, k=k) == pytest.approx(_oracle_precision_at_k(X, y, k))


def test_map_at_r_matches_the_oracle(data):
    X, y = data
    assert mean_average_precision_at_r(X, y) == pytest.approx(_oracle_map_at_r(X, y))


def test_chunking_does_not_change_the_result(data, monkeypatch):
    X, y = data
    expected = (precision_at_k(X, y, k=3), mean_average_precision_at_r(X, y))
    monkeypatch.setattr(metrics, "_CHUNK_ENTRIES", 7)
    assert (precision_at_k(X, y, k=3), mean_average_precision_at_r(X, y)) == (
        pytest.approx(expected[0]),
        pytest.approx(expected[1]),
    )


def test_duplicated_rows_never_retrieve_themselves():
    """Three identical rows of one class: each finds the two others."""
    X = np.array([[0.0], [0.0], [0.0], [5.0], [5.1]])
    y = np.array([0, 0, 0, 1, 1])
    assert precision_at_k(X, y, k=1) == 1.0
    # k=2: class 0 rows find 2 of 2, class 1 rows 1 of 2 (R = 1 < k).
    assert precision_at_k(X, y, k=2) == pytest.approx((3 * 1.0 + 2 * 0.5) / 5)
    assert mean_average_precision_at_r(X, y) == 1.0


def test_singleton_classes_are_left_out():
    X = np.array([[0.0], [0.1], [5.0]])
    y = np.array([0, 0, 1])  # row 2 has nothing relevant to retrieve: skipped
    assert precision_at_k(X, y) == 1.0
    assert np.isnan(precision_at_k(X, [0, 1, 2]))
    assert np.isnan(mean_average_precision_at_r(X, [0, 1, 2]))


def test_perfect_and_reversed_rankings():
    X = np.array([[0.0], [0.1], [10.0], [10.1]])
    assert mean_average_precision_at_r(X, [0, 0, 1, 1]) == 1.0
    assert mean_average_precision_at_r(X, [0, 1, 0, 1]) == 0.0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=re.escape("between 1 and n_samples - 1 = 2")):
        precision_at_k([[0.0], [1.0], [2.0]], [0, 0, 1], k=3)
    with pytest.raises(ValueError, match="needs at least 2 rows; got 1"):
        mean_average_precision_at_r([[0.0]], [0])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        precision_at_k([[0.0], [1.0]], [0, 0, 1])
    with pytest.raises(ValueError, match=re.escape("y must be 1-D class labels")):
        precision_at_k([[0.0], [1.0]], [[0], [0]])
    with pytest.raises(ValueError, match="Input contains NaN"):
        precision_at_k([[np.nan], [1.0]], [0, 0])
