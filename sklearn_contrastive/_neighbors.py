"""Retrieval with the fitted embedding: ``kneighbors`` and ``score`` (MAP@R).

The fitted embedder keeps no rows (its pickle carries no data), so the rows to
search are an argument, ``reference``, embedded at each call. The search itself
is scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors` on the
embeddings (a tree, or brute force over chunks of queries: memory O(n), never
``n x n``), so results are those of ``NearestNeighbors`` on ``transform``'s
output, bit for bit.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted, check_scalar

from .metrics import mean_average_precision_at_r

__all__ = ["RetrievalMixin", "embedding_kneighbors"]


class RetrievalMixin:
    """``kneighbors`` and ``score`` for a fitted transformer, searching or
    ranking its embeddings."""

    def kneighbors(
        self, X=None, n_neighbors=5, return_distance=True, *, reference=None
    ):
        """Find the nearest reference rows of each row of ``X``, in the embedding.

        ``X`` and ``reference`` are embedded with :meth:`transform`, and the
        reference rows are searched by Euclidean distance with
        ``NearestNeighbors(n_neighbors=n_neighbors)``: the result is that of
        ``NearestNeighbors(n_neighbors=n_neighbors).fit(transform(reference))
        .kneighbors(transform(X))``. The estimator keeps nothing of the call.

        Read more in the :ref:`User Guide <user_guide_kneighbors>`.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
            Query rows, with the features seen in ``fit``. ``None``: the
            reference rows are the queries, each one's neighbours excluding
            itself (by position, as in
            :meth:`NearestNeighbors.kneighbors
            <sklearn.neighbors.NearestNeighbors.kneighbors>`).

        n_neighbors : int, default=5
            Number of neighbours per query, at most the number of reference
            rows (one fewer with ``X=None``).

        return_distance : bool, default=True
            Whether to return the distances too.

        reference : array-like of shape (n_reference, n_features)
            The rows to search, e.g. the training rows or a gallery, with the
            features seen in ``fit``. Required: the fitted estimator keeps no
            training rows (its pickle carries no data).

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries, n_neighbors)
            Euclidean distances in the embedding space, nearest first. Only
            with ``return_distance=True``.

        neigh_ind : ndarray of shape (n_queries, n_neighbors)
            Positions of the neighbours in ``reference``.
        """
        check_is_fitted(self)
        return embedding_kneighbors(
            self.transform,
            X,
            reference,
            n_neighbors=n_neighbors,
            n_features_in=self.n_features_in_,
            return_distance=return_distance,
        )

    def score(self, X, y):
        """Retrieval quality of the embedding: MAP@R of ``X`` among itself.

        Each row of ``X`` is embedded and ranks the other rows by distance; the
        score is their mean average precision at R
        (:func:`~sklearn_contrastive.metrics.mean_average_precision_at_r`),
        the quantity early stopping monitors and the default of
        :func:`~sklearn_contrastive.metrics.make_retrieval_scorer`, so that
        ``GridSearchCV`` can tune the embedder with no downstream model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to embed and score.
        y : array-like of shape (n_samples,)
            Their class labels. Rows labelled ``unlabeled_label`` are left
            out.

        Returns
        -------
        score : float
            In ``[0, 1]``, higher is better; ``nan`` when no class has two
            rows.
        """
        embeddings, y = self.transform(X), np.asarray(y)
        if self.unlabeled_label is not None:
            labelled = y != self.unlabeled_label
            embeddings, y = embeddings[labelled], y[labelled]
        return mean_average_precision_at_r(embeddings, y)


def embedding_kneighbors(
    embed: Callable[[object], np.ndarray],
    X,
    reference,
    *,
    n_neighbors: int,
    n_features_in: int,
    return_distance: bool,
):
    """``NearestNeighbors`` on ``embed(reference)``, queried with ``embed(X)``
    (``X=None``: the reference rows, each excluding itself)."""
    check_scalar(n_neighbors, "n_neighbors", numbers.Integral, min_val=1)
    if reference is None:
        raise ValueError(
            "kneighbors needs reference, the rows to search (e.g. the training "
            "rows): the fitted estimator keeps no rows, so that its pickle "
            "carries no data. Pass kneighbors(X, reference=X_train)."
        )
    shape = getattr(reference, "shape", None) or np.shape(reference)
    if len(shape) == 2 and shape[1] != n_features_in:
        raise ValueError(
            f"reference has {shape[1]} features, but the estimator was fitted "
            f"on {n_features_in}. Pass reference rows with the features seen "
            "in fit."
        )
    gallery = embed(reference)  # (n_reference, n_components)
    queries = None if X is None else embed(X)
    available = len(gallery) - (X is None)
    if n_neighbors > available:
        rows = "other reference rows (X=None)" if X is None else "reference rows"
        raise ValueError(
            f"n_neighbors={n_neighbors} is more than the {available} {rows}. "
            f"Pass n_neighbors <= {available}, or more reference rows."
        )
    index = NearestNeighbors(n_neighbors=n_neighbors).fit(gallery)
    return index.kneighbors(queries, return_distance=return_distance)
