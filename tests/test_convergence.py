"""The ConvergenceWarnings of a fit that collapses or whose margin is too small."""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from sklearn_contrastive import ContrastiveEmbedder


class _Collapsed(nn.Module):
    """Every row maps to the origin, whatever the weights."""

    def __init__(self, n_features_in):
        super().__init__()
        self.linear = nn.Linear(n_features_in, 2)

    def forward(self, X):
        return 0.0 * self.linear(X)


def test_collapsed_embeddings_warn_with_advice(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**{**fast_params, "n_components": 2}, module=_Collapsed)
    with pytest.warns(ConvergenceWarning, match="collapsed to a point.*similar_weight"):
        est.set_params(normalize=False).fit(X, y)


def test_margin_below_every_distance_warns_with_advice(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **{**fast_params, "max_epochs": 2}, normalize=False, margin=1e-6, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="No dissimilar pair came within"):
        est.fit(X * 100, y)


def test_a_healthy_fit_does_not_warn(iris, fast_params):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)
