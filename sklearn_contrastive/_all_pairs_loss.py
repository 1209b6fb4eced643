"""The contrastive loss over every pair of a batch, computed in row blocks.

:class:`~sklearn_contrastive.losses.ContrastiveLoss` forms the ``B (B - 1) / 2``
pairs of a batch of ``B`` embeddings. Evaluating them as one condensed vector
(:func:`torch.pdist`) costs a time per row that grows fast with ``B``: its
backward pass is an elementwise kernel over all pairs and all components.
Here the same loss is computed from the matrix form of the distances,

.. math::

    D_{ij}^2 = \\lVert e_i \\rVert^2 + \\lVert e_j \\rVert^2 - 2\\, e_i \\cdot e_j,

one block of rows at a time (about :data:`BLOCK_ELEMENTS` pairs each), so
that the work is matrix products plus a few elementwise passes over pair
scalars that stay in cache, and the memory of the loss is one block, never
``O(B^2)`` and never ``(n_pairs, n_components)``.

Three things keep it the same loss as the condensed form to float32 rounding
(``tests/test_losses.py`` checks it against a Python loop and against
:func:`torch.pdist`):

* The rows are centred on the batch mean first (distances do not change),
  which keeps the norms, and so the rounding of the Gram form, small.
* The similar-pair term needs no distance: per class ``c`` of ``n_c`` rows,
  :math:`\\sum_{i<j} D_{ij}^2 = n_c \\sum_i \\lVert e_i - \\mu_c \\rVert^2`,
  exact and ``O(B d)``. Only dissimilar pairs go through the blocks (and,
  under hard mining, each row's hardest similar pairs).
* The Gram form loses relative precision where a distance is small next to
  the norms; dissimilar pairs there (``D^2`` below :data:`REFINE_RATIO` times
  the largest squared norm) are recomputed from the row differences, and a
  dissimilar pair at exactly ``D = 0`` gets a zero gradient, as
  :func:`torch.pdist`'s.

Row weights ``s`` (``sample_weight``) weigh pair ``(i, j)`` by ``s_i s_j``:
per class, :math:`\\sum_{i<j} s_i s_j D_{ij}^2 = S_c \\sum_i s_i
\\lVert e_i - \\mu_c \\rVert^2` with :math:`S_c = \\sum_i s_i` and
:math:`\\mu_c` the weighted mean, and the blocks multiply their pairs by
``s_i s_j``; the mean divides by the sum of the pair weights.

The gradient is the analytic one, accumulated block by block in the forward
pass (two matrix products per block) and handed back by ``backward``: no
block is kept for autograd. It is first-order only (no double backward).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

#: Batches up to this many rows take the condensed form instead
#: (:func:`torch.pdist`, one kernel): below ~600 rows it is faster than the
#: blocks' few dozen kernels, and its B (B - 1) / 2 distances are few.
CONDENSED_UP_TO = 512
#: Pairs per block on the CPU: blocks of ~2^18 float32 scalars (1 MiB) stay in
#: cache through the elementwise passes (benchmarks/bench_loss.py measured 2^18
#: to 2^20 within 10% at B = 4,096, 2^15 twice as slow and a single block 10x).
BLOCK_ELEMENTS = 2**18
#: Fewer rows a block than this and the per-block kernel launches dominate.
MIN_BLOCK_ROWS = 64
#: On CUDA, larger blocks: each block synchronises once (the refinement's
#: ``nonzero``), and the GPU's memory is not the constraint. Not measured yet.
CUDA_BLOCK_ELEMENTS = 2**24
#: Dissimilar pairs with ``D^2 < REFINE_RATIO * 2 max_i ||e_i - mean||^2`` are
#: recomputed from their difference: the Gram form's error in ``D^2`` is a few
#: float32 epsilons of the norms, so the pairs left unrefined keep ``D`` to a
#: relative ~1e-5.
REFINE_RATIO = 1e-2


def all_pairs_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    groups: torch.Tensor | None,
    *,
    margin: float,
    similar_weight: float,
    hard: bool,
    sample_weight: torch.Tensor | None = None,
    record_statistics: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean contrastive loss over the pairs of a batch, with its gradient,
    and (``record_statistics``) the pairs' statistics, from the same blocks.

    Parameters
    ----------
    embeddings : torch.Tensor of shape (B, n_components)
    labels : torch.Tensor of int of shape (B,)
        Rows with the same label form similar pairs, others dissimilar ones.
    groups : torch.Tensor of bool of shape (B,) or None
        Splits the rows in two groups (views of unlabelled rows and labelled
        rows): pairs across groups are left out, and the loss is the sum of
        each group's mean (a group without pairs adds 0). ``None``: one group.
    margin, similar_weight : float
    hard : bool
        Hard mining: each row's hardest similar pairs and the dissimilar
        pairs inside the margin (:func:`~sklearn_contrastive.pairs.hard_pairs`).
    sample_weight : torch.Tensor of shape (B,) or None
        Row weights: the mean is weighted, pair ``(i, j)`` by ``s_i s_j``.
    record_statistics : bool, default=False
        Whether to return the statistics too.

    Returns
    -------
    loss : torch.Tensor of shape ()
    statistics : torch.Tensor of shape (5,) or None
        :func:`~sklearn_contrastive.pairs.pair_statistics`' five sums over
        the pairs within a group (unweighted, before mining); None unless
        ``record_statistics``.
    """
    if sample_weight is not None:
        sample_weight = sample_weight.to(embeddings.dtype)
    loss, statistics = _AllPairsLoss.apply(
        embeddings,
        labels,
        groups,
        float(margin),
        float(similar_weight),
        hard,
        sample_weight,
        record_statistics,
    )
    return loss, statistics if record_statistics else None


class _AllPairsLoss(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, embeddings, labels, groups, margin, similar_weight, hard, weights, record
    ):
        statistics = embeddings.new_zeros(5)
        with torch.no_grad():
            loss, grad = _loss_and_gradient(
                _Batch(embeddings.detach(), labels, groups, weights),
                margin,
                similar_weight,
                hard,
                want_gradient=ctx.needs_input_grad[0],
                statistics=statistics if record else None,
            )
        ctx.save_for_backward(grad)
        ctx.mark_non_differentiable(statistics)
        return loss, statistics

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output, _):
        (grad,) = ctx.saved_tensors
        return grad_output * grad, None, None, None, None, None, None, None


def row_blocks(n: int, device: torch.device) -> list[tuple[int, int]]:
    """``(start, stop)`` of the row blocks of the upper triangle of ``n x n``.

    Block ``[start, stop)`` pairs its rows with the columns ``start:``; its
    width shrinks down the triangle, so later blocks take more rows.
    """
    budget = CUDA_BLOCK_ELEMENTS if device.type == "cuda" else BLOCK_ELEMENTS
    blocks, start = [], 0
    while start < n:
        stop = min(n, start + max(MIN_BLOCK_ROWS, budget // (n - start)))
        blocks.append((start, stop))
        start = stop
    return blocks


class _Batch:
    """One batch's rows, labels, groups and row weights (or None), and what
    its blocks compute."""

    def __init__(self, embeddings, labels, groups, weights=None):
        self.embeddings = embeddings
        self.weights = weights
        # Centred: distances are unchanged, norms (and rounding) smaller.
        self.centred = embeddings - embeddings.mean(0)
        self.norms = self.centred.square().sum(1)
        self.labels = labels
        self.groups = groups
        self.refine_below = REFINE_RATIO * 2 * self.norms.max()
        self.blocks = row_blocks(len(labels), embeddings.device)
        rows = max(stop - start for start, stop in self.blocks)
        # j <= i within a block's leading square: not a pair of the triangle.
        self._lower = torch.ones(
            (rows, rows), dtype=torch.bool, device=labels.device
        ).tril_()

    def squared_distances(self, start, stop):
        """``D^2`` of rows ``start:stop`` against columns ``start:``."""
        rows, cols = self.centred[start:stop], self.centred[start:]
        squared = torch.addmm(self.norms[None, start:], rows, cols.T, alpha=-2)
        return squared.add_(self.norms[start:stop, None])

    def same_class(self, start, stop):
        return self.labels[start:stop, None] == self.labels[None, start:]

    def pair_weights(self, start, stop):
        """``s_i s_j`` of rows ``start:stop`` against columns ``start:``, or
        None without weights."""
        if self.weights is None:
            return None
        return self.weights[start:stop, None] * self.weights[None, start:]

    def leave_out_(self, values, start, stop, fill):
        """Set ``fill`` where a block holds no pair: below the diagonal of its
        leading square, and across groups. In place; returns ``values``."""
        c = stop - start
        values[:, :c].masked_fill_(self._lower[:c, :c], fill)
        if self.groups is not None:
            across = self.groups[start:stop, None] != self.groups[None, start:]
            values.masked_fill_(across, fill)
        return values

    def refine_(self, squared, start, also=None):
        """Recompute from row differences, in place, the small ``D^2`` and
        those where ``also`` is True.

        Returns the refined positions ``(r, k)``, or None when there are none.
        The differences are taken a bounded number of pairs at a time.
        """
        candidates = squared <= self.refine_below
        if also is not None:
            candidates |= also
        r, k = candidates.nonzero(as_tuple=True)
        if len(r) == 0:
            return None
        step = max(1, BLOCK_ELEMENTS // self.embeddings.shape[1])
        for first in range(0, len(r), step):
            rows, cols = r[first : first + step], k[first : first + step]
            difference = self.embeddings[start + rows] - self.embeddings[start + cols]
            squared[rows, cols] = difference.square().sum(1)
        return r, k

    def by_group(self, values):
        """Sum one value per row by group: a (1,) or (2,) tensor."""
        if self.groups is None:
            return values.sum().reshape(1)
        return torch.stack([values[~self.groups].sum(), values[self.groups].sum()])

    def to_rows(self, per_group):
        """Broadcast one value per group back to the rows, as a column."""
        if self.groups is None:
            return per_group
        return torch.where(self.groups, per_group[1], per_group[0])[:, None]


def _loss_and_gradient(
    batch, margin, similar_weight, hard, want_gradient, statistics=None
):
    embeddings, labels = batch.embeddings, batch.labels
    # Per row: its pairs' loss (a pair counts on its upper row), its number
    # (or weight) of pairs (hard mining), the gradient sum_j a_ij (e_i - e_j).
    row_loss = embeddings.new_zeros(len(labels))
    row_pairs = embeddings.new_zeros(len(labels)) if hard else None
    gradient = torch.zeros_like(embeddings) if want_gradient else None
    hardest = None
    if hard:
        hardest = _hardest_similar(batch)
    else:
        _similar_pairs(batch, similar_weight, row_loss, gradient)
    for start, stop in batch.blocks:
        _block(
            batch,
            start,
            stop,
            margin,
            similar_weight,
            hardest,
            row_loss,
            row_pairs,
            gradient,
            statistics,
        )
    if hard:
        pairs = batch.by_group(row_pairs)
    elif batch.weights is None:
        # Every pair within a group counts: n_g (n_g - 1) / 2 of them.
        sizes = batch.by_group(torch.ones_like(row_loss))
        pairs = sizes * (sizes - 1) / 2
    else:
        # sum_{i<j} s_i s_j = ((sum s)^2 - sum s^2) / 2, per group, in
        # float64: the difference cancels where one row's weight dominates.
        weights = batch.weights.double()
        total = batch.by_group(weights)
        pairs = ((total.square() - batch.by_group(weights.square())) / 2).to(
            row_loss.dtype
        )
    # A group without pairs (or of zero weight) adds 0.
    pairs = torch.where(pairs > 0, pairs, torch.ones_like(pairs))
    # A non-finite embedding makes the loss NaN, whichever pairs it is in,
    # so that the divergence check sees it (inf * 0 is NaN too).
    loss = (batch.by_group(row_loss) / pairs).sum() + 0 * batch.norms.sum()
    if gradient is not None:
        gradient /= batch.to_rows(pairs)
    return loss, gradient


def _similar_pairs(batch, similar_weight, row_loss, gradient):
    """Every similar pair at once: ``n_c sum_i ||e_i - mu_c||^2`` per class
    (``S_c sum_i s_i ||e_i - mu_c||^2`` with row weights)."""
    _, inverse, counts = torch.unique(
        batch.labels, return_inverse=True, return_counts=True
    )
    centred = batch.centred
    sums = centred.new_zeros((len(counts), centred.shape[1]))
    if batch.weights is None:
        sums.index_add_(0, inverse, centred)
        size = counts[inverse].to(centred.dtype)[:, None]
        scale = size
    else:
        weights = batch.weights[:, None]
        sums.index_add_(0, inverse, weights * centred)
        class_weights = centred.new_zeros(len(counts)).index_add_(
            0, inverse, batch.weights
        )
        size = class_weights[inverse][:, None]
        scale = size * weights
        # A class of weight 0 adds nothing (its scale is 0): no 0 / 0.
        size = torch.where(size > 0, size, torch.ones_like(size))
    deviation = centred - sums[inverse] / size
    # Row i's share 1/2 w n_c ||e_i - mu_c||^2 sums to its class's pairs;
    # its gradient is w n_c (e_i - mu_c) (w S_c s_i (e_i - mu_c) weighted).
    weighted = (similar_weight * scale) * deviation
    row_loss += 0.5 * (weighted * deviation).sum(1)
    if gradient is not None:
        gradient += weighted


def _hardest_similar(batch):
    """Each row's largest similar ``D^2`` (``-1`` where it has none)."""
    hardest = batch.norms.new_full((len(batch.labels),), -1.0)
    for start, stop in batch.blocks:
        squared = batch.squared_distances(start, stop)
        squared.masked_fill_(~batch.same_class(start, stop), float("inf"))
        batch.leave_out_(squared, start, stop, float("inf"))
        # Every similar D^2 exact, as in _block: which pair is hardest, and
        # which pairs tie (duplicated rows), turns on differences below the
        # matrix form's rounding.
        finite = squared != float("inf")
        batch.refine_(squared, start, also=finite)
        squared.masked_fill_(~finite, -1.0)
        hardest[start:stop] = torch.maximum(hardest[start:stop], squared.amax(1))
        hardest[start:] = torch.maximum(hardest[start:], squared.amax(0))
    return hardest


def _block(
    batch,
    start,
    stop,
    margin,
    similar_weight,
    hardest,
    row_loss,
    row_pairs,
    gradient,
    statistics,
):
    """One block's dissimilar pairs (and, under hard mining, its hardest
    similar pairs): their loss into ``row_loss``, their gradient into
    ``gradient``, and all its pairs' statistics into ``statistics`` (when not
    None)."""
    squared = batch.squared_distances(start, stop)
    same = batch.same_class(start, stop)
    if statistics is not None:
        statistics += _block_statistics(batch, squared, same, start, stop, margin)
    weights = batch.pair_weights(start, stop)  # (rows, cols) s_i s_j, or None
    if hardest is not None:
        # Exact: every similar pair (as in _hardest_similar), and the
        # dissimilar ones at the margin, whose count the mean divides by.
        batch.leave_out_(squared, start, stop, float("inf"))
        at_margin = (squared - margin**2).abs_() <= batch.refine_below * 1e-2
        counted = squared != float("inf")
        refined = batch.refine_(squared, start, also=(same | at_margin) & counted)
        # The hardest similar pairs of either row (ties keep all tied).
        hard_similar = (squared == hardest[start:stop, None]) | (
            squared == hardest[None, start:]
        )
        hard_similar &= same
        similar_coefficient = hard_similar.to(squared.dtype) * similar_weight
        if weights is not None:
            similar_coefficient *= weights
        similar_term = torch.where(hard_similar, squared, 0.0)
        if weights is not None:
            similar_term *= weights
        row_loss[start:stop] += 0.5 * similar_weight * similar_term.sum(1)
        row_pairs[start:stop] += _weighted_count(hard_similar, weights)
        squared.masked_fill_(same, float("inf"))
    else:
        # Only dissimilar pairs from here: the rest, at infinity, cost nothing.
        squared.masked_fill_(same, float("inf"))
        batch.leave_out_(squared, start, stop, float("inf"))
        refined = batch.refine_(squared, start)
    distance = squared.sqrt_()
    hinge = torch.rsub(distance, margin).clamp_(min=0)
    if weights is not None:
        row_loss[start:stop] += 0.5 * (hinge.square() * weights).sum(1)
    elif batch.groups is None and hardest is None:
        flat = hinge.reshape(-1)
        row_loss[start] += 0.5 * torch.dot(flat, flat)
    else:
        row_loss[start:stop] += 0.5 * hinge.square().sum(1)
    if hardest is not None:
        row_pairs[start:stop] += _weighted_count(hinge > 0, weights)
    if gradient is None:
        return
    # dL/dD^2 of a dissimilar pair is -hinge / (2 D): a_ij = -hinge / D.
    coefficient = hinge.div_(distance).neg_()
    if weights is not None:
        coefficient *= weights
    if refined is not None:
        # At D = 0 the direction is undefined: no gradient, as torch.pdist's.
        r, k = refined
        coefficient[r, k] = torch.where(distance[r, k] > 0, coefficient[r, k], 0.0)
    if hardest is not None:
        coefficient += similar_coefficient
    rows, cols = batch.centred[start:stop], batch.centred[start:]
    gradient[start:stop] += coefficient.sum(1)[:, None] * rows - coefficient @ cols
    gradient[start:] += coefficient.sum(0)[:, None] * cols - coefficient.T @ rows


def _weighted_count(mask, weights):
    """Per row, the number of pairs in ``mask``, or their weight."""
    if weights is None:
        return mask.sum(1)
    return torch.where(mask, weights, 0.0).sum(1)


def _block_statistics(batch, squared, same, start, stop, margin):
    """:func:`~sklearn_contrastive.pairs.pair_statistics`' five sums over a
    block's pairs within a group, from its ``D^2`` as the matrix form gives it
    (before any refinement) and its same-class mask."""
    distance = squared.clamp(min=0).sqrt_()
    counted = ~batch.leave_out_(
        torch.zeros_like(distance, dtype=torch.bool), start, stop, True
    )
    similar, dissimilar = same & counted, ~same & counted
    return torch.stack(
        [
            (distance * similar).sum(),
            similar.sum(),
            (distance * dissimilar).sum(),
            dissimilar.sum(),
            (dissimilar & (distance < margin)).sum(),
        ]
    ).to(distance.dtype)
