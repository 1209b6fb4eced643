"""The contrastive loss of Hadsell, Chopra & LeCun (2006) as torch code.

Two forms are provided:

* :func:`contrastive_loss`, the functional form on pair distances and pair
  labels, for pairs formed any way you like;
* :class:`ContrastiveLoss`, a :class:`torch.nn.Module` that takes a batch of
  embeddings and their class labels, forms every pair inside the batch and
  applies :func:`contrastive_loss`. This is the criterion that
  :class:`~sklearn_contrastive.ContrastiveEmbedder` trains with.

Label convention
----------------
Following the paper, ``Y = 0`` marks a **similar** pair and ``Y = 1`` a
**dissimilar** pair. Several libraries use the opposite convention (``1`` =
similar, e.g. pytorch-metric-learning's positive pairs, metric-learn's
``+1`` for similar pairs); convert before calling :func:`contrastive_loss`.
"""

from __future__ import annotations

import torch
from torch import nn

from . import _all_pairs_loss
from ._all_pairs_loss import all_pairs_loss
from ._labels import is_view
from .pairs import (
    all_pairs,
    check_pair_mining,
    condensed,
    hard_pairs,
    pair_statistics,
)

__all__ = ["ContrastiveLoss", "contrastive_loss", "paired_distances"]

_REDUCTIONS = ("mean", "sum", "none")


def paired_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance between matching rows of ``a`` and ``b``.

    Unlike the naive ``torch.sqrt(((a - b) ** 2).sum(dim=1))``, whose gradient
    is NaN where two rows coincide, the gradient here is zero there, so
    training on duplicated rows cannot turn the weights into NaN.

    Parameters
    ----------
    a, b : torch.Tensor of shape (n_pairs, n_components)
        The two sides of each pair.

    Returns
    -------
    distances : torch.Tensor of shape (n_pairs,)
    """
    squared = (a - b).pow(2).sum(dim=1)
    # sqrt has an infinite derivative at 0; evaluate it only where it is safe.
    positive = squared > 0
    safe = torch.where(positive, squared, torch.ones_like(squared))
    return torch.where(positive, safe.sqrt(), torch.zeros_like(squared))


def contrastive_loss(
    distances: torch.Tensor,
    pair_labels: torch.Tensor,
    margin: float = 1.0,
    *,
    similar_weight: float = 1.0,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Contrastive loss of Hadsell, Chopra & LeCun (2006).

    .. math::

        L = (1 - Y) \cdot \tfrac{1}{2} D^2
            + Y \cdot \tfrac{1}{2} \max(0, m - D)^2

    with ``Y = 0`` for a similar pair and ``Y = 1`` for a dissimilar pair.
    With pair weights ``w``, the mean is the weighted mean
    :math:`\sum_p w_p L_p / \sum_p w_p`.

    Parameters
    ----------
    distances : torch.Tensor of shape (n_pairs,)
        Euclidean distance ``D`` between the two embeddings of each pair.
        Compute it with a function whose gradient is finite at zero, such as
        :func:`torch.pdist` or :func:`paired_distances`.
    pair_labels : torch.Tensor of shape (n_pairs,)
        ``0`` (or ``False``) for a similar pair, ``1`` (or ``True``) for a
        dissimilar pair. Note that many libraries use the opposite
        convention.
    margin : float, default=1.0
        The margin ``m``: dissimilar pairs farther apart than ``m`` cost
        nothing.
    similar_weight : float, default=1.0
        Multiplies the similar-pair term. ``1.0`` is the loss of the paper.
    reduction : {"mean", "sum", "none"}, default="mean"
        How per-pair losses are combined. ``"mean"`` of zero pairs (or of
        pairs whose weights sum to zero) is ``0`` (with a gradient), not NaN.
    weight : torch.Tensor of shape (n_pairs,), default=None
        Non-negative weight of each pair: ``"mean"`` is then the weighted
        mean, ``"sum"`` the weighted sum, ``"none"`` the weighted losses.
        ``None``: every pair weighs 1.

    Returns
    -------
    loss : torch.Tensor
        A scalar, or a tensor of shape (n_pairs,) when ``reduction="none"``.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}.")
    if weight is not None and weight.shape != distances.shape:
        raise ValueError(
            f"weight must hold one weight per pair, shape {tuple(distances.shape)} "
            f"like distances; got shape {tuple(weight.shape)}."
        )
    dissimilar = pair_labels if pair_labels.dtype == torch.bool else pair_labels != 0
    similar_term = 0.5 * distances.square()
    if similar_weight != 1.0:
        similar_term = similar_weight * similar_term
    dissimilar_term = 0.5 * torch.clamp(margin - distances, min=0).square()
    losses = torch.where(dissimilar, dissimilar_term, similar_term)
    if weight is not None:
        losses = losses * weight
    if reduction == "none":
        return losses
    if reduction == "sum" or losses.numel() == 0:
        # sum of an empty tensor is 0 and still backpropagates.
        return losses.sum()
    if weight is None:
        return losses.mean()
    total = weight.sum()
    return losses.sum() / torch.where(total > 0, total, torch.ones_like(total))


def _unit_max(weights: torch.Tensor | None) -> torch.Tensor | None:
    """``weights`` divided by their maximum (when positive), or None."""
    if weights is None or weights.numel() == 0:
        return weights
    largest = weights.max()
    return weights / torch.where(largest > 0, largest, torch.ones_like(largest))


def _explicit_pairs_mining_message(pair_mining: str) -> str:
    """Why ``pair_mining`` other than ``"all"`` cannot apply to explicit pairs."""
    return (
        f"pair_mining={pair_mining!r} chooses among the pairs formed from "
        "class labels inside a batch; with explicit pairs every pair given "
        "counts. Use pair_mining='all'."
    )


class ContrastiveLoss(nn.Module):
    r"""Contrastive loss over the pairs of a batch of embeddings.

    The batch of ``B`` embeddings is embedded once; pairs of the same class
    are similar (``Y = 0``), pairs of different classes dissimilar
    (``Y = 1``). The ``B (B - 1) / 2`` distances are exact, with a finite
    gradient where two embeddings coincide: from :func:`torch.pdist` up to
    512 rows, above that in blocks of rows that bound the loss's memory and
    keep its cost per pair flat (see "Large batches" in the user guide's
    loss page). With ``pair_mining="all"`` every pair counts:

    .. math::

        L = \frac{1}{|P|} \sum_{(i, j) \in P} (1 - Y_{ij}) \tfrac{1}{2}
            D_{ij}^2 + Y_{ij} \tfrac{1}{2} \max(0, m - D_{ij})^2

    With ``pair_mining="hard"``, ``P`` shrinks to the pairs chosen by
    :func:`~sklearn_contrastive.pairs.hard_pairs`: each row's farthest
    similar pair and the dissimilar pairs inside the margin. With row weights
    ``s`` (``sample_weight``) the mean is weighted, pair ``(i, j)`` weighing
    :math:`w_{ij} = s_i s_j`:

    .. math::

        L = \frac{\sum_{(i, j) \in P} w_{ij} L_{ij}}
                 {\sum_{(i, j) \in P} w_{ij}}

    Parameters
    ----------
    margin : float, default=1.0
        The margin ``m``.
    similar_weight : float, default=1.0
        Multiplies the similar-pair term.
    pair_mining : {"all", "hard"}, default="all"
        Which of the batch's pairs the mean runs over.
    views : bool, default=False
        Whether negative labels mark views of unlabelled rows (see
        ``forward``). ``False``: every label is a class, negative ones
        included (binary labels ``{-1, 1}``).

    Attributes
    ----------
    last_pair_statistics : torch.Tensor of shape (5,) or None
        :func:`~sklearn_contrastive.pairs.pair_statistics` of all pairs of the
        last batch (before mining), for training diagnostics; ``None`` when
        ``record_statistics`` was off.

    record_statistics : bool
        Whether ``forward`` computes ``last_pair_statistics`` (``True`` at
        construction). The estimator turns it on for a sample of batches
        only, as the statistics cost a few kernels per batch.

    Examples
    --------
    >>> import torch
    >>> from sklearn_contrastive.losses import ContrastiveLoss
    >>> embeddings = torch.tensor([[0.0, 0.0], [0.0, 0.5], [3.0, 0.0]])
    >>> labels = torch.tensor([0, 0, 1])
    >>> ContrastiveLoss(margin=1.0)(embeddings, labels)
    tensor(0.0417)
    """

    def __init__(
        self,
        margin: float = 1.0,
        similar_weight: float = 1.0,
        pair_mining: str = "all",
        views: bool = False,
    ) -> None:
        super().__init__()
        check_pair_mining(pair_mining)
        self.margin = margin
        self.similar_weight = similar_weight
        self.pair_mining = pair_mining
        self.views = views
        self.last_pair_statistics = None
        self.record_statistics = True

    def _record(self, distances, dissimilar):
        self.last_pair_statistics = (
            pair_statistics(distances, dissimilar, self.margin)
            if self.record_statistics
            else None
        )

    def forward(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        pairs: torch.Tensor | None = None,
        similar: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
        pair_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Loss of a batch, its pairs given by ``labels`` or by ``pairs``.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (batch_size, n_components)
        labels : torch.Tensor of int of shape (batch_size,), default=None
            Class of each row; every pair of rows counts. With
            ``views=True``, negative labels mark views of unlabelled rows (see
            :mod:`~sklearn_contrastive.views`): two rows with the same
            negative label are similar, with different negative labels
            dissimilar, and no pair joins a view to a labelled row (its
            class is unknown). The loss is then the mean over the pairs of
            views plus the mean over the pairs of labelled rows, so that
            neither kind outweighs the other by its number.
        pairs : torch.Tensor of int of shape (n_pairs, 2), default=None
            Explicit pairs instead of ``labels``: row numbers into
            ``embeddings``. Only these pairs count.
        similar : torch.Tensor of bool of shape (n_pairs,), default=None
            With ``pairs``: ``True`` for a similar pair (``Y = 0``).
        sample_weight : torch.Tensor of shape (batch_size,), default=None
            Non-negative weight of each row: pair ``(i, j)`` weighs
            ``sample_weight[i] * sample_weight[j]`` in the (weighted) mean.
            Only ratios matter: uniform weights give the unweighted loss.
        pair_weight : torch.Tensor of shape (n_pairs,), default=None
            With ``pairs``: non-negative weight of each pair (times the
            weights of its rows when ``sample_weight`` is given too).
        """
        if (labels is None) == (pairs is None) or (pairs is None) != (similar is None):
            given = [
                name
                for name, value in (
                    ("labels", labels),
                    ("pairs", pairs),
                    ("similar", similar),
                )
                if value is not None
            ]
            raise ValueError(
                "ContrastiveLoss needs either labels, or pairs together with "
                f"similar; got {', '.join(given) or 'none of them'}."
            )
        if pair_weight is not None and pairs is None:
            raise ValueError(
                "ContrastiveLoss takes pair_weight with explicit pairs only; "
                "with labels, weigh rows with sample_weight."
            )
        # Only ratios matter: scaled to a largest weight of 1, products of
        # weights can neither overflow nor (for usable ratios) underflow.
        sample_weight, pair_weight = _unit_max(sample_weight), _unit_max(pair_weight)
        if pairs is not None:
            weight = pair_weight
            if sample_weight is not None:
                rows = sample_weight[pairs[:, 0]] * sample_weight[pairs[:, 1]]
                weight = rows if weight is None else weight * rows
            return self._explicit_pairs_loss(embeddings, pairs, similar, weight)
        # Views of unlabelled rows carry negative codes (one sync per batch).
        groups = None
        if self.views and bool(is_view(labels).any()):
            # Pairs between a view and a labelled row say nothing: left out.
            # Labelled pairs and view pairs weigh the same whatever their
            # numbers: the loss is the sum of the two groups' means.
            groups = is_view(labels)
        if len(embeddings) <= _all_pairs_loss.CONDENSED_UP_TO:
            return self._condensed_loss(embeddings, labels, groups, sample_weight)
        loss, self.last_pair_statistics = all_pairs_loss(
            embeddings,
            labels,
            groups,
            margin=self.margin,
            similar_weight=self.similar_weight,
            hard=self.pair_mining == "hard",
            sample_weight=sample_weight,
            record_statistics=self.record_statistics,
        )
        return loss

    def _condensed_loss(self, embeddings, labels, groups, sample_weight):
        """The loss of a small batch from its condensed distances."""
        # (B (B - 1) / 2,) distances, in torch.triu_indices order.
        distances = torch.pdist(embeddings)
        dissimilar = all_pairs(labels)
        # (B (B - 1) / 2,) pair weights s_i s_j, or None.
        weight = None
        if sample_weight is not None:
            sample_weight = sample_weight.to(distances.dtype)
            weight = condensed(sample_weight[:, None] * sample_weight[None, :])
        if groups is None:
            self._record(distances, dissimilar)
            if self.pair_mining == "hard":
                selected = hard_pairs(
                    distances, dissimilar, len(embeddings), self.margin
                )
                distances, dissimilar = distances[selected], dissimilar[selected]
                weight = None if weight is None else weight[selected]
            return self._mean_loss(distances, dissimilar, weight)
        view_pairs = condensed(groups[:, None] & groups[None, :])
        labelled_pairs = condensed(~groups[:, None] & ~groups[None, :])
        same_group = view_pairs | labelled_pairs
        self._record(distances[same_group], dissimilar[same_group])
        if self.pair_mining == "hard":
            hard = hard_pairs(distances, dissimilar, len(embeddings), self.margin)
            view_pairs, labelled_pairs = view_pairs & hard, labelled_pairs & hard
        loss = self._mean_loss(distances, dissimilar, weight, view_pairs)
        if bool(labelled_pairs.any()):
            loss = loss + self._mean_loss(distances, dissimilar, weight, labelled_pairs)
        return loss

    def _mean_loss(self, distances, dissimilar, weight=None, chosen=None):
        """The (weighted) mean loss of the pairs, or of the ``chosen`` ones."""
        if chosen is not None:
            distances, dissimilar = distances[chosen], dissimilar[chosen]
            weight = None if weight is None else weight[chosen]
        return contrastive_loss(
            distances,
            dissimilar,
            self.margin,
            similar_weight=self.similar_weight,
            weight=weight,
        )

    def _explicit_pairs_loss(self, embeddings, pairs, similar, weight):
        if self.pair_mining != "all":
            raise ValueError(_explicit_pairs_mining_message(self.pair_mining))
        # (n_pairs,) distances; each row was embedded once, pairs index it.
        distances = paired_distances(embeddings[pairs[:, 0]], embeddings[pairs[:, 1]])
        dissimilar = ~similar.bool()
        self._record(distances, dissimilar)
        if weight is not None:
            weight = weight.to(distances.dtype)
        return self._mean_loss(distances, dissimilar, weight)

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, similar_weight={self.similar_weight}, "
            f"pair_mining={self.pair_mining!r}, views={self.views}"
        )
