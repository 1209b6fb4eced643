"""Mini-batch loaders that index whole tensors once per batch.

skorch's default path (a ``torch.utils.data.DataLoader`` calling the
dataset's ``__getitem__`` once per row, then collating) cost 1.2-1.6x a bare
PyTorch loop on tabular data; indexing the stored tensor with a whole batch of
row numbers brings that to 1.0-1.2x. Both loaders accept the dataset skorch
builds from ``(X, y)`` tensors, and the :class:`torch.utils.data.Subset` of it
that skorch's internal validation split hands them.

The training loaders are one per source of pairs: :class:`ClassBalancedLoader`
(class labels), :class:`PairLoader` (explicit pairs) and :class:`ViewLoader`
(unlabelled rows as corrupted views, with or without labelled rows).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from skorch.dataset import Dataset
from torch.utils.data import Subset, TensorDataset

from ._labels import is_labelled, view_codes
from ._sources import RowSource, SourceDataset, select_rows, take_rows
from .pairs import ClassBalancedBatchSampler
from .views import scarf_corrupt


def unwrap_dataset(
    dataset,
) -> tuple[torch.Tensor | RowSource, torch.Tensor | None, np.ndarray]:
    """Return ``(X, y, rows)``: the stored tensors and the rows ``dataset`` covers.

    Nested :class:`~torch.utils.data.Subset` objects are resolved into one
    array of row numbers; no data are copied. ``X`` is the
    :class:`~sklearn_contrastive._sources.RowSource` of a
    :class:`~sklearn_contrastive._sources.SourceDataset` (out-of-core input),
    read a batch at a time.
    """
    rows = None
    while isinstance(dataset, Subset):
        indices = np.asarray(dataset.indices, dtype=np.int64)
        rows = indices if rows is None else indices[rows]
        dataset = dataset.dataset
    if isinstance(dataset, Dataset | SourceDataset):
        X, y = dataset.X, dataset.y
    elif isinstance(dataset, TensorDataset):
        X = dataset.tensors[0]
        y = dataset.tensors[1] if len(dataset.tensors) > 1 else None
    else:
        raise TypeError(
            "sklearn_contrastive's batch loaders need a skorch Dataset or a "
            f"TensorDataset (or a Subset of one); got {type(dataset).__name__}."
        )
    if not isinstance(X, torch.Tensor | RowSource):
        X = torch.as_tensor(np.asarray(X))
    if y is not None and not isinstance(y, torch.Tensor):
        y = torch.as_tensor(np.asarray(y))
    if rows is None:
        rows = np.arange(len(X))
    return X, y, rows


class _TensorBatches:
    """Shared iteration: turn index batches into ``(X[idx], y[idx])``.

    With row weights (``sample_weight``, one per stored row, the numbering of
    ``unwrap_dataset``'s ``rows``), a training batch's target is the dict
    ``{"labels": y[idx], "sample_weight": weights[idx]}``, which
    :class:`~sklearn_contrastive.losses.ContrastiveLoss` takes as keyword
    arguments.
    """

    def __init__(self, dataset, sample_weight: np.ndarray | None = None) -> None:
        self.X, self.y, self.rows = unwrap_dataset(dataset)
        self.sample_weight = (
            None if sample_weight is None else torch.as_tensor(sample_weight)
        )

    def _target(self, labels: torch.Tensor, *positions: np.ndarray):
        """A training batch's target: its labels, with its rows' weights.

        ``positions`` are the batch's rows in order, as positions into
        ``self.rows``, in one or more parts; read only when weighted.
        """
        if self.sample_weight is None:
            return labels
        rows = self.rows[np.concatenate(positions)]
        weights = self.sample_weight[torch.from_numpy(rows)]
        return {"labels": labels, "sample_weight": weights}

    def _batch(self, positions: np.ndarray):
        rows = self.rows[positions]
        index = torch.from_numpy(rows)
        Xb = take_rows(self.X, rows)
        # skorch expects a target even at inference; a dummy costs nothing.
        yb = self.y[index] if self.y is not None else torch.zeros(len(index))
        return Xb, yb


class BatchLoader(_TensorBatches):
    """Consecutive batches in row order: for skorch's validation and prediction.

    Parameters
    ----------
    dataset : skorch Dataset, TensorDataset or Subset of one
    batch_size : int
    **kwargs
        Ignored, so that skorch's ``iterator_valid__*`` settings meant for a
        :class:`~torch.utils.data.DataLoader` (``num_workers``...) do not fail.
    """

    def __init__(self, dataset, batch_size: int, **kwargs) -> None:
        super().__init__(dataset)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self.rows), self.batch_size):
            yield self._batch(
                np.arange(start, min(start + self.batch_size, len(self.rows)))
            )


class ClassBalancedLoader(_TensorBatches):
    """Class-balanced training batches, reshuffled on every epoch.

    skorch builds the loader once per ``fit`` and iterates over it once per
    epoch; each pass draws from the shared ``random_state`` generator, so each
    epoch's batches differ while the whole fit stays reproducible.

    Parameters
    ----------
    dataset : skorch Dataset, TensorDataset or Subset of one
        Must hold integer class labels as its target.
    batch_size : int
    random_state : numpy.random.Generator
    samples_per_class : int, default=None
        See :class:`~sklearn_contrastive.pairs.ClassBalancedBatchSampler`.
    sample_weight : ndarray of shape (n_stored_rows,), default=None
        Row weights, sent with each batch's labels.
    **kwargs
        Ignored (``DataLoader`` options such as ``shuffle``).
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        random_state: np.random.Generator,
        samples_per_class: int | None = None,
        sample_weight: np.ndarray | None = None,
        **kwargs,
    ) -> None:
        super().__init__(dataset, sample_weight)
        if self.y is None:
            raise ValueError(
                "ClassBalancedLoader needs class labels as the dataset's target; "
                "got a dataset without one. Pass y to fit."
            )
        labels = self.y[torch.from_numpy(self.rows)].cpu().numpy()
        self.sampler = ClassBalancedBatchSampler(
            labels,
            batch_size,
            samples_per_class,
            random_state=random_state,
        )

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | dict]]:
        for positions in self.sampler:
            Xb, yb = self._batch(positions)
            yield Xb, self._target(yb, positions)


class PairLoader(_TensorBatches):
    """Batches of explicit pairs, reshuffled on every epoch.

    Each batch holds ``batch_size`` pairs; its rows are the distinct rows
    those pairs touch (each embedded once), and its target is the pairs as
    row numbers into the batch with their similar flags, which
    :class:`~sklearn_contrastive.losses.ContrastiveLoss` takes as
    ``pairs=`` and ``similar=``.

    Parameters
    ----------
    dataset : skorch Dataset, TensorDataset or Subset of one
    batch_size : int
        Pairs per batch.
    random_state : numpy.random.Generator
    pairs : ndarray of int of shape (n_pairs, 2)
        Row numbers into ``dataset``.
    similar : ndarray of bool of shape (n_pairs,)
    pair_weight : ndarray of shape (n_pairs,), default=None
        Pair weights, sent as the target's ``pair_weight``.
    **kwargs
        Ignored (``DataLoader`` options such as ``shuffle``).
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        random_state: np.random.Generator,
        pairs: np.ndarray,
        similar: np.ndarray,
        pair_weight: np.ndarray | None = None,
        **kwargs,
    ) -> None:
        super().__init__(dataset)
        self.batch_size = batch_size
        self.random_state = random_state
        self.pairs = pairs
        self.similar = similar
        self.pair_weight = pair_weight

    def __len__(self) -> int:
        return math.ceil(len(self.pairs) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, dict]]:
        order = self.random_state.permutation(len(self.pairs))
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            # (n_rows,) distinct rows of these pairs; (2 * n_pairs,) positions.
            rows, positions = np.unique(self.pairs[chosen].ravel(), return_inverse=True)
            Xb, _ = self._batch(rows)
            target = {
                "pairs": torch.from_numpy(positions.reshape(-1, 2)),
                "similar": torch.from_numpy(self.similar[chosen]),
            }
            if self.pair_weight is not None:
                target["pair_weight"] = torch.from_numpy(self.pair_weight[chosen])
            yield Xb, target


def labelled_rows_per_batch(batch_size: int) -> int:
    """Rows of a :class:`ViewLoader` batch that hold labelled rows when there
    are unlabelled ones too: half of it (the views take the other half)."""
    return max(2, batch_size // 2)


class ViewLoader(_TensorBatches):
    """Batches where unlabelled rows come as two corrupted views each.

    Rows labelled ``-1`` are unlabelled. Each batch holds ``batch_size // 4``
    unlabelled rows as two SCARF views each (:func:`~sklearn_contrastive.
    views.scarf_corrupt`, values drawn from all training rows), coded
    ``-1 - k`` for the ``k``-th row (``_labels.view_codes``) so that its two
    views share a code and differ from every other row's; and, when there
    are labelled rows, half a batch of them drawn by a
    :class:`~sklearn_contrastive.pairs.ClassBalancedBatchSampler`. Without
    labelled rows the views fill the batch (``batch_size // 2`` rows). An
    epoch lasts until both kinds of rows have been visited about once; the
    smaller kind starts over when it runs out.

    Parameters
    ----------
    dataset : skorch Dataset, TensorDataset or Subset of one
        Target: encoded class labels, ``-1`` for unlabelled rows.
    batch_size : int
    random_state : numpy.random.Generator
    corruption_rate : float
        Fraction of features replaced in a view.
    samples_per_class : int, default=None
        For the labelled rows' sampler.
    sample_weight : ndarray of shape (n_stored_rows,), default=None
        Row weights, sent with each batch's labels; both views of a row
        carry its weight.
    **kwargs
        Ignored (``DataLoader`` options such as ``shuffle``).
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        random_state: np.random.Generator,
        corruption_rate: float,
        samples_per_class: int | None = None,
        sample_weight: np.ndarray | None = None,
        **kwargs,
    ) -> None:
        super().__init__(dataset, sample_weight)
        self.random_state = random_state
        self.corruption_rate = corruption_rate
        labels = self.y[torch.from_numpy(self.rows)].cpu().numpy()
        self._unlabelled = np.flatnonzero(~is_labelled(labels))
        labelled = np.flatnonzero(is_labelled(labels))
        self._labelled = labelled
        self._sampler = None
        if len(labelled):
            self._sampler = ClassBalancedBatchSampler(
                labels[labelled],
                labelled_rows_per_batch(batch_size),
                samples_per_class,
                random_state=random_state,
            )
            self._n_views = max(1, batch_size // 4)
        else:
            self._n_views = max(2, batch_size // 2)
        # The pool views draw replacement values from: every training row
        # (a view of the stored data, copied only for a subset of it; a
        # source's rows stay on disk, read value by value).
        stored = self.X if isinstance(self.X, RowSource) else self.X.cpu().numpy()
        covers_all = len(self.rows) == len(stored) and np.array_equal(
            self.rows, np.arange(len(stored))
        )
        self._pool = stored if covers_all else select_rows(stored, self.rows)

    def __len__(self) -> int:
        unlabelled = math.ceil(len(self._unlabelled) / self._n_views)
        return max(unlabelled, len(self._sampler) if self._sampler else 0, 1)

    def _view_batches(self) -> Iterator[np.ndarray]:
        """Positions of unlabelled rows, ``_n_views`` at a time, endlessly."""
        while True:
            order = self.random_state.permutation(self._unlabelled)
            for start in range(0, len(order), self._n_views):
                yield order[start : start + self._n_views]

    def _labelled_batches(self) -> Iterator[np.ndarray]:
        """Positions of labelled rows, one sampler batch at a time, endlessly."""
        while True:
            for positions in self._sampler:
                yield self._labelled[positions]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | dict]]:
        views = self._view_batches() if len(self._unlabelled) else None
        labelled = self._labelled_batches() if self._sampler else None
        for _ in range(len(self)):
            parts_X, parts_y, parts_positions = [], [], []
            if labelled is not None:
                positions = next(labelled)
                Xb, yb = self._batch(positions)
                parts_X.append(Xb)
                parts_y.append(yb)
                parts_positions.append(positions)
            if views is not None:
                positions = next(views)
                base = self._pool[positions]
                ids = view_codes(len(base), self.y.dtype)
                for _ in range(2):
                    view = scarf_corrupt(
                        base,
                        self.corruption_rate,
                        pool=self._pool,
                        random_state=self.random_state,
                    )
                    parts_X.append(torch.from_numpy(view))
                    parts_y.append(ids)
                    parts_positions.append(positions)
            yield torch.cat(parts_X), self._target(torch.cat(parts_y), *parts_positions)
