"""Tests for sklearn_contrastive.views: SCARF-corrupted views of rows."""

import re

import numpy as np
import pytest

from sklearn_contrastive.views import scarf_corrupt


def _rows_and_pool(n_samples=50, n_features=10):
    """Rows and a pool with no value in common, so every replacement shows."""
    X = np.arange(n_samples * n_features, dtype=np.float32).reshape(n_samples, -1)
    pool = -1.0 - np.arange(30 * n_features, dtype=np.float32).reshape(30, -1)
    return X, pool


@pytest.mark.parametrize("corruption_rate", [0.1, 0.35, 0.6, 0.95])
def test_each_row_has_exactly_the_rate_of_features_replaced(corruption_rate):
    X, pool = _rows_and_pool()
    view = scarf_corrupt(X, corruption_rate, pool=pool, random_state=0)
    replaced = view != X
    assert (replaced.sum(axis=1) == round(corruption_rate * X.shape[1])).all()


def test_replacements_come_from_the_same_feature_of_the_pool():
    X, pool = _rows_and_pool()
    view = scarf_corrupt(X, 0.5, pool=pool, random_state=0)
    for row, column in zip(*np.nonzero(view != X), strict=True):
        assert view[row, column] in pool[:, column]


def test_replaced_features_vary_between_rows_and_draws():
    X, pool = _rows_and_pool()
    first = scarf_corrupt(X, 0.5, pool=pool, random_state=0) != X
    second = scarf_corrupt(X, 0.5, pool=pool, random_state=1) != X
    # Not the same columns in every row, nor the same in two draws.
    assert len({tuple(row) for row in first}) > 1
    assert (first != second).any()


def test_same_seed_same_view_and_input_untouched():
    X, pool = _rows_and_pool()
    before = X.copy()
    a = scarf_corrupt(X, 0.6, pool=pool, random_state=3)
    b = scarf_corrupt(X, 0.6, pool=pool, random_state=np.random.RandomState(3))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(X, before)
    assert a.dtype == X.dtype


def test_pool_defaults_to_the_rows_themselves():
    X, _ = _rows_and_pool()
    view = scarf_corrupt(X, 0.6, random_state=0)
    for column in range(X.shape[1]):
        assert np.isin(view[:, column], X[:, column]).all()


def test_rate_zero_returns_a_copy():
    X, pool = _rows_and_pool()
    view = scarf_corrupt(X, 0.0, pool=pool, random_state=0)
    np.testing.assert_array_equal(view, X)
    assert view is not X


@pytest.mark.parametrize("corruption_rate", [1.0, -0.1, 1.5])
def test_rate_out_of_range_is_refused(corruption_rate):
    X, _ = _rows_and_pool()
    with pytest.raises(
        ValueError, match=re.escape("corruption_rate must be in [0, 1)")
    ):
        scarf_corrupt(X, corruption_rate)


def test_pool_of_other_width_is_refused():
    X, _ = _rows_and_pool()
    with pytest.raises(ValueError, match=r"pool must be .* 10 features .*\(4, 3\)"):
        scarf_corrupt(X, 0.5, pool=np.zeros((4, 3)))
