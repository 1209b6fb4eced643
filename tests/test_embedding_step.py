"""embedding_part: which part of a fitted estimator the displays and scorers call.

A pipeline that ends with a classifier is embedded up to and including its last
ContrastiveEmbedder; everything else is returned as it is.
"""

import re

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive._embedding_step import embedding_part


@pytest.fixture
def embedder(iris):
    params = dict(n_components=4, hidden_layer_sizes=(16,), max_epochs=2)
    return ContrastiveEmbedder(**params, random_state=0).fit(*iris)


def test_transformers_are_returned_as_they_are(iris, embedder):
    X, _ = iris
    pipe = make_pipeline(StandardScaler().fit(X), embedder)
    pca = PCA(n_components=2).fit(X)
    for estimator in (embedder, pipe, pca):
        assert embedding_part(estimator, "caller") is estimator


def test_pipeline_ending_with_a_classifier_is_cut_after_the_embedder(iris, embedder):
    X, y = iris
    scaler = StandardScaler().fit(X)
    # The last embedder, not the last transformer: the Normalizer after it
    # is part of the classifier's input but not of the learnt embedding.
    steps = (scaler, embedder, Normalizer(), KNeighborsClassifier())
    pipe = make_pipeline(*steps).fit(X, y)
    part = embedding_part(pipe, "caller")
    assert [name for name, _ in part.steps] == ["standardscaler", "contrastiveembedder"]
    np.testing.assert_array_equal(part.transform(X), pipe[:2].transform(X))


def test_errors(iris, embedder):
    X, y = iris
    with pytest.raises(NotFittedError):
        embedding_part(
            make_pipeline(ContrastiveEmbedder(), KNeighborsClassifier()), "caller"
        )

    msg = (
        "caller needs a fitted ContrastiveEmbedder to embed X; got a Pipeline whose "
        "last step (KNeighborsClassifier) has no transform and whose top-level "
        "steps ['standardscaler', 'kneighborsclassifier'] include none. Pass a "
        "pipeline with a ContrastiveEmbedder among its top-level steps, or the "
        "part of this one that transforms (e.g. pipe[:-1])."
    )
    no_embedder = make_pipeline(StandardScaler(), KNeighborsClassifier()).fit(X, y)
    with pytest.raises(TypeError, match=re.escape(msg)):
        embedding_part(no_embedder, "caller")

    # Nested pipelines are not searched; the error says where to look.
    nested = make_pipeline(
        make_pipeline(StandardScaler().fit(X), embedder), KNeighborsClassifier()
    ).fit(X, y)
    with pytest.raises(TypeError, match=re.escape("among its top-level steps")):
        embedding_part(nested, "caller")
