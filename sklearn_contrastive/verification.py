"""Pair verification: are the two items of a pair the same (class) or not?

:class:`PairVerifier` is a scikit-learn classifier over *pairs*. Each row of
its ``X`` holds the two items side by side, ``[left features | right
features]``, so pairs go through ``Pipeline``, ``cross_val_score`` and
``GridSearchCV`` like any other rows. It embeds both items with a
:class:`~sklearn_contrastive.ContrastiveEmbedder`, takes the Euclidean
distance between them, and calls a pair *same* when the distance is at most a
threshold calibrated on the training pairs.

Pair labels
-----------
Libraries disagree on what ``0`` and ``1`` mean for a pair (Hadsell et al.'s
loss uses ``Y = 0`` for similar; pytorch-metric-learning and metric-learn use
``1`` or ``+1`` for similar), so the labels must say it: either the strings
``"same"`` and ``"different"``, or any two values together with
``similar_label``, the value that marks a pair of the same class. Anything
else is refused.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_is_fitted,
    check_scalar,
    column_or_1d,
    validate_data,
)

from ._doc_links import DocLinkMixin
from ._embedder import ContrastiveEmbedder
from ._safe_file import SafeFileMixin
from ._targets import contradicting_pairs, label_only_options
from ._weights import check_weights

__all__ = ["PairVerifier", "calibrate_threshold"]

_STRATEGIES = ("accuracy", "f_beta", "far")


def calibrate_threshold(
    distances, same, *, strategy="accuracy", beta=1.0, far=0.01, sample_weight=None
):
    """The distance threshold below which a pair is called *same*.

    Candidate thresholds are the midpoints between consecutive distinct
    distances (and just below the smallest and at the largest), so the choice
    depends only on the order of the distances.

    Parameters
    ----------
    distances : array-like of shape (n_pairs,)
        Distance between the two items of each pair.
    same : array-like of bool, shape (n_pairs,)
        Whether each pair is of the same class.
    strategy : {"accuracy", "f_beta", "far"}, default="accuracy"
        ``"accuracy"``: the most pairs right. ``"f_beta"``: the best F-beta
        score, *same* being the positive class. ``"far"``: the largest
        threshold whose false-accept rate (the fraction of *different* pairs
        called *same*) is at most ``far``, as in biometric verification.
    beta : float, default=1.0
        Weight of recall against precision for ``"f_beta"``.
    far : float, default=0.01
        Highest false-accept rate allowed for ``"far"``, in ``[0, 1]``.
    sample_weight : array-like of shape (n_pairs,), default=None
        Non-negative weight of each pair: the strategies count pairs by their
        weights (a weight of 2 is the pair twice). ``None``: every pair
        weighs 1.

    Returns
    -------
    threshold : float
        Pairs with ``distance <= threshold`` are called *same*.

    Examples
    --------
    >>> from sklearn_contrastive.verification import calibrate_threshold
    >>> calibrate_threshold([0.1, 0.2, 0.9, 1.2], [True, True, False, False])
    0.55
    """
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}; got {strategy!r}.")
    weight = check_weights(sample_weight, len(distances), "sample_weight", "pair")
    weight = np.ones(len(distances)) if weight is None else weight
    values = np.unique(distances)
    # Thresholds: below everything, between neighbours, at the top.
    candidates = np.concatenate(
        [[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1]]]
    )
    order = np.argsort(distances, kind="stable")
    sorted_distances = distances[order]
    sorted_same, sorted_weight = same[order], weight[order]
    # Pairs called same at each candidate: those with distance <= candidate,
    # counted by their weights.
    called = np.searchsorted(sorted_distances, candidates, side="right")
    cumulative = np.concatenate([[0.0], np.cumsum(sorted_weight)])
    accepted = cumulative[called]
    true_accepts = np.concatenate([[0.0], np.cumsum(sorted_weight * sorted_same)])
    true_accepts = true_accepts[called]
    false_accepts = accepted - true_accepts
    n_same, n_different = weight[same].sum(), weight[~same].sum()
    if strategy == "accuracy":
        correct = true_accepts + (n_different - false_accepts)
        return float(candidates[np.argmax(correct)])
    if strategy == "f_beta":
        precision = np.divide(
            true_accepts, accepted, out=np.zeros(len(candidates)), where=accepted > 0
        )
        recall = true_accepts / n_same if n_same > 0 else np.zeros(len(candidates))
        b2 = beta**2
        denominator = b2 * precision + recall
        f_beta = np.divide(
            (1 + b2) * precision * recall,
            denominator,
            out=np.zeros(len(candidates)),
            where=denominator > 0,
        )
        return float(candidates[np.argmax(f_beta)])
    false_accept_rate = (
        false_accepts / n_different if n_different > 0 else np.zeros(len(candidates))
    )
    allowed = np.flatnonzero(false_accept_rate <= far)
    return float(candidates[allowed[-1]])


class PairVerifier(SafeFileMixin, ClassifierMixin, DocLinkMixin, BaseEstimator):
    """Verify pairs (same class or not) by thresholding embedding distances.

    Each row of ``X`` is one pair, its two items side by side: the first half
    of the columns is the left item, the second half the right one. ``fit``
    trains the embedder on the pairs' items, then calibrates the distance
    threshold on the training pairs.

    Parameters
    ----------
    embedder : estimator, default=None
        The embedding model, cloned at ``fit``; ``None`` uses
        ``ContrastiveEmbedder()``. To use an embedder that is already fitted
        (on class labels, say), wrap it in
        :class:`sklearn.frozen.FrozenEstimator`: its ``fit`` then does nothing
        and only the threshold is calibrated. An embedder that is not frozen
        is trained on the distinct items of the pairs: on the pairs
        themselves when its ``fit`` takes ``pairs`` and ``similar`` (as
        :meth:`ContrastiveEmbedder.fit` does) and it uses no option that
        needs class labels (``pair_mining="hard"``, ``samples_per_class``,
        ``validation_split="classes"`` with ``early_stopping``; without them
        ``early_stopping`` holds out pairs); otherwise (a
        ``Pipeline``, or such options) on classes read off the *same* pairs,
        items linked by a chain of *same* pairs forming one class (the
        connected components of the *same* graph).

    similar_label : object, default=None
        The label value that marks a pair of the same class, e.g. ``1`` (or
        ``0`` for Hadsell et al.'s convention). ``None`` accepts only the
        labels ``"same"`` and ``"different"``.

    threshold : {"accuracy", "f_beta", "far"} or float, default="accuracy"
        How the distance threshold is chosen on the training pairs (see
        :func:`calibrate_threshold`), or a fixed threshold.

    beta : float, default=1.0
        ``beta`` of ``threshold="f_beta"``.

    far : float, default=0.01
        Highest false-accept rate of ``threshold="far"``.

    Attributes
    ----------
    embedder_ : estimator
        The fitted embedder.

    threshold_ : float
        Pairs at most this far apart are predicted *same*.

    classes_ : ndarray of shape (2,)
        The two pair labels, sorted.

    n_features_in_ : int
        Columns of ``X``: twice the features of one item.

    See Also
    --------
    calibrate_threshold : The threshold choice on its own.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_contrastive import ContrastiveEmbedder
    >>> from sklearn_contrastive.verification import PairVerifier
    >>> X, y = load_iris(return_X_y=True)
    >>> rng = np.random.default_rng(0)
    >>> left, right = rng.integers(0, 150, size=(2, 300))
    >>> pairs = np.hstack([X[left], X[right]])
    >>> same = np.where(y[left] == y[right], "same", "different")
    >>> verifier = PairVerifier(ContrastiveEmbedder(max_epochs=5, random_state=0))
    >>> verifier.fit(pairs, same).score(pairs, same) > 0.8
    True
    """

    def __init__(
        self,
        embedder=None,
        *,
        similar_label=None,
        threshold="accuracy",
        beta=1.0,
        far=0.01,
    ):
        self.embedder = embedder
        self.similar_label = similar_label
        self.threshold = threshold
        self.beta = beta
        self.far = far

    def fit(self, X, y, sample_weight=None):
        """Train the embedder on the pairs' items and calibrate the threshold.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * n_features)
            Each row a pair: left item's features, then the right item's.
        y : array-like of shape (n_pairs,)
            Pair labels: ``"same"`` / ``"different"``, or two values with
            ``similar_label`` naming the *same* one.
        sample_weight : array-like of shape (n_pairs,), default=None
            Non-negative weight (confidence) of each pair. An embedder trained
            on the pairs gets them as ``pair_weight``; the threshold counts
            pairs by their weights (:func:`calibrate_threshold`). An embedder
            trained on classes read off the pairs, or a frozen one, leaves
            them to the threshold.

        Returns
        -------
        self : object
            The fitted verifier.
        """
        X, y = validate_data(self, X, y, dtype=np.float32)
        same = self._encode(y)
        weight = check_weights(sample_weight, len(X), "sample_weight", "pair")
        counted = same if weight is None else same[weight > 0]
        if counted.all() or not counted.any():
            raise ValueError(
                "PairVerifier needs pairs of both classes, same and different, "
                "to calibrate a threshold; got only "
                f"{'same' if counted.all() else 'different'} pairs"
                f"{'' if weight is None else ' of positive sample_weight'}."
            )
        self._check_params()
        left, right = _split_pairs(X)
        embedder = ContrastiveEmbedder() if self.embedder is None else self.embedder
        embedder = clone(embedder)
        if not isinstance(embedder, FrozenEstimator):
            items, item_pairs = _items_and_pairs(left, right)
            if _fits_on_pairs(embedder):
                # Noisy pair data may label two identical items different, or
                # the same two items both ways: a classifier accepts such
                # samples, but they teach the embedder nothing, and its fit
                # refuses them. They still count for the threshold.
                keep = ~contradicting_pairs(item_pairs, same, len(items))
                weights = {} if weight is None else {"pair_weight": weight[keep]}
                embedder.fit(
                    items, pairs=item_pairs[keep], similar=same[keep], **weights
                )
            else:
                embedder.fit(items, _classes_of_items(len(items), item_pairs, same))
        self.embedder_ = embedder
        distances = self._distances(left, right)
        if isinstance(self.threshold, str):
            self.threshold_ = calibrate_threshold(
                distances,
                same,
                strategy=self.threshold,
                beta=self.beta,
                far=self.far,
                sample_weight=weight,
            )
        else:
            self.threshold_ = float(self.threshold)
        return self

    def _encode(self, y):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        values = np.unique(y)
        if self.similar_label is None:
            if not set(values.tolist()) <= {"same", "different"}:
                raise ValueError(
                    "Pair labels are ambiguous: got values "
                    f"{values.tolist()[:5]}. Use the strings 'same' and "
                    "'different', or say which value marks a same-class pair "
                    "with similar_label (e.g. similar_label=1, or 0 for Hadsell "
                    "et al.'s Y = 0)."
                )
            self.classes_ = np.array(["different", "same"])
            return y == "same"
        if len(values) > 2 or self.similar_label not in values.tolist():
            raise ValueError(
                f"Pair labels must be two values, one of them similar_label="
                f"{self.similar_label!r}; got {values.tolist()[:5]}."
            )
        other = [v for v in values.tolist() if v != self.similar_label]
        self.classes_ = np.sort(np.array([self.similar_label, *other], dtype=y.dtype))
        return y == self.similar_label

    def _check_params(self):
        if isinstance(self.threshold, str):
            if self.threshold not in _STRATEGIES:
                raise ValueError(
                    f"threshold must be one of {_STRATEGIES} or a number; got "
                    f"{self.threshold!r}."
                )
        elif not isinstance(self.threshold, numbers.Real) or isinstance(
            self.threshold, bool
        ):
            raise TypeError(
                f"threshold must be one of {_STRATEGIES} or a number; got "
                f"{self.threshold!r}."
            )
        check_scalar(
            self.beta, "beta", numbers.Real, min_val=0, include_boundaries="neither"
        )
        check_scalar(self.far, "far", numbers.Real, min_val=0, max_val=1)

    def _distances(self, left, right):
        return np.linalg.norm(
            self.embedder_.transform(left) - self.embedder_.transform(right), axis=1
        )

    def pair_distances(self, X):
        """Distance between the embeddings of the two items of each pair.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * n_features)

        Returns
        -------
        distances : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return self._distances(*_split_pairs(X))

    def decision_function(self, X):
        """Signed score of ``classes_[1]``: positive means ``classes_[1]``.

        ``threshold_ - distance`` when ``classes_[1]`` is the *same* label,
        ``distance - threshold_`` otherwise, as scikit-learn's binary
        convention asks (so ``roc_auc`` scoring works).

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * n_features)

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self)
        margin = self.threshold_ - self.pair_distances(X)
        return margin if self._same_is_positive() else -margin

    def predict(self, X):
        """Predict the label of each pair: *same* when ``distance <= threshold_``.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2 * n_features)

        Returns
        -------
        labels : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self)
        same = self.pair_distances(X) <= self.threshold_
        same_label, different_label = self._labels()
        return np.where(same, same_label, different_label)

    def _labels(self):
        same_label = "same" if self.similar_label is None else self.similar_label
        different = [c for c in self.classes_.tolist() if c != same_label]
        return same_label, (different[0] if different else None)

    def _same_is_positive(self):
        return self.classes_[1] == self._labels()[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


def _split_pairs(X):
    if X.shape[1] % 2:
        raise ValueError(
            "Each row of X must hold a pair side by side, [left | right], so an "
            f"even number of columns; got {X.shape[1]}."
        )
    half = X.shape[1] // 2
    return X[:, :half], X[:, half:]


def _fits_on_pairs(embedder):
    """Whether to train ``embedder`` on the pairs themselves: its ``fit`` takes
    ``pairs`` and ``similar``, and none of its options needs class labels."""
    parameters = inspect.signature(embedder.fit).parameters
    if "pairs" not in parameters or "similar" not in parameters:
        return False
    return not label_only_options(embedder.get_params(deep=False), "explicit pairs")


def _items_and_pairs(left, right):
    """Distinct items of the pairs, and each pair as two row numbers of them."""
    items, inverse = np.unique(np.vstack([left, right]), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    return items, np.column_stack([inverse[: len(left)], inverse[len(left) :]])


def _classes_of_items(n_items, item_pairs, same):
    """Classes of the items: those linked by a chain of *same* pairs are one."""
    a, b = item_pairs[:, 0], item_pairs[:, 1]
    graph = coo_matrix(
        (np.ones(int(same.sum())), (a[same], b[same])), shape=(n_items,) * 2
    )
    _, classes = connected_components(graph, directed=False)
    clash = classes[a[~same]] == classes[b[~same]]
    if clash.any():
        first = np.flatnonzero(~same)[np.argmax(clash)]
        raise ValueError(
            f"Pair {first} is labelled different, but its two items are linked "
            "by a chain of same pairs, so they would be one class. Fix the "
            "labels, or fit the embedder on class labels and pass it wrapped "
            "in sklearn.frozen.FrozenEstimator."
        )
    return classes
