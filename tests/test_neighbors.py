"""ContrastiveEmbedder.kneighbors: NearestNeighbors on the embeddings."""

import pickle
import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import NearestNeighbors

from sklearn_contrastive import ContrastiveEmbedder


@pytest.fixture
def fitted(iris, fast_params):
    X, y = iris
    return ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y), X


@pytest.mark.parametrize("n_neighbors", [1, 5, 40])
def test_kneighbors_is_nearest_neighbors_on_the_embeddings(fitted, n_neighbors):
    """Queries against a reference set give NearestNeighbors' output, bit for bit."""
    est, X = fitted
    reference, queries = X[:100], X[100:]
    dist, ind = est.kneighbors(queries, n_neighbors, reference=reference)

    index = NearestNeighbors(n_neighbors=n_neighbors).fit(est.transform(reference))
    expected_dist, expected_ind = index.kneighbors(est.transform(queries))
    assert_array_equal(dist, expected_dist)
    assert_array_equal(ind, expected_ind)
    assert dist.shape == ind.shape == (50, n_neighbors)


def test_kneighbors_defaults_match_nearest_neighbors_defaults(fitted):
    est, X = fitted
    dist, ind = est.kneighbors(X[100:], reference=X[:100])
    index = NearestNeighbors().fit(est.transform(X[:100]))
    expected_dist, expected_ind = index.kneighbors(est.transform(X[100:]))
    assert_array_equal(dist, expected_dist)
    assert_array_equal(ind, expected_ind)


def test_kneighbors_without_queries_excludes_each_reference_row_itself(fitted):
    """X=None: every reference row is a query, its own position left out."""
    est, X = fitted
    dist, ind = est.kneighbors(n_neighbors=3, reference=X)

    index = NearestNeighbors(n_neighbors=3).fit(est.transform(X))
    expected_dist, expected_ind = index.kneighbors()
    assert_array_equal(dist, expected_dist)
    assert_array_equal(ind, expected_ind)
    assert not (ind == np.arange(len(X))[:, None]).any()


def test_kneighbors_return_distance_false_gives_the_indices_only(fitted):
    est, X = fitted
    ind = est.kneighbors(X[:10], 4, False, reference=X)
    assert_array_equal(ind, est.kneighbors(X[:10], 4, reference=X)[1])


def test_kneighbors_accepts_dataframes_with_the_fit_feature_names(iris, fast_params):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = ContrastiveEmbedder(**fast_params, random_state=0).fit(frame, y)
    dist, ind = est.kneighbors(frame.iloc[:5], 2, reference=frame)
    assert_array_equal(ind[:, 0], np.arange(5))  # each row is its own nearest


def test_kneighbors_keeps_nothing_so_the_pickle_is_unchanged(fitted):
    est, X = fitted
    before, attributes = pickle.dumps(est), set(vars(est))
    est.kneighbors(X[:10], reference=X)
    est.kneighbors(reference=X)
    assert set(vars(est)) == attributes
    assert len(pickle.dumps(est)) == len(before)


def test_kneighbors_before_fit_is_refused():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        ContrastiveEmbedder().kneighbors(np.zeros((2, 3)), reference=np.zeros((4, 3)))


def test_kneighbors_needs_reference(fitted):
    est, X = fitted
    msg = "kneighbors needs reference, the rows to search"
    with pytest.raises(ValueError, match=msg):
        est.kneighbors(X[:5])


@pytest.mark.parametrize(
    "X_slice, n_neighbors, msg",
    [
        (slice(0, 5), 11, "n_neighbors=11 is more than the 10 reference rows. "),
        (None, 10, "n_neighbors=10 is more than the 9 other reference rows (X=None)"),
    ],
)
def test_kneighbors_refuses_more_neighbours_than_reference_rows(
    fitted, X_slice, n_neighbors, msg
):
    est, X = fitted
    queries = None if X_slice is None else X[X_slice]
    with pytest.raises(ValueError, match=re.escape(msg)):
        est.kneighbors(queries, n_neighbors, reference=X[:10])


@pytest.mark.parametrize("n_neighbors", [0, -1])
def test_kneighbors_refuses_non_positive_n_neighbors(fitted, n_neighbors):
    est, X = fitted
    with pytest.raises(ValueError, match="n_neighbors == .*, must be >= 1"):
        est.kneighbors(X[:5], n_neighbors, reference=X)


def test_kneighbors_refuses_a_float_n_neighbors(fitted):
    est, X = fitted
    with pytest.raises(TypeError, match="n_neighbors must be an instance of int"):
        est.kneighbors(X[:5], 2.0, reference=X)


def test_kneighbors_refuses_reference_rows_with_other_features(fitted):
    est, X = fitted
    msg = "reference has 3 features, but the estimator was fitted on 4"
    with pytest.raises(ValueError, match=msg):
        est.kneighbors(X[:5], reference=X[:, :3])
    with pytest.raises(ValueError, match=msg):
        est.kneighbors(X[:5], reference=X[:, :3].tolist())


def test_kneighbors_refuses_queries_with_other_features(fitted):
    est, X = fitted
    msg = "X has 3 features, but ContrastiveEmbedder is expecting 4 features"
    with pytest.raises(ValueError, match=msg):
        est.kneighbors(X[:5, :3], reference=X)
