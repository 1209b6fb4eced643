"""Sparse input (scipy.sparse, pandas sparse columns).

A sparse fit trains on the same float32 batches as the densified matrix, so
its weights are the densified fit's bit for bit; ``transform`` hands sparse
rows to the default MLP as torch sparse tensors, which gives the densified
embeddings to float32 rounding. No densified copy of the whole matrix (or
DataFrame) is made.
"""

import re
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_digits
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from torch import nn

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive._sources import SPARSE_BATCH_DENSITY, RowSource
from sklearn_contrastive.networks import MLP

FAST = dict(n_components=4, hidden_layer_sizes=(16,), max_epochs=3, random_state=0)
#: Sparse products sum the terms in another order than dense ones.
FLOAT32_ROUNDING = dict(rtol=0, atol=1e-5)


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
    # The same weights: the same embeddings of dense rows, bit for bit.
    np.testing.assert_array_equal(sparse.transform(X), dense.transform(X))
    assert sparse.loss_curve_ == dense.loss_curve_
    np.testing.assert_allclose(
        sparse.transform(to_sparse(X)), dense.transform(X), **FLOAT32_ROUNDING
    )


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


@pytest.mark.parametrize("value", [np.nan, 1e39])  # 1e39: inf in float32
@pytest.mark.parametrize("canonical", [True, False])
def test_a_non_finite_sparse_value_is_named(value, canonical):
    """Found among the stored values (canonical CSR), or by densifying chunks
    (a CSR with unsorted columns, which the stored order would not rank)."""
    X, y = _digits()
    X[17, 5] = value
    X = sp.csr_matrix(X)
    if not canonical:
        X.indices[X.indptr[17] : X.indptr[18]] = X.indices[X.indptr[17] : X.indptr[18]][
            ::-1
        ].copy()
        X.data[X.indptr[17] : X.indptr[18]] = X.data[X.indptr[17] : X.indptr[18]][
            ::-1
        ].copy()
        X.has_sorted_indices = False
        assert not X.has_canonical_format
    with pytest.raises(ValueError, match=re.escape("row 17, column 5")):
        ContrastiveEmbedder(**FAST).fit(X, y)


# -- the default MLP on sparse batches ------------------------------------------


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support")
@pytest.mark.parametrize("layout", ["csr", "coo"])
@pytest.mark.parametrize("hidden", [(8,), ()], ids=["hidden", "linear"])
def test_the_mlp_multiplies_a_sparse_batch_as_the_dense_one(layout, hidden):
    """Forward and weight gradients of a sparse batch equal the densified
    batch's to float32 rounding (no hidden layer: the first layer is the
    output one)."""
    X, _ = _digits()
    dense = torch.from_numpy(X[:64])
    batch = dense.to_sparse_csr() if layout == "csr" else dense.to_sparse()
    torch.manual_seed(0)
    net = MLP(64, hidden_layer_sizes=hidden, n_components=3)
    gradients = []
    for rows in (dense, batch):
        net.zero_grad()
        out = net(rows)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        gradients.append((out.detach(), net.layers[0].weight.grad.clone()))
    (out_dense, grad_dense), (out_sparse, grad_sparse) = gradients
    torch.testing.assert_close(out_sparse, out_dense, **FLOAT32_ROUNDING)
    scale = grad_dense.abs().max().item()
    torch.testing.assert_close(grad_sparse, grad_dense, rtol=1e-4, atol=1e-6 * scale)


def _tfidf(n_docs=400):
    docs, y = _documents(n_docs=n_docs)
    return TfidfVectorizer(dtype=np.float32).fit_transform(docs), y


def test_transform_hands_sparse_rows_to_the_mlp_and_fit_dense_ones(monkeypatch):
    """Below SPARSE_BATCH_DENSITY of stored values transform's batches are
    sparse (the fit's, early stopping's included, are dense); above it, as
    digits' half zeros, dense."""
    X, y = _tfidf()
    assert X.nnz < SPARSE_BATCH_DENSITY * X.shape[0] * X.shape[1]
    layouts = []
    forward = MLP.forward

    def spy(self, batch):
        layouts.append(batch.layout)
        return forward(self, batch)

    monkeypatch.setattr(MLP, "forward", spy)
    embedder = ContrastiveEmbedder(**FAST, early_stopping=True).fit(X, y)
    assert set(layouts) == {torch.strided}
    layouts.clear()
    embeddings = embedder.transform(X)
    assert set(layouts) == {torch.sparse_csr}
    np.testing.assert_allclose(
        embeddings, embedder.transform(X.toarray()), **FLOAT32_ROUNDING
    )
    digits, labels = _digits()
    embedder.set_params(early_stopping=False).fit(sp.csr_matrix(digits), labels)
    layouts.clear()
    embedder.transform(sp.csr_matrix(digits))
    assert set(layouts) == {torch.strided}


class _Linear(nn.Module):
    """A module that does not declare ``accepts_sparse``."""

    def __init__(self, n_features_in, n_components):
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_components)

    def forward(self, X):
        return self.linear(X)


def test_a_module_without_accepts_sparse_gets_densified_rows():
    X, y = _digits()
    params = {**FAST, "module": _Linear}
    sparse = ContrastiveEmbedder(**params).fit(sp.csr_matrix(X), y)
    dense = ContrastiveEmbedder(**params).fit(X, y)
    np.testing.assert_array_equal(
        sparse.transform(sp.csr_matrix(X)), dense.transform(X)
    )


# -- pandas DataFrames with sparse columns --------------------------------------


def _frame(X, mixed=False):
    """``X`` as a DataFrame of sparse columns; ``mixed``: two of them dense
    (float32 and float64), one sparse with fill value 1 (stored: the ones)."""
    frame = pd.DataFrame.sparse.from_spmatrix(
        sp.csr_matrix(X), columns=[f"pixel_{i}" for i in range(X.shape[1])]
    )
    if mixed:
        frame["pixel_5"] = X[:, 5]
        frame["pixel_6"] = X[:, 6].astype(np.float64)
        frame["pixel_7"] = pd.arrays.SparseArray(X[:, 7], fill_value=1.0)
    return frame


@pytest.mark.parametrize("mixed", [False, True], ids=["sparse", "mixed"])
def test_a_sparse_frame_fits_as_its_values(mixed):
    X, y = _digits()
    frame = _frame(X, mixed)
    if mixed:
        assert {str(dtype) for dtype in frame.dtypes[5:8]} == {
            "float32",
            "float64",
            "Sparse[float32, 1.0]",
        }
    sparse = ContrastiveEmbedder(**FAST).fit(frame, y)
    dense = ContrastiveEmbedder(**FAST).fit(X, y)
    assert list(sparse.feature_names_in_) == list(frame.columns)
    assert sparse.loss_curve_ == dense.loss_curve_
    dense_frame = pd.DataFrame(X, columns=frame.columns)
    np.testing.assert_array_equal(sparse.transform(dense_frame), dense.transform(X))
    np.testing.assert_allclose(
        sparse.transform(frame), dense.transform(X), **FLOAT32_ROUNDING
    )
    renamed = frame.rename(columns={"pixel_0": "other"})
    with pytest.raises(ValueError, match="feature names should match"):
        sparse.transform(renamed)


def test_partial_fit_on_sparse_frames():
    X, y = _digits()
    frame = _frame(X)
    sparse = ContrastiveEmbedder(**FAST).partial_fit(frame.iloc[:900], y[:900])
    sparse.partial_fit(frame.iloc[900:], y[900:])
    dense = ContrastiveEmbedder(**FAST).partial_fit(X[:900], y[:900])
    dense.partial_fit(X[900:], y[900:])
    dense_frame = pd.DataFrame(X, columns=frame.columns)
    np.testing.assert_array_equal(sparse.transform(dense_frame), dense.transform(X))


def test_a_sparse_frame_is_never_densified(monkeypatch):
    """Every way to densify the frame or a sparse column raises; fit and
    transform still work (the dense columns of a mixed frame are arrays)."""
    X, y = _digits()
    frame = _frame(X)

    def refuse(*args, **kwargs):
        raise AssertionError("densified")

    monkeypatch.setattr(pd.DataFrame, "__array__", refuse)
    monkeypatch.setattr(pd.DataFrame, "to_numpy", refuse)
    monkeypatch.setattr(pd.arrays.SparseArray, "__array__", refuse)
    monkeypatch.setattr(pd.arrays.SparseArray, "to_dense", refuse)
    monkeypatch.setattr(pd.arrays.SparseArray, "to_numpy", refuse, raising=False)
    with pytest.raises(AssertionError, match="densified"):
        np.asarray(frame)
    embedder = ContrastiveEmbedder(**FAST).fit(frame, y)
    assert embedder.transform(frame).shape == (len(X), 4)


def test_a_missing_value_in_a_sparse_frame_is_named():
    X, y = _digits()
    frame = _frame(X)
    column = X[:, 3].copy()
    column[11] = np.nan
    frame["pixel_3"] = pd.arrays.SparseArray(column, fill_value=0.0)
    with pytest.raises(ValueError, match=re.escape("NaN: row 11, column 3")):
        ContrastiveEmbedder(**FAST).fit(frame, y)


def test_a_non_numeric_column_of_a_sparse_frame_is_named():
    X, y = _digits()
    frame = _frame(X)
    frame["pixel_2"] = "a"
    with pytest.raises(
        ValueError, match=re.escape("Column 'pixel_2' (position 2) of the DataFrame")
    ):
        ContrastiveEmbedder(**FAST).fit(frame, y)


def test_column_scales_of_sparse_rows_are_the_densified_ones():
    """The scale warning's standard deviations, from the stored values only:
    np.std's of the densified float32 rows, for a subset and with duplicates."""
    X = sp.random(300, 40, density=0.1, format="csr", random_state=0) * 50
    X.data[::7] *= 1e3
    # Row 0's first column stored twice: densifying sums the two.
    with_duplicates = sp.csr_matrix(
        (
            np.insert(X.data, X.indptr[1], 1.5),
            np.insert(X.indices, X.indptr[1], X.indices[0]),
            np.r_[X.indptr[:1], X.indptr[1:] + 1],
        ),
        shape=X.shape,
    )
    assert with_duplicates.nnz == X.nnz + 1 and not with_duplicates.has_canonical_format
    rows = np.arange(0, 300, 3)
    for matrix in (X, with_duplicates):
        dense = matrix.astype(np.float32).toarray().astype(np.float64)
        source = RowSource(matrix)
        np.testing.assert_allclose(source.column_std(), dense.std(0), rtol=1e-12)
        np.testing.assert_allclose(
            source.subset(rows).column_std(), dense[rows].std(0), rtol=1e-12
        )
