"""Row and pair weights of a fit (``sample_weight``, ``pair_weight``), checked.

A weight scales the pairs it is in: pair ``(i, j)`` of rows weighted ``s_i``
and ``s_j`` weighs ``s_i s_j`` (times its own ``pair_weight`` when explicit),
and each batch's loss is the weighted mean over its pairs (see
:class:`~sklearn_contrastive.losses.ContrastiveLoss`). Only ratios of weights
matter, so uniform weights are dropped here and the fit is the unweighted one,
bit for bit. A weight of zero removes what it weighs: rows before the batches
are drawn (the fit is that on the other rows), explicit pairs before they are
batched.
"""

from __future__ import annotations

import numpy as np

from ._sources import select_rows


def check_weights(weights, n: int, name: str, what: str) -> np.ndarray | None:
    """``weights`` as float64 of shape ``(n,)`` scaled to a maximum of 1, or
    None when uniform.

    ``name`` is the argument (``"sample_weight"``), ``what`` the things
    weighed (``"row of X"``), both for the messages.
    """
    if weights is None:
        return None
    array = np.asarray(weights)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold numbers, one non-negative weight per {what}; got "
            f"dtype {array.dtype}."
        )
    if array.shape != (n,):
        raise ValueError(
            f"{name} must hold one weight per {what}: shape ({n},); got shape "
            f"{array.shape}."
        )
    array = array.astype(np.float64)
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must be finite and non-negative; got {float(array[first])} at "
            f"position {first} ({int(bad.sum())} such weights). Give 0 to leave "
            f"a {what} out."
        )
    if not array.any():
        raise ValueError(
            f"{name} is zero everywhere ({n} weights): nothing would be trained "
            f"on. Give a positive weight to the {what}s to learn from."
        )
    if (array == array[0]).all():
        return None  # only ratios matter: the unweighted fit
    # Largest weight 1: products of weights never overflow, whatever their scale.
    return array / array.max()


def weighted_rows(X, y, sample_weight, *, keep_rows: bool):
    """``(X, y, sample_weight)`` checked, rows of weight zero dropped.

    ``keep_rows`` (explicit pairs, which refer to rows by position): every
    row stays; the weights then go to the pairs.
    """
    sample_weight = check_weights(sample_weight, len(X), "sample_weight", "row of X")
    if sample_weight is None or keep_rows or sample_weight.all():
        return X, y, sample_weight
    kept = np.flatnonzero(sample_weight)
    y = None if y is None else np.asarray(y)[kept]
    return (
        select_rows(X, kept),
        y,
        check_weights(sample_weight[kept], len(kept), "sample_weight", "row of X"),
    )


def weighted_pairs(pairs, similar, pair_weight, sample_weight):
    """``(pairs, similar, weights)``: each pair's weight, its own times its
    rows', pairs of weight zero dropped; weights None when uniform."""
    weights = check_weights(pair_weight, len(pairs), "pair_weight", "pair")
    if sample_weight is not None:
        rows = sample_weight[pairs[:, 0]] * sample_weight[pairs[:, 1]]
        weights = rows if weights is None else weights * rows
    if weights is None:
        return pairs, similar, None
    kept = weights > 0
    if not similar[kept].any() or similar[kept].all():
        which = "similar" if not similar[kept].any() else "dissimilar"
        raise ValueError(
            f"The contrastive loss needs both similar and dissimilar pairs; "
            f"every {which} pair has weight zero (pair_weight times the "
            "sample_weight of its two rows)."
        )
    pairs, similar, weights = pairs[kept], similar[kept], weights[kept]
    return pairs, similar, check_weights(weights, len(weights), "pair_weight", "pair")
