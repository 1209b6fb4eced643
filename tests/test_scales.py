"""Columns of very different scales are warned about at fit (issue 16, item 8)."""

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive._scales import MAX_SCALE_RATIO, column_scale_ratio

MESSAGE = "The columns of X differ widely in scale"


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300].astype(np.float32), y[:300]


def test_columns_in_grams_and_millimetres_are_warned_about(digits, fast_params):
    X, y = digits
    X = X.copy()
    X[:, ::2] *= 1000
    ratio, column = column_scale_ratio(X)
    assert ratio > 100 and column % 2 == 0
    with pytest.warns(UserWarning, match=re.escape(MESSAGE)) as caught:
        ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)
    message = str(caught[0].message)
    assert f"column {column}'s" in message and "StandardScaler" in message
    # The warning points at the caller's line, not into the package.
    assert caught[0].filename == __file__


def test_loud_noise_columns_are_warned_about(fast_params):
    """The hard synthetic set's recipe: noise ten times the signal's scale."""
    rng = np.random.default_rng(0)
    y = np.arange(200) % 4
    X = np.hstack([rng.normal(y[:, None], 1.0, (200, 10)), rng.normal(0, 10, (200, 5))])
    assert column_scale_ratio(X)[0] > MAX_SCALE_RATIO
    with pytest.warns(UserWarning, match=re.escape(MESSAGE)):
        ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)


@pytest.mark.parametrize("scaled", [False, True])
def test_pixels_and_standardised_columns_are_not(digits, fast_params, scaled):
    """Raw pixels (ratio 1.5: their scales carry meaning) and standardised
    columns fit without the warning."""
    X, y = digits
    model = ContrastiveEmbedder(**fast_params, random_state=0)
    if scaled:
        X = X.copy()
        X[:, ::2] *= 1000
        model = make_pipeline(StandardScaler(), model)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=re.escape(MESSAGE))
        model.fit(X, y)


def test_constant_and_single_columns_give_ratio_one():
    assert column_scale_ratio(np.ones((5, 3))) == (1.0, 0)
    assert column_scale_ratio(np.arange(5.0)[:, None]) == (1.0, 0)
    X = np.column_stack([np.zeros(6), np.arange(6.0), 100 * np.arange(6.0)])
    ratio, column = column_scale_ratio(X)
    # The constant column is left out of the median.
    assert column == 2 and ratio == pytest.approx(100 / 50.5)
