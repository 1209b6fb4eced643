"""Retrieval metrics on embeddings with class labels.

Every row is a query against all the *other* rows of the same set (leave one
out): its neighbours are ranked by Euclidean distance, and a neighbour is
relevant when it shares the query's label. Neighbours come from
:class:`sklearn.neighbors.NearestNeighbors`, a chunk of queries at a time, so
memory is O(chunk x k), never ``n_samples x n_samples``, and no faiss is
needed.

Queries whose class has no other member have nothing to retrieve; they are
left out of the mean (the metrics are undefined for them). Neighbours at
equal distance are ranked in the order the neighbour search returns them.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_array, check_consistent_length

__all__ = ["mean_average_precision_at_r", "precision_at_k"]

#: Neighbour indices held at once: bounds memory whatever ``n_samples``.
_CHUNK_ENTRIES = 2**20


def _check_embeddings(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = check_array(X, dtype=[np.float32, np.float64])
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D class labels; got shape {y.shape}.")
    check_consistent_length(X, y)
    if len(y) < 2:
        raise ValueError(
            f"Leave-one-out retrieval needs at least 2 rows; got {len(y)}."
        )
    return X, y


def _leave_one_out_neighbors(
    X: np.ndarray, n_neighbors: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(rows, neighbors)``: for each query row, its ``n_neighbors``
    nearest other rows, nearest first, one chunk of queries at a time."""
    index = NearestNeighbors().fit(X)
    chunk = max(1, _CHUNK_ENTRIES // (n_neighbors + 1))
    for start in range(0, len(X), chunk):
        rows = np.arange(start, min(start + chunk, len(X)))
        # (chunk, n_neighbors + 1): the query itself is normally among them.
        found = index.kneighbors(
            X[rows], n_neighbors=n_neighbors + 1, return_distance=False
        )
        # Drop the query itself wherever it is (duplicates may outrank it);
        # when it is absent, the last neighbour goes instead.
        is_self = found == rows[:, None]
        keep = np.argsort(is_self, axis=1, kind="stable")[:, :n_neighbors]
        yield rows, np.take_along_axis(found, keep, axis=1)


def precision_at_k(X, y, *, k=1):
    """Mean fraction of each row's ``k`` nearest other rows that share its label.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Embeddings.
    y : array-like of shape (n_samples,)
        Class labels.
    k : int, default=1
        Neighbours per query; at most ``n_samples - 1``.

    Returns
    -------
    precision : float
        In ``[0, 1]``; ``nan`` when no class has two members.

    Examples
    --------
    >>> from sklearn_contrastive.metrics import precision_at_k
    >>> precision_at_k([[0.0], [0.1], [5.0], [5.1]], [0, 0, 1, 1])
    1.0
    """
    X, y = _check_embeddings(X, y)
    if not 1 <= k <= len(y) - 1:
        raise ValueError(
            f"k must be between 1 and n_samples - 1 = {len(y) - 1}; got {k}."
        )
    _, encoded, counts = np.unique(y, return_inverse=True, return_counts=True)
    has_relevant = counts[encoded] > 1
    total = 0.0
    for rows, neighbors in _leave_one_out_neighbors(X, k):
        relevant = encoded[neighbors] == encoded[rows, None]
        total += relevant.mean(axis=1)[has_relevant[rows]].sum()
    n_queries = int(has_relevant.sum())
    return float(total / n_queries) if n_queries else float("nan")


def mean_average_precision_at_r(X, y):
    r"""Mean average precision at R (MAP@R) of Musgrave et al. (2020).

    For a query of a class with ``R`` other members, its ``R`` nearest other
    rows are ranked and

    .. math::

        \mathrm{AP@R} = \frac{1}{R} \sum_{i=1}^{R} P(i) \, \mathrm{rel}(i)

    where ``rel(i)`` says whether the ``i``-th neighbour shares the query's
    label and ``P(i)`` is the precision among the first ``i``. It rewards
    ranking *all* same-class rows first, not only the nearest one, so it
    moves more smoothly during training than precision@1.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Embeddings.
    y : array-like of shape (n_samples,)
        Class labels.

    Returns
    -------
    map_at_r : float
        In ``[0, 1]``; ``nan`` when no class has two members.

    References
    ----------
    .. [1] K. Musgrave, S. Belongie and S.-N. Lim, "A Metric Learning Reality
       Check", ECCV 2020.

    Examples
    --------
    >>> from sklearn_contrastive.metrics import mean_average_precision_at_r
    >>> mean_average_precision_at_r([[0.0], [0.1], [0.3], [0.14]], [0, 0, 1, 1])
    0.5
    """
    X, y = _check_embeddings(X, y)
    _, encoded, counts = np.unique(y, return_inverse=True, return_counts=True)
    r = counts[encoded] - 1  # (n_samples,) relevant rows per query
    if r.max() == 0:
        return float("nan")
    total = 0.0
    for rows, neighbors in _leave_one_out_neighbors(X, int(r.max())):
        r_rows = r[rows, None]
        positions = np.arange(1, neighbors.shape[1] + 1)
        # Only the first R neighbours of each query count.
        relevant = (encoded[neighbors] == encoded[rows, None]) & (positions <= r_rows)
        precision = np.cumsum(relevant, axis=1) / positions
        with np.errstate(invalid="ignore", divide="ignore"):
            average = (precision * relevant).sum(axis=1) / r_rows[:, 0]
        total += average[r_rows[:, 0] > 0].sum()
    return float(total / int((r > 0).sum()))
