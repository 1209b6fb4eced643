"""Which pairs a batch contributes, and batches that always hold some.

Pairs are never materialised as copies of the data: a batch of ``B`` rows is
embedded once and its pairs are *indices* into that batch, in the order of
:func:`torch.pdist` (``torch.triu_indices(B, B, 1)``). Nothing here is ever of
size ``n_samples x n_samples``.

:class:`ClassBalancedBatchSampler` draws batches of ``P`` classes times ``M``
rows per class, so that every batch holds similar pairs even with many
classes or strongly imbalanced labels.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import numpy as np
import torch

__all__ = [
    "PAIR_MINING",
    "ClassBalancedBatchSampler",
    "all_pairs",
    "all_pairs_indices",
    "condensed",
    "hard_pairs",
    "pair_statistics",
]

#: Pair-mining strategies of :class:`~sklearn_contrastive.losses.ContrastiveLoss`.
PAIR_MINING = ("all", "hard")

#: Rows per class in a batch when there are too many classes for all of them
#: to fit: each row then has at least 3 similar partners in its batch.
MIN_SAMPLES_PER_CLASS = 4


def check_pair_mining(pair_mining) -> None:
    """Raise ValueError unless ``pair_mining`` is one of :data:`PAIR_MINING`."""
    if pair_mining not in PAIR_MINING:
        raise ValueError(
            f"pair_mining must be one of {PAIR_MINING}; got {pair_mining!r}."
        )


def max_samples_per_class(batch_size: int) -> int:
    """The most rows per class that leave room for two classes in a batch of
    ``batch_size`` rows, so that it holds dissimilar pairs."""
    return batch_size // 2


def all_pairs_indices(n: int, device: torch.device | str | None = None):
    """Indices ``(i, j)`` with ``i < j`` of every pair among ``n`` rows.

    The order is that of :func:`torch.pdist`'s condensed output.

    Parameters
    ----------
    n : int
        Number of rows in the batch.
    device : torch.device or str, default=None
        Where to create the indices.

    Returns
    -------
    i, j : torch.Tensor of shape (n (n - 1) / 2,)
    """
    i, j = torch.triu_indices(n, n, offset=1, device=device)
    return i, j


@functools.lru_cache(maxsize=16)
def _condensed_positions(n: int, device: torch.device) -> torch.Tensor:
    """Positions of :func:`all_pairs_indices` in a flattened ``(n, n)`` matrix.

    Cached: training asks for the same batch size on every step. Read only.
    """
    i, j = all_pairs_indices(n, device=device)
    return i * n + j


def condensed(matrix: torch.Tensor) -> torch.Tensor:
    """The upper triangle of a square ``(n, n)`` matrix, in :func:`torch.pdist` order.

    Parameters
    ----------
    matrix : torch.Tensor of shape (n, n)

    Returns
    -------
    values : torch.Tensor of shape (n (n - 1) / 2,)
        ``matrix[i, j]`` for every pair ``i < j``.
    """
    positions = _condensed_positions(matrix.shape[0], matrix.device)
    return matrix.reshape(-1).index_select(0, positions)


def all_pairs(labels: torch.Tensor) -> torch.Tensor:
    """Pair labels of every pair in a batch, in :func:`torch.pdist` order.

    Parameters
    ----------
    labels : torch.Tensor of shape (batch_size,)
        Class label of each row of the batch.

    Returns
    -------
    pair_labels : torch.Tensor of bool, shape (batch_size (batch_size - 1) / 2,)
        ``False`` (``Y = 0``) where both rows share a class, ``True``
        (``Y = 1``) where they do not.
    """
    # Comparing all (batch_size, batch_size) labels and keeping the upper
    # triangle is ~3x faster than gathering labels[i] and labels[j].
    return condensed(labels[:, None] != labels[None, :])


def hard_pairs(
    distances: torch.Tensor, dissimilar: torch.Tensor, n: int, margin: float
) -> torch.Tensor:
    """Online hard-pair mining: which of a batch's pairs carry a loss.

    Per anchor (row of the batch), its hardest similar pair (the farthest
    row of its class) is kept; of the dissimilar pairs, those still inside
    the margin are kept (the rest cost nothing anyway, but under a mean they
    dilute the gradient of the few that matter). This is the pair selection
    of online contrastive / batch-hard mining (Hermans et al., 2017).

    Parameters
    ----------
    distances : torch.Tensor of shape (n (n - 1) / 2,)
        Condensed pairwise distances in :func:`torch.pdist` order. Only their
        values are used: no gradient flows through the selection.
    dissimilar : torch.Tensor of bool, same shape
        Pair labels from :func:`all_pairs`.
    n : int
        Number of rows in the batch.
    margin : float
        The loss margin.

    Returns
    -------
    selected : torch.Tensor of bool, same shape
        ``True`` for the pairs to keep. A similar pair is kept when it is the
        hardest one of either of its rows (ties keep all tied pairs). Pairs at
        a non-finite distance are always kept, so that a diverging loss shows.
    """
    distances = distances.detach()
    dissimilar = dissimilar.bool()
    i, j = all_pairs_indices(n, device=distances.device)
    similar = ~dissimilar
    # -1 marks "not a similar pair"; real distances are >= 0.
    similar_distances = torch.where(similar, distances, -torch.ones_like(distances))
    # (n,) distance from each row to the farthest row of its class.
    hardest = torch.full((n,), -1.0, dtype=distances.dtype, device=distances.device)
    hardest = hardest.scatter_reduce(0, i, similar_distances, "amax")
    hardest = hardest.scatter_reduce(0, j, similar_distances, "amax")
    is_hardest = (distances == hardest[i]) | (distances == hardest[j])
    selected = (similar & is_hardest) | (dissimilar & (distances < margin))
    # NaN fails every comparison: keep such pairs so the loss shows it.
    return selected | ~torch.isfinite(distances)


def pair_statistics(
    distances: torch.Tensor, dissimilar: torch.Tensor, margin: float
) -> torch.Tensor:
    """Sums that describe a batch's pairs, for per-epoch diagnostics.

    Parameters
    ----------
    distances : torch.Tensor of shape (n_pairs,)
    dissimilar : torch.Tensor of bool, shape (n_pairs,)
    margin : float

    Returns
    -------
    sums : torch.Tensor of shape (5,), detached, on ``distances``' device
        Sum of similar-pair distances, number of similar pairs, sum of
        dissimilar-pair distances, number of dissimilar pairs, number of
        dissimilar pairs closer than ``margin`` (active). Summing these over
        batches and dividing gives epoch means without a device sync per
        batch.
    """
    distances = distances.detach()
    dissimilar = dissimilar.bool()
    dissimilar_f = dissimilar.to(distances.dtype)
    n_dissimilar = dissimilar_f.sum()
    n_active = (dissimilar & (distances < margin)).sum().to(distances.dtype)
    return torch.stack(
        [
            torch.dot(distances, 1 - dissimilar_f),
            distances.numel() - n_dissimilar,
            torch.dot(distances, dissimilar_f),
            n_dissimilar,
            n_active,
        ]
    )


class ClassBalancedBatchSampler:
    """Batches of ``P`` classes x ``M`` rows, reshuffled on every pass.

    With few classes every batch holds every class (``P = n_classes``,
    ``M = batch_size // n_classes``); with many, each batch holds
    ``P = batch_size // M`` classes drawn uniformly without replacement and
    ``M`` rows of each (``M = 4`` by default). Within a class, rows are taken
    from a fresh permutation and a new permutation is drawn when one is used
    up, so every row is seen about equally often and no row appears twice in
    a batch. A class with fewer than ``M`` rows contributes all of them.

    One pass yields enough batches to visit about ``n_samples`` rows:
    ``ceil(n_samples / (P * M))`` when every class has ``M`` rows or more
    (``P * M`` can fall a little short of ``batch_size``: 250 rows for 10
    classes and ``batch_size=256``), so an epoch costs about what a plain
    shuffled pass costs.

    Parameters
    ----------
    labels : array-like of int of shape (n_samples,)
        Encoded class of each row (``0 .. n_classes - 1`` not required).
    batch_size : int
        Target number of rows per batch, at least 2.
    samples_per_class : int, default=None
        ``M``. ``None`` adapts it to the number of classes as above.
    random_state : numpy.random.Generator
        Source of every random draw. Share one generator across passes to get
        a different shuffle on each.

    Attributes
    ----------
    n_classes_per_batch : int
        ``P``.
    samples_per_class_ : int
        ``M``.
    """

    def __init__(
        self,
        labels,
        batch_size: int,
        samples_per_class: int | None = None,
        *,
        random_state: np.random.Generator,
    ) -> None:
        labels = np.asarray(labels)
        self.batch_size = int(batch_size)
        self.random_state = random_state
        classes, inverse = np.unique(labels, return_inverse=True)
        # One array of row positions per class.
        order = np.argsort(inverse, kind="stable")
        counts = np.bincount(inverse, minlength=len(classes))
        self._members = np.split(order, np.cumsum(counts)[:-1])
        n_classes = len(classes)

        if samples_per_class is None:
            samples_per_class = max(
                MIN_SAMPLES_PER_CLASS, self.batch_size // max(n_classes, 1)
            )
        # At least two classes per batch, so that there are dissimilar pairs.
        samples_per_class = max(
            1, min(samples_per_class, max_samples_per_class(self.batch_size))
        )
        self.samples_per_class_ = samples_per_class
        self.n_classes_per_batch = max(
            1, min(n_classes, self.batch_size // samples_per_class)
        )
        self._n_samples = len(labels)
        if self._n_samples == 0:
            raise ValueError("ClassBalancedBatchSampler needs at least one row.")
        # Expected rows per batch: P classes, each giving min(M, class size).
        per_class = np.minimum(counts, samples_per_class).mean()
        self._rows_per_batch = max(1.0, self.n_classes_per_batch * per_class)
        self._permutations = [None] * n_classes
        self._positions = [0] * n_classes

    def __len__(self) -> int:
        # Enough batches for one pass to visit about n_samples rows.
        return max(1, math.ceil(self._n_samples / self._rows_per_batch))

    def _take(self, c: int, m: int) -> np.ndarray:
        """Next ``m`` distinct rows of class ``c`` (all of them if it has fewer)."""
        members = self._members[c]
        m = min(m, len(members))
        permutation, position = self._permutations[c], self._positions[c]
        if permutation is None:
            permutation, position = self.random_state.permutation(members), 0
        taken = permutation[position : position + m]
        position += len(taken)
        if len(taken) < m:
            # The permutation ran out mid-batch: draw the next one with the rows
            # just taken placed last, so that no row appears twice in a batch.
            rest = np.setdiff1d(members, taken, assume_unique=True)
            permutation = np.concatenate(
                [
                    self.random_state.permutation(rest),
                    self.random_state.permutation(taken),
                ]
            )
            position = m - len(taken)
            taken = np.concatenate([taken, permutation[:position]])
        self._permutations[c], self._positions[c] = permutation, position
        return taken

    def __iter__(self) -> Iterator[np.ndarray]:
        n_classes = len(self._members)
        for _ in range(len(self)):
            if self.n_classes_per_batch == n_classes:
                chosen = np.arange(n_classes)
            else:
                chosen = self.random_state.choice(
                    n_classes, self.n_classes_per_batch, replace=False
                )
            yield np.concatenate(
                [self._take(c, self.samples_per_class_) for c in chosen]
            )
