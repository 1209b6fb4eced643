"""Fixtures shared by the test modules."""

import pytest
from sklearn.datasets import load_iris
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import _all_pairs_loss


@pytest.fixture
def iris():
    """Iris, standardised: 150 rows, 4 features, 3 classes."""
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture
def fast_params():
    """ContrastiveEmbedder settings small enough to fit iris in well under a second.

    A fresh dict each time: a test extends it (``{**fast_params, "max_epochs": 10}``)
    without touching another test's settings.
    """
    return dict(n_components=4, hidden_layer_sizes=(16,), max_epochs=5, batch_size=32)


@pytest.fixture
def pipeline_without_embedder(iris):
    """A fitted scaler + k-NN pipeline (no ContrastiveEmbedder), its rows and
    labels, and the start of the error that what needs an embedder raises."""
    X, y = iris
    pipe = make_pipeline(StandardScaler(), KNeighborsClassifier()).fit(X, y)
    message = (
        "needs a fitted ContrastiveEmbedder to embed X; got a Pipeline whose "
        "last step (KNeighborsClassifier) has no transform"
    )
    return pipe, X, y, message


@pytest.fixture(params=["condensed", "blocks"])
def loss_form(request, monkeypatch):
    """Which form ContrastiveLoss computes a batch's pairs with: the condensed
    one of small batches, or the blockwise one of large batches (forced on
    small ones, with blocks of a few rows)."""
    if request.param == "blocks":
        monkeypatch.setattr(_all_pairs_loss, "CONDENSED_UP_TO", 0)
        monkeypatch.setattr(_all_pairs_loss, "BLOCK_ELEMENTS", 16)
        monkeypatch.setattr(_all_pairs_loss, "MIN_BLOCK_ROWS", 2)
    return request.param
