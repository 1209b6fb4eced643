"""What a fit learns from: class labels, partial labels, explicit pairs or none.

``ContrastiveEmbedder.fit`` turns its ``y`` / ``pairs`` / ``similar``
arguments into a :class:`TrainingTarget`: the target skorch stores next to
``X`` and the training loader that forms the pairs from it (see
``_data.py``). Every check of these arguments lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_array

from ._data import (
    ClassBalancedLoader,
    PairLoader,
    ViewLoader,
    labelled_rows_per_batch,
)

#: Encoded label of an unlabelled row.
UNLABELLED = -1


@dataclass
class TrainingTarget:
    """The training signal of one fit.

    Attributes
    ----------
    kind : {"labels", "partial_labels", "no_labels", "pairs"}
    classes : ndarray
        The classes of the labelled rows (empty without labels).
    y : ndarray of int64 of shape (n_samples,) or None
        Encoded labels, ``-1`` for unlabelled rows; None for pairs.
    loader : type
        The training loader class for skorch's ``iterator_train``.
    loader_params : dict
        Its keyword arguments, besides the dataset and ``batch_size``.
    """

    kind: str
    classes: np.ndarray
    y: np.ndarray | None
    loader: type
    loader_params: dict = field(default_factory=dict)


def training_target(
    est, n_samples, y, pairs, similar, sampler_rng, known_classes, incremental=False
):
    """Check ``fit``'s training signal and say how to train on it.

    ``incremental`` (partial_fit) ignores ``early_stopping``, as documented.
    """
    if pairs is not None or similar is not None:
        if y is not None:
            raise ValueError(
                "ContrastiveEmbedder.fit takes class labels (y) or explicit pairs "
                "(pairs and similar), not both; got both. Drop y to train on the "
                "pairs only."
            )
        pairs, similar = check_pairs(pairs, similar, n_samples)
        _refuse_label_options(est, "explicit pairs", incremental)
        return TrainingTarget(
            kind="pairs",
            classes=np.array([]),
            y=None,
            loader=PairLoader,
            loader_params={
                "random_state": sampler_rng,
                "pairs": pairs,
                "similar": similar,
            },
        )
    if y is None:
        y_encoded = np.full(n_samples, UNLABELLED, dtype=np.int64)
        # partial_fit keeps the classes of earlier calls.
        classes = np.array([]) if known_classes is None else known_classes
    else:
        classes, y_encoded = encode_labels(y, est.unlabeled_label, known_classes)
    if (y_encoded == UNLABELLED).any():
        kind = "partial_labels" if (y_encoded >= 0).any() else "no_labels"
        if kind == "no_labels":
            _refuse_label_options(est, "no labels", incremental)
        else:
            _check_samples_per_class_with_views(est)
        return TrainingTarget(
            kind=kind,
            classes=classes,
            y=y_encoded,
            loader=ViewLoader,
            loader_params={
                "random_state": sampler_rng,
                "corruption_rate": float(est.corruption_rate),
                "samples_per_class": est.samples_per_class,
            },
        )
    return TrainingTarget(
        kind="labels",
        classes=classes,
        y=y_encoded,
        loader=ClassBalancedLoader,
        loader_params={
            "random_state": sampler_rng,
            "samples_per_class": est.samples_per_class,
        },
    )


def _check_samples_per_class_with_views(est):
    """With unlabelled rows, labelled rows fill only half of each batch (see
    :class:`~sklearn_contrastive._data.ViewLoader`), so ``samples_per_class``
    must leave room for two classes there."""
    if est.samples_per_class is None:
        return
    labelled_rows = labelled_rows_per_batch(est.batch_size)
    if est.samples_per_class > labelled_rows // 2:
        raise ValueError(
            f"samples_per_class={est.samples_per_class} is too large with "
            f"unlabelled rows: they take half of each batch, leaving "
            f"{labelled_rows} labelled rows (batch_size={est.batch_size}), so "
            f"two classes fit only with samples_per_class <= "
            f"{labelled_rows // 2}. Lower samples_per_class or raise batch_size."
        )


def label_only_options(params, what, incremental=False):
    """Why each option set in ``params`` needs class labels that training on
    ``what`` ("explicit pairs" or "no labels") does not have.

    Returns a dict from option name to the message refusing it; empty when
    nothing stands in the way. ``incremental`` (partial_fit) ignores
    ``early_stopping``, as documented.
    """
    reasons = {}
    if what == "no labels" and params.get("early_stopping") and not incremental:
        # Explicit pairs are held out and scored as pairs instead.
        reasons["early_stopping"] = (
            "early_stopping=True scores retrieval of held-out labelled rows, "
            f"which training on {what} does not have. Set early_stopping=False "
            "and choose max_epochs."
        )
    samples_per_class = params.get("samples_per_class")
    if samples_per_class is not None:
        reasons["samples_per_class"] = (
            f"samples_per_class={samples_per_class} shapes batches drawn "
            f"from class labels; training on {what} has none. Leave "
            "samples_per_class=None."
        )
    pair_mining = params.get("pair_mining", "all")
    if what == "explicit pairs" and pair_mining != "all":
        reasons["pair_mining"] = (
            f"pair_mining={pair_mining!r} chooses among the pairs formed from "
            "class labels inside a batch; with explicit pairs every pair given "
            "counts. Use pair_mining='all'."
        )
    return reasons


def _refuse_label_options(est, what, incremental):
    """Raise the first reason of :func:`label_only_options`, if any."""
    reasons = label_only_options(est.get_params(deep=False), what, incremental)
    if reasons:
        raise ValueError(next(iter(reasons.values())))


def encode_labels(y, unlabeled_label=None, known_classes=None):
    """``(classes, y_encoded)``: labels as 0..n_classes-1, unlabelled as -1.

    ``known_classes`` (partial_fit) are merged with the classes of ``y``.
    """
    y = np.asarray(y)
    if unlabeled_label is None:
        labelled = np.ones(len(y), dtype=bool)
    else:
        _check_marker_type(y, unlabeled_label)
        labelled = np.asarray(y != unlabeled_label, dtype=bool)
    y_encoded = np.full(len(y), UNLABELLED, dtype=np.int64)
    if not labelled.any():
        classes = np.array([]) if known_classes is None else known_classes
        return classes, y_encoded
    y_labelled = y[labelled]
    if y_labelled.ndim == 1 and y_labelled.dtype.kind in "biu":
        # A 1-D array of integers is always class labels; np.unique gives
        # LabelEncoder's classes without type_of_target's inspection (together
        # ~0.45 ms a fit, ~0.4 % of a 25-epoch fit of wine).
        classes = np.unique(y_labelled)
    else:
        target_type = type_of_target(y_labelled, input_name="y", raise_unknown=True)
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                "ContrastiveEmbedder needs class labels in y to form similar and "
                f"dissimilar pairs; got y of type {target_type!r}. Bin a "
                "continuous target into classes (e.g. with KBinsDiscretizer) "
                "first."
            )
        classes = LabelEncoder().fit(y_labelled).classes_
    if len(classes) < 2:
        raise ValueError(
            "ContrastiveEmbedder needs at least 2 classes to form dissimilar "
            f"pairs; got 1 class ({classes.tolist()[0]!r})"
            + (" among the labelled rows" if not labelled.all() else "")
            + "."
            + (
                " Each partial_fit call forms pairs within its own rows."
                if known_classes is not None
                else ""
            )
        )
    if known_classes is not None and len(known_classes):
        # unique_labels refuses a mix of numbers and strings.
        classes = unique_labels(known_classes, classes)
    y_encoded[labelled] = np.searchsorted(classes, y_labelled)
    return classes, y_encoded


def _check_marker_type(y, unlabeled_label):
    """A string marker never equals a number in y, nor a number a string."""
    marker_is_text = isinstance(unlabeled_label, str)
    y_is_text = y.dtype.kind in "US"
    if y.dtype.kind != "O" and marker_is_text != y_is_text:
        raise ValueError(
            f"unlabeled_label={unlabeled_label!r} can never match y of dtype "
            f"{y.dtype} ({'strings' if y_is_text else 'numbers'}), so no row "
            "would count as unlabelled. Give the marker as it appears in y, e.g. "
            + ("unlabeled_label='-1'." if y_is_text else "unlabeled_label=-1.")
        )


def check_pairs(pairs, similar, n_samples):
    """Validated ``(pairs, similar)``: int64 (n_pairs, 2) and bool (n_pairs,)."""
    if pairs is None or similar is None:
        missing = "pairs" if pairs is None else "similar"
        raise ValueError(
            f"Explicit pairs need both pairs and similar; {missing} is missing. "
            "pairs holds row numbers of X, shape (n_pairs, 2); similar says "
            "which pairs are similar (True) or dissimilar (False)."
        )
    pairs = check_array(pairs, dtype=None, ensure_min_samples=0, input_name="pairs")
    if len(pairs) == 0:
        raise ValueError(
            "pairs is empty; training on explicit pairs needs at least one "
            "similar and one dissimilar pair of rows of X."
        )
    if pairs.shape[1] != 2 or pairs.dtype.kind not in "iu":
        raise ValueError(
            "pairs must hold integer row numbers of X, shape (n_pairs, 2); got "
            f"shape {pairs.shape} and dtype {pairs.dtype}."
        )
    outside = (pairs < 0) | (pairs >= n_samples)
    if outside.any():
        value = pairs[outside][0]
        raise ValueError(
            f"pairs refer to rows of X by position, 0 to {n_samples - 1}; got "
            f"{value} ({int(outside.any(axis=1).sum())} pairs out of range). "
            "Use positions (as X[i] or X.iloc[i]), not index labels."
        )
    similar = np.asarray(similar)
    if similar.ndim != 1 or len(similar) != len(pairs):
        raise ValueError(
            f"similar must have one entry per pair: shape ({len(pairs)},); got "
            f"shape {similar.shape}."
        )
    if similar.dtype != bool:
        values = np.unique(similar)[:5].tolist()
        raise TypeError(
            "similar must be boolean, True for a similar pair and False for a "
            f"dissimilar one; got dtype {similar.dtype} with values {values}. "
            "0/1 pair labels are ambiguous (the contrastive loss's Y is 0 for "
            "similar, many libraries use 1 for similar): convert them, e.g. "
            "similar=(labels == 1) if 1 means similar in your data."
        )
    if similar.all() or not similar.any():
        which = "dissimilar" if similar.all() else "similar"
        raise ValueError(
            f"The contrastive loss needs both similar and dissimilar pairs; got "
            f"{len(similar)} pairs and no {which} one."
        )
    pairs = pairs.astype(np.int64, copy=False)
    _refuse_contradictions(pairs, similar, n_samples)
    return pairs, similar


def contradicting_pairs(pairs, similar, n_samples):
    """Mask of the pairs that contradict themselves or each other.

    A row paired with itself as dissimilar (it is at distance 0 from itself),
    and every pair of rows that appears with both labels (in either order):
    training would pull and push the same two rows.
    """
    low, high = pairs.min(axis=1), pairs.max(axis=1)
    codes = low * n_samples + high  # one code per unordered pair of rows
    both = np.intersect1d(codes[similar], codes[~similar])
    return ((low == high) & ~similar) | np.isin(codes, both)


def _refuse_contradictions(pairs, similar, n_samples):
    """Raise on :func:`contradicting_pairs`: they can only be labelling mistakes."""
    contradicting = contradicting_pairs(pairs, similar, n_samples)
    if not contradicting.any():
        return
    i, j = sorted(pairs[contradicting][0].tolist())
    if i == j:
        n_self = int(((pairs[:, 0] == pairs[:, 1]) & ~similar).sum())
        raise ValueError(
            f"pairs holds a row paired with itself as dissimilar: ({i}, {i}) "
            f"({n_self} such pairs). A row is at distance 0 from itself, so it "
            "can never be pushed apart; drop these pairs."
        )
    raise ValueError(
        f"pairs labels the pair ({i}, {j}) both similar and dissimilar "
        f"({int(contradicting.sum())} pairs contradict another, in either "
        "order). Give each pair one label: remove or relabel the duplicates."
    )
