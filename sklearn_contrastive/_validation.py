"""Early stopping's held-out data: the splits, and what scores them.

Labelled rows are held out stratified by class, or as whole classes
(``validation_split="classes"``), and scored by retrieval (MAP@R,
precision@1) and their loss; explicit pairs are held out as distinct
pairs stratified by ``similar`` and scored by their contrastive loss and ROC
AUC. ``TrainingTarget.hold_out`` (``_targets.py``) chooses between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from skorch.callbacks import Callback
from skorch.dataset import Dataset

from ._callbacks import ValidationPairs, ValidationRetrieval
from ._history_keys import VALID_MAP_AT_R, VALID_PAIR_LOSS
from ._params import VALIDATION_PAIRS, VALIDATION_RETRIEVAL
from ._runtime import as_tensor
from ._sources import RowSource, SourceDataset, as_rows, read_all, select_rows


def stratified_validation_split(
    y_encoded: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers ``(train, valid)`` of a stratified early-stopping split,
    ``fraction`` of the rows (the ``validation_fraction``) held out."""
    n_samples = len(y_encoded)
    counts = np.bincount(y_encoded)
    counts = counts[counts > 0]
    n_classes = len(counts)
    n_valid = math.ceil(fraction * n_samples)
    if counts.min() < 2 or not n_classes <= n_valid <= n_samples - n_classes:
        raise ValueError(
            f"early_stopping=True holds out validation_fraction="
            f"{fraction} of the rows ({n_valid} of {n_samples}) "
            "stratified by class, which needs at least one validation row and "
            "one training row of each class; got "
            f"{n_classes} classes, the smallest with {counts.min()} rows. "
            "Change validation_fraction, add rows, or set early_stopping=False."
        )
    train, valid = train_test_split(
        np.arange(n_samples),
        test_size=n_valid,
        stratify=y_encoded,
        random_state=seed,
    )
    if np.bincount(y_encoded[valid]).max() < 2:
        # Retrieval among the validation rows needs a class with two of them.
        raise ValueError(
            f"early_stopping=True scores retrieval among the {n_valid} validation "
            f"rows (validation_fraction={fraction}), which needs "
            "two rows of some class there; every class got one. Raise "
            "validation_fraction, or set early_stopping=False."
        )
    return train, valid


#: Fewest classes ``validation_split="classes"`` holds out, and leaves to
#: train on: retrieval among held-out rows needs two classes to tell apart, as
#: training needs two to form dissimilar pairs.
MIN_SPLIT_CLASSES = 2


def class_validation_split(
    y_encoded: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers ``(train, valid)`` of an early-stopping split that holds
    out whole classes, about ``fraction`` of the rows.

    The classes are visited in a random order drawn from ``seed``, and each
    is held out when it brings the held-out rows closer to ``fraction`` of
    the rows; at least ``MIN_SPLIT_CLASSES`` are held out (the ones that
    stay closest, if the visit held out fewer) and as many left to train on.
    Only classes of two rows or more are held out (a row alone in its class
    has nothing to retrieve); the others all train.
    """
    classes, counts = np.unique(y_encoded, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(classes))
    order = order[counts[order] >= 2]
    most = min(len(order), len(classes) - MIN_SPLIT_CLASSES)
    if most < MIN_SPLIT_CLASSES:
        raise ValueError(
            "early_stopping=True with validation_split='classes' holds out "
            f"whole classes: at least {MIN_SPLIT_CLASSES} classes of 2 rows or "
            f"more for validation and {MIN_SPLIT_CLASSES} other classes to train "
            f"on; got {len(classes)} classes, {len(order)} of them with 2 rows "
            "or more. Use validation_split='stratified', add classes, or set "
            "early_stopping=False."
        )
    target = fraction * len(y_encoded)
    held = np.zeros(len(classes), dtype=bool)
    n_held_rows = 0
    for k in order:
        if held.sum() == most:
            break
        if abs(n_held_rows + counts[k] - target) < abs(n_held_rows - target):
            held[k] = True
            n_held_rows += counts[k]
    while held.sum() < MIN_SPLIT_CLASSES:
        rest = order[~held[order]]
        # The first in the random order among equally close classes.
        k = rest[np.argmin(np.abs(n_held_rows + counts[rest] - target))]
        held[k] = True
        n_held_rows += counts[k]
    in_valid = np.isin(y_encoded, classes[held])
    return np.flatnonzero(~in_valid), np.flatnonzero(in_valid)


def pair_validation_split(
    pairs: np.ndarray, similar: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pair numbers ``(train, valid)`` of an early-stopping split of explicit
    pairs, stratified by ``similar``, ``fraction`` of them held out.

    The split is over distinct pairs: repeats of two rows (in either order)
    all land on the same side, so that no validation pair is trained on.
    """
    distinct, which = np.unique(np.sort(pairs, axis=1), axis=0, return_inverse=True)
    which = which.ravel()
    # Repeats share one label (contradicting ones were refused).
    distinct_similar = np.zeros(len(distinct), dtype=bool)
    distinct_similar[which] = similar
    n_pairs = len(distinct)
    n_valid = math.ceil(fraction * n_pairs)
    n_similar = int(np.count_nonzero(distinct_similar))
    counts = f"{n_similar} similar and {n_pairs - n_similar} dissimilar distinct pairs"
    if min(n_similar, n_pairs - n_similar) < 2:
        raise ValueError(
            "early_stopping=True holds out pairs, stratified by similar, which "
            "needs a similar and a dissimilar pair for training and for "
            f"validation; got {counts}. Add pairs of the rarer kind, or set "
            "early_stopping=False."
        )
    split = None
    if 2 <= n_valid <= n_pairs - 2:
        split = train_test_split(
            np.arange(n_pairs),
            test_size=n_valid,
            stratify=distinct_similar,
            random_state=seed,
        )
    if split is None or any(len(np.unique(distinct_similar[s])) < 2 for s in split):
        raise ValueError(
            f"early_stopping=True holds out validation_fraction="
            f"{fraction} of the distinct pairs ({n_valid} of "
            f"{n_pairs}), stratified by similar, which needs a similar and a "
            f"dissimilar pair on each side; got {counts}. Change "
            "validation_fraction, add pairs, or set early_stopping=False."
        )
    _, valid = split
    in_valid = np.isin(which, valid)
    return np.flatnonzero(~in_valid), np.flatnonzero(in_valid)


#: Most validation rows the per-epoch retrieval score ranks: MAP@R costs
#: O(n_valid x R) neighbours (R = rows of the query's class), ~4 s an epoch at
#: 5,000 rows of 2 classes, so a large validation set is subsampled for it.
MAX_RETRIEVAL_ROWS = 2000


def retrieval_subset(
    X_valid: np.ndarray | RowSource, y_valid: np.ndarray, seed: int
) -> tuple[torch.Tensor | RowSource, np.ndarray]:
    """The validation rows early stopping ranks: all of them, or a stratified
    sample of ``MAX_RETRIEVAL_ROWS`` (the validation loss still uses all)."""
    if len(y_valid) > MAX_RETRIEVAL_ROWS:
        _, counts = np.unique(y_valid, return_counts=True)
        keep, _ = train_test_split(
            np.arange(len(y_valid)),
            train_size=MAX_RETRIEVAL_ROWS,
            # Stratifying needs two rows of every class.
            stratify=y_valid if counts.min() >= 2 else None,
            random_state=seed,
        )
        keep = np.sort(keep)
        X_valid, y_valid = select_rows(X_valid, keep), y_valid[keep]
    if isinstance(X_valid, RowSource) and X_valid.densifies:
        # Sparse rows stay sparse, densified a batch at a time every epoch:
        # 2,000 dense rows of 50,000 terms would be 400 MB.
        return X_valid, y_valid
    # At most MAX_RETRIEVAL_ROWS rows: read in full from a source.
    return as_tensor(read_all(X_valid)), y_valid


@dataclass(frozen=True)
class Validation:
    """What early stopping scores in a fit.

    Attributes
    ----------
    name : str
        The name of ``callback`` in the net.
    callback : skorch.callbacks.Callback
        Records the score every epoch.
    monitor : str
        The history key of the score early stopping watches.
    lower_is_better : bool
        Whether a lower ``monitor`` is better.
    dataset : skorch.dataset.Dataset, SourceDataset or None
        The rows skorch computes ``valid_loss`` on, or None for no loss.
    """

    name: str
    callback: Callback
    monitor: str
    lower_is_better: bool
    dataset: Dataset | None


def row_validation(
    X_valid: np.ndarray | RowSource, y_valid: np.ndarray, seed: int
) -> Validation:
    """Held-out labelled rows: retrieval MAP@R among them, and their loss.
    ``seed`` draws the rows ranked when there are too many."""
    return Validation(
        name=VALIDATION_RETRIEVAL,
        callback=ValidationRetrieval(*retrieval_subset(X_valid, y_valid, seed)),
        monitor=VALID_MAP_AT_R,
        lower_is_better=False,
        dataset=validation_dataset(X_valid, y_valid),
    )


def validation_dataset(X_valid, y_valid: np.ndarray) -> Dataset | SourceDataset:
    """The rows skorch computes ``valid_loss`` on: tensors sharing memory with
    in-memory rows, or a source's rows, read a batch at a time."""
    if isinstance(X_valid, RowSource):
        return SourceDataset(X_valid, y_valid)
    return Dataset(as_tensor(X_valid), as_tensor(y_valid))


def pair_validation(
    X: np.ndarray,
    pairs: np.ndarray,
    similar: np.ndarray,
    weight: np.ndarray | None = None,
) -> Validation:
    """Held-out explicit pairs: their loss (monitored) and ROC AUC, weighted
    by ``weight`` when given. Their rows may also be in training pairs; the
    pairs themselves are not trained on."""
    rows, positions = np.unique(pairs.ravel(), return_inverse=True)
    return Validation(
        name=VALIDATION_PAIRS,
        callback=ValidationPairs(
            as_rows(select_rows(X, rows)),
            positions.reshape(-1, 2),
            similar.astype(bool),
            weight,
        ),
        monitor=VALID_PAIR_LOSS,
        lower_is_better=True,
        dataset=None,
    )
