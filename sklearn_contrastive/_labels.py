"""The label code: how a fit's rows say what they are, as int64 numbers.

Every module that reads encoded labels uses the names here:

* a class is ``0 .. n_classes - 1`` (the position of its label in
  ``classes_``; :func:`encode_labels` makes them);
* :data:`UNLABELLED` (``-1``) is a row without a label, in the encoded ``y``
  of a fit;
* inside a training batch with views (see ``_data.ViewLoader``), the two
  corrupted views of the batch's ``k``-th unlabelled row share the code
  ``-1 - k`` (:func:`view_codes`), so that any negative code is a view
  (:func:`is_view`) and two views are similar exactly when their codes agree.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import type_of_target, unique_labels

#: Encoded label of an unlabelled row.
UNLABELLED = -1


def unlabelled(n_samples: int) -> np.ndarray:
    """Encoded labels of ``n_samples`` rows without a label."""
    return np.full(n_samples, UNLABELLED, dtype=np.int64)


def is_labelled(codes):
    """Mask of the rows (NumPy or torch codes) that carry a class."""
    return codes >= 0


def is_view(codes):
    """Mask of the rows of a training batch that are views of unlabelled rows."""
    return codes < 0


def view_codes(n_rows: int, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """Codes ``-1, -2, ...``: one per unlabelled row, shared by its two views."""
    return -1 - torch.arange(n_rows, dtype=dtype)


def encode_labels(y, unlabeled_label=None, known_classes=None):
    """``(classes, y_encoded)``: labels as 0..n_classes-1, unlabelled as -1.

    ``known_classes`` (partial_fit) are merged with the classes of ``y``.
    """
    y = np.asarray(y)
    if y.dtype.kind == "O":
        _check_no_missing_labels(y)
        y = _numbers_as_numeric(y)
    if unlabeled_label is None:
        labelled = np.ones(len(y), dtype=bool)
    else:
        _check_marker_type(y, unlabeled_label)
        labelled = np.asarray(y != unlabeled_label, dtype=bool)
    y_encoded = unlabelled(len(y))
    if not labelled.any():
        classes = np.array([]) if known_classes is None else known_classes
        return classes, y_encoded
    y_labelled = y[labelled]
    classes = _classes(y_labelled)
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
    if labelled.all():
        _check_some_class_repeats(y_encoded, len(classes), known_classes is not None)
    return classes, y_encoded


def is_missing(values: np.ndarray) -> np.ndarray:
    """Mask of the missing entries (None, NaN, pandas.NA) of an object array."""
    # pandas.NA == pandas.NA is NA, not a bool; NaN != NaN.
    return np.fromiter(
        (
            value is None
            or not isinstance(equal := value == value, (bool, np.bool_))
            or not equal
            for value in values.ravel()
        ),
        dtype=bool,
        count=values.size,
    ).reshape(values.shape)


def _check_no_missing_labels(y: np.ndarray) -> None:
    """Refuse None / NA in an object ``y``: a missing label is no class, and
    ``unlabeled_label`` is how a row says it has none."""
    missing = is_missing(y)
    if missing.any():
        raise ValueError(
            f"y holds {int(missing.sum())} missing labels (None or NA; the first "
            f"at row {int(np.flatnonzero(missing)[0])}) among {len(y)}; every row "
            "of y needs a class label. Drop those rows or, to train on them "
            "without a label, give them a marker of their own and name it with "
            "unlabeled_label (e.g. -1 and unlabeled_label=-1)."
        )


def _numbers_as_numeric(y: np.ndarray) -> np.ndarray:
    """An object ``y`` of numbers only (e.g. a pandas object column) as a
    numeric array, which scikit-learn's ``type_of_target`` reads as classes
    (it calls an object array of numbers "unknown")."""
    if all(isinstance(value, numbers.Number) for value in y.ravel()):
        return np.asarray(y.tolist())
    return y


def _check_one_label_type(y_labelled: np.ndarray) -> None:
    """Refuse class labels that mix numbers and strings in an object ``y``:
    they cannot be sorted into ``classes_``."""
    is_text = np.fromiter(
        (isinstance(value, str) for value in y_labelled), bool, len(y_labelled)
    )
    if is_text.any() and not is_text.all():
        is_number = np.fromiter(
            (isinstance(value, numbers.Number) for value in y_labelled),
            bool,
            len(y_labelled),
        )
        if is_number.any():
            number = y_labelled[np.flatnonzero(is_number)[0]]
            text = y_labelled[np.flatnonzero(is_text)[0]]
            raise ValueError(
                "y mixes numbers and strings as class labels: got "
                f"{int(is_number.sum())} numbers (e.g. {number!r}) and "
                f"{int(is_text.sum())} strings (e.g. {text!r}). Give every class "
                "label one type, e.g. y.astype(str)."
            )


def _check_some_class_repeats(
    y_encoded: np.ndarray, n_classes: int, incremental: bool
) -> None:
    """Refuse labels with no similar pair: every class a single row.

    The loss would only push rows apart, and retrieval (``score``, early
    stopping) would be undefined. With unlabelled rows this is not checked:
    their two views are similar pairs.
    """
    counts = np.bincount(y_encoded, minlength=n_classes)
    if counts.max() < 2:
        raise ValueError(
            "ContrastiveEmbedder needs a class with at least 2 rows to form "
            f"similar pairs; got {len(y_encoded)} rows of "
            f"{int((counts > 0).sum())} classes, one row each"
            + (" in this partial_fit call" if incremental else "")
            + ". Give classes several rows; if y is a row id, train on explicit "
            "pairs (fit(X, pairs=..., similar=...)) or without labels (fit(X))."
        )


def _classes(y_labelled: np.ndarray) -> np.ndarray:
    """The sorted classes of labelled rows; refuses targets that are not classes."""
    if y_labelled.dtype.kind == "O":
        _check_one_label_type(y_labelled)
    if y_labelled.ndim == 1 and y_labelled.dtype.kind in "biu":
        # A 1-D array of integers is always class labels; np.unique gives
        # LabelEncoder's classes without type_of_target's inspection (together
        # ~0.45 ms a fit, ~0.4 % of a 25-epoch fit of wine).
        return np.unique(y_labelled)
    target_type = type_of_target(y_labelled, input_name="y", raise_unknown=True)
    if target_type not in ("binary", "multiclass"):
        raise ValueError(
            "ContrastiveEmbedder needs class labels in y to form similar and "
            f"dissimilar pairs; got y of type {target_type!r}. Bin a "
            "continuous target into classes (e.g. with KBinsDiscretizer) "
            "first."
        )
    return LabelEncoder().fit(y_labelled).classes_


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
