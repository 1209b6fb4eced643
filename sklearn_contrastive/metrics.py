"""Retrieval metrics on embeddings with class labels, and scorers built on them.

Each query row's neighbours among the reference rows are ranked by Euclidean
distance; a neighbour is *relevant* when it shares the query's label.

* **Leave one out** (``X_reference=None``): every row of ``X`` is a query
  against all the *other* rows of ``X``. This is how a fitted embedding is
  scored on one labelled set, e.g. a test fold in ``GridSearchCV``.
* **Query vs reference**: the rows of ``X`` are queries against the rows of
  ``X_reference`` (a gallery, a database), as in retrieval.

Neighbours come from :class:`sklearn.neighbors.NearestNeighbors`, a chunk of
queries at a time, so memory is O(chunk x k), never ``n x n``, and no faiss is
needed.

Conventions, the same in every function:

* **Ties.** Neighbours at exactly the same distance are ranked by their row
  number in the reference set, so every metric is deterministic. (A query row
  that ties at the cut-off position is re-ranked over all reference rows, so
  this holds exactly, not only among the neighbours first returned.)
* **Queries with nothing to retrieve** (no other row of their class in the
  reference set) are left out of precision@k, recall@k, R-precision and
  MAP@R, for which they are undefined; a metric is ``nan`` when no query is
  left. k-NN accuracy counts them (as wrong), as
  :meth:`KNeighborsClassifier.score <sklearn.neighbors.KNeighborsClassifier.score>`
  would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from sklearn.metrics import euclidean_distances
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_array, check_consistent_length

from ._embedding_step import embedding_part

__all__ = [
    "knn_accuracy",
    "make_retrieval_scorer",
    "mean_average_precision_at_r",
    "precision_at_k",
    "r_precision",
    "recall_at_k",
]

#: Neighbour indices held at once: bounds memory whatever ``n_samples``.
_CHUNK_ENTRIES = 2**20


class _Retrieval:
    """Validated queries and references, and their ranked neighbours."""

    def __init__(self, X, y, X_reference, y_reference):
        self.X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        self.y = _check_labels(y, "y")
        check_consistent_length(self.X, self.y)
        self.leave_one_out = X_reference is None
        if self.leave_one_out:
            if y_reference is not None:
                raise ValueError(
                    "y_reference was given without X_reference; pass both for "
                    "query-vs-reference retrieval, or neither for leave-one-out."
                )
            self.X_ref, self.y_ref = self.X, self.y
        else:
            if y_reference is None:
                raise ValueError(
                    "X_reference needs its labels: pass y_reference as well."
                )
            self.X_ref = check_array(
                X_reference, dtype=[np.float64, np.float32], input_name="X_reference"
            )
            self.y_ref = _check_labels(y_reference, "y_reference")
            check_consistent_length(self.X_ref, self.y_ref)
            if self.X_ref.shape[1] != self.X.shape[1]:
                raise ValueError(
                    f"X has {self.X.shape[1]} features but X_reference has "
                    f"{self.X_ref.shape[1]}; embed both with the same model."
                )
        self.n_reference = len(self.y_ref) - (1 if self.leave_one_out else 0)
        if self.n_reference < 1:
            raise ValueError(
                f"Leave-one-out retrieval needs at least 2 rows; got {len(self.y)}."
            )
        # Labels as integers shared by queries and references.
        classes, encoded = np.unique(
            np.concatenate([self.y, self.y_ref]), return_inverse=True
        )
        self.classes = classes
        self.query_labels = encoded[: len(self.y)]
        self.reference_labels = encoded[len(self.y) :]
        # (n_queries,) relevant reference rows per query.
        counts = np.bincount(self.reference_labels, minlength=len(classes))
        self.n_relevant = counts[self.query_labels] - (1 if self.leave_one_out else 0)

    def check_k(self, k: int) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be an int; got {k!r}.")
        if not 1 <= k <= self.n_reference:
            raise ValueError(
                f"k must be between 1 and the number of reference rows per query "
                f"({self.n_reference}); got {k}."
            )
        return int(k)

    def neighbors(self, k: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(queries, ranked)``: row numbers of a chunk of queries and
        their ``k`` nearest reference rows, nearest first, ties by row number."""
        index = NearestNeighbors(algorithm="brute").fit(self.X_ref)
        # One extra to drop the query itself, one to see ties at the cut-off.
        fetch = min(k + 1 + self.leave_one_out, len(self.y_ref))
        chunk = max(1, _CHUNK_ENTRIES // fetch)
        for start in range(0, len(self.y), chunk):
            queries = np.arange(start, min(start + chunk, len(self.y)))
            distances, found = index.kneighbors(self.X[queries], n_neighbors=fetch)
            if self.leave_one_out:
                # The query itself sorts last; drop it (duplicates may tie it).
                distances = np.where(found == queries[:, None], np.inf, distances)
            order = np.lexsort((found, distances))
            distances = np.take_along_axis(distances, order, axis=1)
            found = np.take_along_axis(found, order, axis=1)
            ranked = found[:, :k]
            if fetch > k + self.leave_one_out:
                # Ties across the cut-off: the returned set may not hold the
                # lowest-numbered tied rows; re-rank those queries exactly.
                for position in np.flatnonzero(distances[:, k - 1] == distances[:, k]):
                    ranked[position] = self._exact_ranking(queries[position], k)
            yield queries, ranked

    def _exact_ranking(self, query: int, k: int) -> np.ndarray:
        distances = euclidean_distances(self.X[query : query + 1], self.X_ref)[0]
        if self.leave_one_out:
            distances[query] = np.inf
        return np.lexsort((np.arange(len(distances)), distances))[:k]

    def relevance(self, queries, ranked) -> np.ndarray:
        """(chunk, k) bool: does each ranked neighbour share its query's label?"""
        return self.reference_labels[ranked] == self.query_labels[queries, None]


def _check_labels(y, name):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D class labels; got shape {y.shape}.")
    return y


def _mean_over_retrievable(total: float, retrieval: _Retrieval) -> float:
    n_queries = int((retrieval.n_relevant > 0).sum())
    return float(total / n_queries) if n_queries else float("nan")


_REFERENCE_PARAMETERS = """\
X_reference : array-like of shape (n_reference, n_features), default=None
        Reference (gallery) embeddings to search. ``None``: each row of ``X``
        is searched against the other rows of ``X`` (leave one out).
    y_reference : array-like of shape (n_reference,), default=None
        Labels of ``X_reference``."""


def precision_at_k(X, y, *, k=1, X_reference=None, y_reference=None):
    """Mean fraction of each query's ``k`` nearest neighbours that share its label.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Query embeddings.
    y : array-like of shape (n_samples,)
        Their class labels.
    k : int, default=1
        Neighbours per query.
    {reference}

    Returns
    -------
    precision : float
        In ``[0, 1]``; ``nan`` when no query has a relevant reference row.

    Examples
    --------
    >>> from sklearn_contrastive.metrics import precision_at_k
    >>> precision_at_k([[0.0], [0.1], [5.0], [5.1]], [0, 0, 1, 1])
    1.0
    """
    retrieval = _Retrieval(X, y, X_reference, y_reference)
    k = retrieval.check_k(k)
    total = 0.0
    for queries, ranked in retrieval.neighbors(k):
        precision = retrieval.relevance(queries, ranked).mean(axis=1)
        total += precision[retrieval.n_relevant[queries] > 0].sum()
    return _mean_over_retrievable(total, retrieval)


def recall_at_k(X, y, *, k=1, X_reference=None, y_reference=None):
    """Mean fraction of each query's relevant rows found among its ``k`` nearest.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Query embeddings.
    y : array-like of shape (n_samples,)
        Their class labels.
    k : int, default=1
        Neighbours per query.
    {reference}

    Returns
    -------
    recall : float
        In ``[0, 1]``; ``nan`` when no query has a relevant reference row.

    See Also
    --------
    precision_at_k : The same hits divided by ``k`` instead.

    Examples
    --------
    >>> from sklearn_contrastive.metrics import recall_at_k
    >>> recall_at_k([[0.0], [0.1], [0.2], [5.0]], [0, 0, 0, 1], k=1)
    0.5
    """
    retrieval = _Retrieval(X, y, X_reference, y_reference)
    k = retrieval.check_k(k)
    total = 0.0
    for queries, ranked in retrieval.neighbors(k):
        hits = retrieval.relevance(queries, ranked).sum(axis=1)
        n_relevant = retrieval.n_relevant[queries]
        retrievable = n_relevant > 0
        total += (hits[retrievable] / n_relevant[retrievable]).sum()
    return _mean_over_retrievable(total, retrieval)


def _at_r(retrieval: _Retrieval, average_precision: bool) -> float:
    """R-precision or MAP@R: the first ``R`` neighbours of each query."""
    r_max = int(retrieval.n_relevant.max())
    if r_max == 0:
        return float("nan")
    total = 0.0
    for queries, ranked in retrieval.neighbors(r_max):
        r = retrieval.n_relevant[queries]
        positions = np.arange(1, r_max + 1)
        # Only the first R neighbours of each query count.
        relevant = retrieval.relevance(queries, ranked) & (positions <= r[:, None])
        retrievable = r > 0
        if average_precision:
            precision = np.cumsum(relevant, axis=1) / positions
            scores = (precision * relevant).sum(axis=1)[retrievable]
        else:
            scores = relevant.sum(axis=1)[retrievable]
        total += (scores / r[retrievable]).sum()
    return _mean_over_retrievable(total, retrieval)


def r_precision(X, y, *, X_reference=None, y_reference=None):
    """Mean precision at ``R``, each query's number of relevant reference rows.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Query embeddings.
    y : array-like of shape (n_samples,)
        Their class labels.
    {reference}

    Returns
    -------
    r_precision : float
        In ``[0, 1]``; ``nan`` when no query has a relevant reference row.

    Examples
    --------
    >>> from sklearn_contrastive.metrics import r_precision
    >>> r_precision([[0.0], [0.1], [0.3], [0.14]], [0, 0, 1, 1])
    0.5
    """
    return _at_r(_Retrieval(X, y, X_reference, y_reference), average_precision=False)


def mean_average_precision_at_r(X, y, *, X_reference=None, y_reference=None):
    r"""Mean average precision at R (MAP@R) of Musgrave et al. (2020).

    For a query with ``R`` relevant reference rows, its ``R`` nearest
    neighbours are ranked and

    .. math::

        \mathrm{{AP@R}} = \frac{{1}}{{R}} \sum_{{i=1}}^{{R}} P(i) \, \mathrm{{rel}}(i)

    where ``rel(i)`` says whether the ``i``-th neighbour shares the query's
    label and ``P(i)`` is the precision among the first ``i``. It rewards
    ranking *all* same-class rows first, not only the nearest one, so it
    moves more smoothly during training than precision@1.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Query embeddings.
    y : array-like of shape (n_samples,)
        Their class labels.
    {reference}

    Returns
    -------
    map_at_r : float
        In ``[0, 1]``; ``nan`` when no query has a relevant reference row.

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
    return _at_r(_Retrieval(X, y, X_reference, y_reference), average_precision=True)


def knn_accuracy(X, y, *, k=5, X_reference=None, y_reference=None):
    """Accuracy of a majority vote among each query's ``k`` nearest neighbours.

    The vote is that of :class:`~sklearn.neighbors.KNeighborsClassifier` with
    uniform weights: the most frequent label among the ``k`` neighbours, the
    smallest label on a tie. Every query counts, also one whose class is
    absent from the reference rows (it cannot be right).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Query embeddings.
    y : array-like of shape (n_samples,)
        Their class labels.
    k : int, default=5
        Neighbours per query.
    {reference}

    Returns
    -------
    accuracy : float
        In ``[0, 1]``.

    Examples
    --------
    >>> from sklearn_contrastive.metrics import knn_accuracy
    >>> knn_accuracy([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]],
    ...              [0, 0, 0, 1, 1, 1], k=2)
    1.0
    """
    retrieval = _Retrieval(X, y, X_reference, y_reference)
    k = retrieval.check_k(k)
    n_classes = len(retrieval.classes)
    correct = 0
    for queries, ranked in retrieval.neighbors(k):
        labels = retrieval.reference_labels[ranked]
        # (chunk, n_classes) votes; argmax takes the smallest label on a tie.
        votes = np.zeros((len(queries), n_classes), dtype=np.int64)
        np.add.at(votes, (np.arange(len(queries))[:, None], labels), 1)
        correct += int((votes.argmax(axis=1) == retrieval.query_labels[queries]).sum())
    return correct / len(retrieval.y)


for _function in (
    precision_at_k,
    recall_at_k,
    r_precision,
    mean_average_precision_at_r,
    knn_accuracy,
):
    if _function.__doc__:  # None under python -OO
        _function.__doc__ = _function.__doc__.format(reference=_REFERENCE_PARAMETERS)

_METRICS: dict[str, Callable] = {
    "map_at_r": mean_average_precision_at_r,
    "precision_at_k": precision_at_k,
    "recall_at_k": recall_at_k,
    "r_precision": r_precision,
    "knn_accuracy": knn_accuracy,
}


class _RetrievalScorer:
    """Callable ``scorer(estimator, X, y)`` for ``GridSearchCV(scoring=...)``."""

    def __init__(self, metric: str, kwargs: dict) -> None:
        self.metric = metric
        self.kwargs = kwargs

    def __call__(self, estimator, X, y) -> float:
        embedder = embedding_part(estimator, "make_retrieval_scorer")
        return _METRICS[self.metric](embedder.transform(X), y, **self.kwargs)

    def __repr__(self) -> str:
        arguments = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"make_retrieval_scorer({self.metric!r}{arguments})"


def make_retrieval_scorer(metric="map_at_r", **kwargs):
    """A scorer that embeds the scoring rows and measures retrieval among them.

    For ``GridSearchCV(scoring=...)``, ``cross_validate`` and the like, with
    an embedder alone or a :class:`~sklearn.pipeline.Pipeline` that ends with
    one: the estimator's ``transform`` embeds the held-out fold, whose rows are
    then queries against each other (leave one out). Higher is better. A
    pipeline that ends with a classifier (``make_pipeline(StandardScaler(),
    ContrastiveEmbedder(), KNeighborsClassifier())``) is scored on the
    embedding of its steps up to and including its last
    ``ContrastiveEmbedder``, so that one ``cross_validate`` reports both the
    classifier's accuracy and the embedding's retrieval.

    Parameters
    ----------
    metric : {"map_at_r", "precision_at_k", "recall_at_k", "r_precision", \
            "knn_accuracy"}, default="map_at_r"
        The metric of this module to compute.
    **kwargs
        Passed to it, e.g. ``k=5`` for ``"precision_at_k"``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``.

    Examples
    --------
    >>> from sklearn_contrastive.metrics import make_retrieval_scorer
    >>> make_retrieval_scorer("precision_at_k", k=5)
    make_retrieval_scorer('precision_at_k', k=5)
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}; got {metric!r}.")
    allowed = (
        {"k"} if metric in ("precision_at_k", "recall_at_k", "knn_accuracy") else set()
    )
    unknown = set(kwargs) - allowed
    if unknown:
        raise TypeError(
            f"make_retrieval_scorer({metric!r}) takes "
            f"{'only k' if allowed else 'no keyword arguments'}; got "
            f"{sorted(unknown)}."
        )
    return _RetrievalScorer(metric, kwargs)
