"""Sparse input (scipy.sparse): rows densified a batch at a time.

The embeddings of a sparse fit equal those of the same rows densified, bit
for bit (the batches hold the same float32 values), and no densified copy of
the whole matrix is made.
"""

import re
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline

from sklearn_contrastive import ContrastiveEmbedder

FAST = dict(n_components=4, hidden_layer_sizes=(16,), max_epochs=3, random_state=0)


def _digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    X[X < 0.3] = 0.0  # about half zeros
    return X, y


@pytest.mark.parametrize("to_sparse", [sp.csr_matrix, sp.csc_matrix, sp.coo_array])
@pytest.mark.parametrize(
    "params, labelled",
    [({}, True), ({"early_stopping": True}, True), ({}, False)],
    ids=["labels", "early_stopping", "views"],
)
def test_a_sparse_fit_is_the_dense_fit(to_sparse, params, labelled):
    X, y = _digits()
    y = y if labelled else None
    sparse = ContrastiveEmbedder(**FAST, **params).fit(to_sparse(X), y)
    dense = ContrastiveEmbedder(**FAST, **params).fit(X, y)
    np.testing.assert_array_equal(sparse.transform(to_sparse(X)), dense.transform(X))
    np.testing.assert_array_equal(sparse.transform(X), dense.transform(X))
    assert sparse.loss_curve_ == dense.loss_curve_


def test_partial_fit_on_sparse_rows():
    X, y = _digits()
    sparse = ContrastiveEmbedder(**FAST).partial_fit(sp.csr_matrix(X[:900]), y[:900])
    sparse.partial_fit(sp.csr_matrix(X[900:]), y[900:])
    dense = ContrastiveEmbedder(**FAST).partial_fit(X[:900], y[:900])
    dense.partial_fit(X[900:], y[900:])
    np.testing.assert_array_equal(sparse.transform(X), dense.transform(X))


def _documents(n_docs=1500, vocabulary=15_000, n_classes=5, seed=0):
    """Documents of 40 words; each class draws half its words from its own
    slice of the vocabulary."""
    rng = np.random.default_rng(seed)
    y = rng.integers(n_classes, size=n_docs)
    docs = []
    for label in y:
        own = rng.integers(label * 1000, (label + 1) * 1000, size=20)
        common = rng.integers(0, vocabulary, size=20)
        docs.append(" ".join(f"w{i}" for i in np.r_[own, common]))
    return docs, y


def test_tfidf_pipeline_fits_without_densifying_the_matrix():
    docs, y = _documents()
    tfidf = TfidfVectorizer().fit(docs)
    X = tfidf.transform(docs)
    dense_bytes = X.shape[0] * X.shape[1] * 4
    assert X.shape[1] > 10_000
    # The first fit of a process allocates ~90 MB once (imports, caches).
    ContrastiveEmbedder(**FAST).fit(X[:100], y[:100])
    tracemalloc.start()
    pipe = make_pipeline(TfidfVectorizer(), ContrastiveEmbedder(**FAST)).fit(docs, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # NumPy's allocations (torch's are not traced): a densified batch of 256
    # rows (14 MB) and validation chunks, not a dense copy (82 MB here).
    # Measured: 28 MB.
    assert peak < 0.5 * dense_bytes
    assert pipe.transform(docs[:10]).shape == (10, 4)


def test_a_non_finite_sparse_value_is_named():
    X, y = _digits()
    X[17, 5] = np.nan
    with pytest.raises(ValueError, match=re.escape("row 17, column 5")):
        ContrastiveEmbedder(**FAST).fit(sp.csr_matrix(X), y)
