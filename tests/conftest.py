"""Fixtures shared by the test modules."""

import pytest
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler


@pytest.fixture
def iris():
    """Iris, standardised: 150 rows, 4 features, 3 classes."""
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y
