"""Tests for sklearn_contrastive.losses, checked against an explicit loop.

Every test runs twice: with the condensed form that small batches take, and
with the blockwise form of large batches (forced here on small ones), so
that both are held to the same loop oracle.
"""

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_contrastive.losses import (
    ContrastiveLoss,
    contrastive_loss,
    paired_distances,
)
from sklearn_contrastive.pairs import (
    all_pairs,
    all_pairs_indices,
    hard_pairs,
    pair_statistics,
)

DTYPES = [torch.float32, torch.float64]


# Every test under both forms of ContrastiveLoss (see conftest.loss_form).
pytestmark = pytest.mark.usefixtures("loss_form")


TOLERANCES = {
    torch.float32: {"rtol": 1e-5, "atol": 1e-6},
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
}


def _pair_loss(distance, dissimilar, margin, similar_weight=1.0):
    """Loss of one pair, straight from the paper's formula."""
    if dissimilar:
        return 0.5 * max(0.0, margin - distance) ** 2
    return similar_weight * 0.5 * distance**2


def _oracle_pair_losses(distances, pair_labels, margin, similar_weight=1.0):
    return [
        _pair_loss(float(d), bool(y), margin, similar_weight)
        for d, y in zip(distances.tolist(), pair_labels.tolist(), strict=True)
    ]


def _oracle_batch_loss(embeddings, labels, margin=1.0, similar_weight=1.0):
    """Mean contrastive loss over every pair i < j, by an explicit Python loop."""
    rows = embeddings.tolist()
    labels = labels.tolist()
    losses = []
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            distance = math.sqrt(
                sum((a - b) ** 2 for a, b in zip(rows[i], rows[j], strict=True))
            )
            dissimilar = labels[i] != labels[j]
            losses.append(_pair_loss(distance, dissimilar, margin, similar_weight))
    return sum(losses) / len(losses) if losses else 0.0


def _oracle_hard_batch_loss(embeddings, labels, margin=1.0, similar_weight=1.0):
    """Mean loss over the hard pairs only, by an explicit Python loop.

    Kept: a similar pair that is the farthest same-class pair of either of its
    rows, and a dissimilar pair closer than the margin.
    """
    rows = embeddings.tolist()
    labels = labels.tolist()
    n = len(rows)
    distance = [[math.dist(a, b) for b in rows] for a in rows]
    hardest = [
        max(
            (distance[a][b] for b in range(n) if b != a and labels[b] == labels[a]),
            default=None,
        )
        for a in range(n)
    ]
    losses = []
    for a in range(n):
        for b in range(a + 1, n):
            dissimilar = labels[a] != labels[b]
            if dissimilar:
                kept = distance[a][b] < margin
            else:
                kept = distance[a][b] in (hardest[a], hardest[b])
            if kept:
                losses.append(
                    _pair_loss(distance[a][b], dissimilar, margin, similar_weight)
                )
    return sum(losses) / len(losses) if losses else 0.0


def _naive_distances(a, b):
    # The textbook formula: its gradient is NaN where a == b.
    return torch.sqrt(((a - b) ** 2).sum(dim=1))


def _random_pairs(dtype, n_pairs=40, seed=0):
    generator = torch.Generator().manual_seed(seed)
    distances = 2.0 * torch.rand(n_pairs, generator=generator, dtype=dtype)
    pair_labels = torch.rand(n_pairs, generator=generator) < 0.5
    return distances, pair_labels


def _assert_close(actual, expected, dtype):
    expected = torch.as_tensor(expected, dtype=torch.float64)
    assert actual.dtype == dtype
    torch.testing.assert_close(actual.to(torch.float64), expected, **TOLERANCES[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("margin", [0.5, 1.0, 1.7])
def test_contrastive_loss_none_matches_loop(dtype, margin):
    """reduction="none" gives the formula's loss pair by pair."""
    distances, pair_labels = _random_pairs(dtype)
    losses = contrastive_loss(distances, pair_labels, margin, reduction="none")
    assert losses.shape == distances.shape
    expected = _oracle_pair_losses(distances, pair_labels, margin)
    _assert_close(losses, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_contrastive_loss_reductions_match_loop(dtype, reduction):
    distances, pair_labels = _random_pairs(dtype)
    loss = contrastive_loss(distances, pair_labels, 1.3, reduction=reduction)
    expected = _oracle_pair_losses(distances, pair_labels, 1.3)
    combined = sum(expected) / len(expected) if reduction == "mean" else sum(expected)
    assert loss.shape == ()
    _assert_close(loss, combined, dtype)


def test_contrastive_loss_default_reduction_is_mean():
    distances, pair_labels = _random_pairs(torch.float64)
    torch.testing.assert_close(
        contrastive_loss(distances, pair_labels),
        contrastive_loss(distances, pair_labels, 1.0, reduction="mean"),
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("similar_weight", [0.0, 0.25, 3.0])
def test_contrastive_loss_similar_weight_scales_only_similar_pairs(
    dtype, similar_weight
):
    distances, pair_labels = _random_pairs(dtype)
    losses = contrastive_loss(
        distances, pair_labels, similar_weight=similar_weight, reduction="none"
    )
    expected = _oracle_pair_losses(distances, pair_labels, 1.0, similar_weight)
    _assert_close(losses, expected, dtype)
    unweighted = contrastive_loss(distances, pair_labels, reduction="none")
    torch.testing.assert_close(losses[pair_labels], unweighted[pair_labels])


def test_contrastive_loss_accepts_bool_int_and_float_labels():
    """Y given as bool, int or float 0/1 gives the same loss."""
    distances, pair_labels = _random_pairs(torch.float32)
    expected = contrastive_loss(distances, pair_labels, reduction="none")
    for labels in (pair_labels.long(), pair_labels.int(), pair_labels.float()):
        torch.testing.assert_close(
            contrastive_loss(distances, labels, reduction="none"), expected
        )


def test_contrastive_loss_label_convention():
    """Y=0 (similar) pays D^2 / 2; Y=1 (dissimilar) pays max(0, m - D)^2 / 2."""
    distances = torch.tensor([0.4, 0.4, 3.0])
    losses = contrastive_loss(
        distances, torch.tensor([0, 1, 1]), margin=1.0, reduction="none"
    )
    torch.testing.assert_close(losses, torch.tensor([0.08, 0.18, 0.0]))


@pytest.mark.parametrize("reduction", ["avg", "Mean", "", None])
def test_contrastive_loss_invalid_reduction_raises(reduction):
    distances, pair_labels = _random_pairs(torch.float32)
    msg = f"reduction must be one of ('mean', 'sum', 'none'); got {reduction!r}."
    with pytest.raises(ValueError, match=re.escape(msg)):
        contrastive_loss(distances, pair_labels, reduction=reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_contrastive_loss_of_zero_pairs_is_zero_with_gradient(reduction):
    """An empty batch of pairs gives 0, not NaN, and still backpropagates."""
    distances = torch.zeros(0, dtype=torch.float64, requires_grad=True)
    loss = contrastive_loss(distances, torch.zeros(0), reduction=reduction)
    assert loss.item() == 0.0
    loss.backward()
    assert distances.grad.shape == (0,)


def test_contrastive_loss_of_zero_pairs_none_is_empty():
    losses = contrastive_loss(torch.zeros(0), torch.zeros(0), reduction="none")
    assert losses.shape == (0,)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_contrastive_loss_gradcheck_on_distances(reduction):
    """Analytical gradients in float64 match finite differences."""
    generator = torch.Generator().manual_seed(1)
    # Distances on both sides of the margin, none within gradcheck's eps of it.
    distances = torch.tensor(
        [0.05, 0.3, 0.7, 0.95, 1.05, 1.4, 2.0, 0.5, 1.2, 0.0], dtype=torch.float64
    )
    distances = distances + 0.01 * torch.rand(
        len(distances), generator=generator, dtype=torch.float64
    )
    distances.requires_grad_(True)
    pair_labels = torch.tensor([0, 1, 0, 1, 1, 0, 1, 1, 0, 1])

    def loss(d):
        return contrastive_loss(
            d, pair_labels, 1.0, similar_weight=0.7, reduction=reduction
        )

    assert torch.autograd.gradcheck(loss, (distances,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("margin", "similar_weight"), [(1.0, 1.0), (2.5, 0.3)])
def test_contrastive_loss_module_matches_loop(dtype, margin, similar_weight):
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(9, 3, generator=generator, dtype=dtype)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1])
    loss = ContrastiveLoss(margin=margin, similar_weight=similar_weight)(
        embeddings, labels
    )
    assert loss.shape == ()
    expected = _oracle_batch_loss(embeddings, labels, margin, similar_weight)
    _assert_close(loss, expected, dtype)


def test_contrastive_loss_module_defaults_and_repr():
    loss = ContrastiveLoss()
    assert (loss.margin, loss.similar_weight) == (1.0, 1.0)
    assert repr(ContrastiveLoss(margin=0.5, similar_weight=2.0)) == (
        "ContrastiveLoss(margin=0.5, similar_weight=2.0, pair_mining='all', "
        "views=False)"
    )


def test_contrastive_loss_module_agrees_with_functional_form():
    """The module is the functional form on pdist distances and all_pairs labels."""
    generator = torch.Generator().manual_seed(3)
    embeddings = torch.randn(7, 4, generator=generator)
    labels = torch.tensor([3, 3, 1, 1, 1, 7, 3])
    i, j = all_pairs_indices(7)
    expected = contrastive_loss(
        paired_distances(embeddings[i], embeddings[j]),
        all_pairs(labels),
        1.5,
        similar_weight=0.5,
    )
    actual = ContrastiveLoss(margin=1.5, similar_weight=0.5)(embeddings, labels)
    torch.testing.assert_close(actual, expected)


def test_contrastive_loss_module_gradcheck_on_embeddings():
    """Gradients w.r.t. the embeddings in float64 match finite differences."""
    generator = torch.Generator().manual_seed(2)
    embeddings = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    # gradcheck needs a smooth point: no two embeddings close to coinciding.
    assert torch.pdist(embeddings).min() > 0.1
    embeddings.requires_grad_(True)
    labels = torch.tensor([0, 0, 1, 1, 2, 0])
    criterion = ContrastiveLoss(margin=2.0, similar_weight=0.8)
    assert torch.autograd.gradcheck(lambda e: criterion(e, labels), (embeddings,))


@pytest.mark.parametrize("same_class", [True, False])
def test_identical_embeddings_give_finite_loss_and_gradient(same_class):
    """Two coincident rows (distance 0) give a finite loss and finite gradients."""
    embeddings = torch.tensor(
        [[0.3, -0.2], [0.3, -0.2], [1.0, 1.0], [-1.0, 0.5]], dtype=torch.float64
    )
    embeddings.requires_grad_(True)
    labels = torch.tensor([0, 0 if same_class else 1, 1, 0])
    loss = ContrastiveLoss(margin=1.0)(embeddings, labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(embeddings.grad).all()
    torch.testing.assert_close(
        loss.item(), _oracle_batch_loss(embeddings.detach(), labels, 1.0)
    )


def test_naive_distance_gives_nan_gradient_at_identical_embeddings():
    """The finiteness check above can fail: a naive sqrt gives a NaN gradient."""
    embeddings = torch.tensor(
        [[0.3, -0.2], [0.3, -0.2], [1.0, 1.0]], dtype=torch.float64
    )
    labels = torch.tensor([0, 0, 1])
    i, j = all_pairs_indices(3)

    naive = embeddings.clone().requires_grad_(True)
    contrastive_loss(_naive_distances(naive[i], naive[j]), all_pairs(labels)).backward()
    assert torch.isnan(naive.grad).any()

    safe = embeddings.clone().requires_grad_(True)
    contrastive_loss(paired_distances(safe[i], safe[j]), all_pairs(labels)).backward()
    assert torch.isfinite(safe.grad).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_without_similar_pair(dtype):
    """Every row in its own class: only the dissimilar term is paid."""
    embeddings = torch.tensor(
        [[0.0, 0.0], [0.5, 0.0], [0.0, 0.8], [3.0, 3.0]], dtype=dtype
    )
    labels = torch.tensor([0, 1, 2, 3])
    loss = ContrastiveLoss(margin=1.0, similar_weight=5.0)(embeddings, labels)
    _assert_close(loss, _oracle_batch_loss(embeddings, labels, 1.0, 5.0), dtype)
    assert loss > 0


def test_batch_without_similar_pair_all_beyond_margin_is_zero():
    embeddings = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]], requires_grad=True)
    loss = ContrastiveLoss(margin=1.0)(embeddings, torch.tensor([0, 1, 2]))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_without_dissimilar_pair(dtype):
    """One class only: the loss is the mean of D^2 / 2, whatever the margin."""
    generator = torch.Generator().manual_seed(4)
    embeddings = torch.randn(5, 3, generator=generator, dtype=dtype)
    labels = torch.full((5,), 2)
    expected = float(0.5 * torch.pdist(embeddings.double()).pow(2).mean())
    for margin in (0.1, 1.0, 10.0):
        loss = ContrastiveLoss(margin=margin)(embeddings, labels)
        _assert_close(loss, expected, dtype)
        _assert_close(loss, _oracle_batch_loss(embeddings, labels, margin), dtype)


def test_single_sample_loss_is_zero_and_backward_works():
    embeddings = torch.tensor([[0.2, -1.0, 3.0]], requires_grad=True)
    loss = ContrastiveLoss()(embeddings, torch.tensor([4]))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def test_docstring_example_value():
    """Only pair (0, 1) costs: 0.5 * 0.5^2 over 3 pairs = 1/24."""
    embeddings = torch.tensor([[0.0, 0.0], [0.0, 0.5], [3.0, 0.0]])
    loss = ContrastiveLoss(margin=1.0)(embeddings, torch.tensor([0, 0, 1]))
    torch.testing.assert_close(loss, torch.tensor(1 / 24))


@pytest.mark.parametrize("dtype", DTYPES)
def test_paired_distances_equals_linalg_norm_away_from_zero(dtype):
    generator = torch.Generator().manual_seed(5)
    a = torch.randn(20, 4, generator=generator, dtype=dtype)
    b = torch.randn(20, 4, generator=generator, dtype=dtype)
    distances = paired_distances(a, b)
    assert distances.shape == (20,)
    assert distances.dtype == dtype
    torch.testing.assert_close(distances, torch.linalg.norm(a - b, dim=1))


def test_paired_distances_gradcheck_away_from_zero():
    generator = torch.Generator().manual_seed(6)
    a = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    b = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    a.requires_grad_(True)
    b.requires_grad_(True)
    assert torch.autograd.gradcheck(paired_distances, (a, b))


def test_paired_distances_at_zero_has_zero_finite_gradient():
    """Coincident rows: distance 0, gradient 0; other rows keep the norm's gradient."""
    a = torch.tensor([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]], requires_grad=True)
    b = torch.tensor([[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]])
    distances = paired_distances(a, b)
    torch.testing.assert_close(distances, torch.tensor([0.0, 0.0, 5.0]))
    distances.sum().backward()
    assert torch.isfinite(a.grad).all()
    torch.testing.assert_close(
        a.grad, torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.6, -0.8]])
    )


_embedding_batches = st.integers(1, 8).flatmap(
    lambda n: st.tuples(
        arrays(
            np.float64,
            st.tuples(st.just(n), st.integers(1, 3)),
            elements=st.floats(-3, 3, allow_nan=False, allow_infinity=False),
        ),
        arrays(np.int64, n, elements=st.integers(0, 2)),
        st.permutations(range(n)),
    )
)


@settings(max_examples=60, deadline=None)
@given(batch=_embedding_batches, margin=st.floats(0.01, 5.0))
def test_property_loss_nonnegative_finite_and_permutation_invariant(batch, margin):
    """Loss >= 0, finite, and unchanged by permuting rows together with labels."""
    X, y, permutation = batch
    embeddings = torch.from_numpy(X)
    labels = torch.from_numpy(y)
    criterion = ContrastiveLoss(margin=margin)
    loss = criterion(embeddings, labels)
    assert torch.isfinite(loss)
    assert loss >= 0
    permuted = criterion(embeddings[permutation], labels[permutation])
    torch.testing.assert_close(permuted, loss, rtol=1e-9, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    margin=st.floats(0.0, 10.0),
    excess=st.lists(st.floats(0.0, 100.0), min_size=1, max_size=20),
)
def test_property_dissimilar_pairs_beyond_margin_cost_nothing(margin, excess):
    distances = torch.tensor(excess, dtype=torch.float64) + margin
    labels = torch.ones(len(excess), dtype=torch.bool)
    distances.requires_grad_(True)
    losses = contrastive_loss(distances, labels, margin, reduction="none")
    assert torch.equal(losses, torch.zeros_like(losses))
    losses.sum().backward()
    assert torch.equal(distances.grad, torch.zeros_like(distances))


@settings(max_examples=60, deadline=None)
@given(
    distances=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=20),
    margin=st.floats(0.0, 10.0),
)
def test_property_similar_pairs_ignore_the_margin(distances, margin):
    distances = torch.tensor(distances, dtype=torch.float64)
    labels = torch.zeros(len(distances), dtype=torch.bool)
    losses = contrastive_loss(distances, labels, margin, reduction="none")
    torch.testing.assert_close(losses, 0.5 * distances**2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "labels",
    [
        [0, 1, 2, 0, 1, 2, 0, 0, 1],
        [0, 0, 0, 0, 1, 2, 3, 3, 4],
        [6] * 9,
        list(range(9)),
    ],
    ids=["few_classes", "singleton_classes", "one_class", "all_distinct"],
)
@pytest.mark.parametrize(("margin", "similar_weight"), [(1.0, 1.0), (2.5, 0.3)])
def test_hard_mining_loss_matches_loop(dtype, labels, margin, similar_weight):
    """The mean runs over the hard pairs only, with the paper's per-pair loss."""
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(9, 3, generator=generator, dtype=dtype)
    labels = torch.tensor(labels)
    criterion = ContrastiveLoss(
        margin=margin, similar_weight=similar_weight, pair_mining="hard"
    )
    loss = criterion(embeddings, labels)
    assert loss.shape == ()
    expected = _oracle_hard_batch_loss(embeddings, labels, margin, similar_weight)
    _assert_close(loss, expected, dtype)


def test_hard_mining_differs_from_all_pairs():
    """Dropping easy pairs changes the mean: the two modes are not the same loss."""
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(9, 3, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1])
    hard = ContrastiveLoss(pair_mining="hard")(embeddings, labels)
    every = ContrastiveLoss(pair_mining="all")(embeddings, labels)
    assert hard > every
    torch.testing.assert_close(
        every.item(), _oracle_batch_loss(embeddings, labels, 1.0)
    )


def test_hard_mining_toy_value():
    """Class 0 at x = 0, 1, 3 and class 1 at x = 3.5 (margin 1).

    Similar pairs: (0, 1) at 1 is hardest for neither row (both have row 2
    farther), (0, 2) at 3 and (1, 2) at 2 are kept. Dissimilar pairs: only
    (2, 3) at 0.5 is inside the margin. Loss = (4.5 + 2 + 0.125) / 3.
    """
    embeddings = torch.tensor([[0.0], [1.0], [3.0], [3.5]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1])
    loss = ContrastiveLoss(margin=1.0, pair_mining="hard")(embeddings, labels)
    torch.testing.assert_close(loss.item(), (4.5 + 2.0 + 0.125) / 3)


def test_hard_mining_gradcheck_on_embeddings():
    """float64 gradients match finite differences away from ties and the margin."""
    generator = torch.Generator().manual_seed(2)
    embeddings = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2, 0])
    margin = 2.0
    distances = torch.pdist(embeddings)
    # A smooth point where gradcheck's perturbations cannot change the
    # selection: no two distances tie, none sits on the margin.
    assert distances.min() > 0.1
    assert distances.sort().values.diff().min() > 1e-3
    assert (distances - margin).abs().min() > 1e-3
    selected = hard_pairs(distances, all_pairs(labels), 6, margin)
    # Some pairs of each kind are dropped, so the mining is exercised.
    assert 0 < selected.sum() < len(selected)
    assert (~selected & ~all_pairs(labels)).any()
    embeddings.requires_grad_(True)
    criterion = ContrastiveLoss(margin=margin, similar_weight=0.8, pair_mining="hard")
    assert torch.autograd.gradcheck(lambda e: criterion(e, labels), (embeddings,))


def test_hard_mining_gradient_reaches_only_rows_of_selected_pairs():
    """Rows in no hard pair get zero gradient (no gradient through the selection)."""
    # Row 3 is far from everything and alone in its class: no pair of it is kept.
    embeddings = torch.tensor(
        [[0.0, 0.0], [0.5, 0.0], [0.0, 0.6], [9.0, 9.0]], requires_grad=True
    )
    labels = torch.tensor([0, 0, 1, 2])
    loss = ContrastiveLoss(margin=1.0, pair_mining="hard")(embeddings, labels)
    loss.backward()
    assert torch.equal(embeddings.grad[3], torch.zeros(2))
    assert (embeddings.grad[:3] != 0).any(dim=1).all()


@pytest.mark.parametrize(
    "embeddings",
    [[[0.2, -1.0]], [[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [-3.0, -3.0]]],
    ids=["one_row", "four_singletons"],
)
def test_hard_mining_without_selected_pairs_is_zero_with_gradient(embeddings):
    """Singleton classes all beyond the margin (or one row): no pair is selected.

    The mean over zero pairs is 0, not NaN, and backward gives zero gradients.
    """
    embeddings = torch.tensor(embeddings, requires_grad=True)
    labels = torch.arange(len(embeddings))
    loss = ContrastiveLoss(margin=1.0, pair_mining="hard")(embeddings, labels)
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


@pytest.mark.parametrize("pair_mining", ["all", "hard"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_last_pair_statistics_cover_all_pairs(pair_mining, dtype):
    """Statistics describe every pair of the batch, before any mining."""
    generator = torch.Generator().manual_seed(7)
    embeddings = torch.randn(8, 3, generator=generator, dtype=dtype)
    embeddings.requires_grad_(True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 0, 3])
    criterion = ContrastiveLoss(margin=1.5, pair_mining=pair_mining)
    assert criterion.last_pair_statistics is None
    criterion(embeddings, labels)
    statistics = criterion.last_pair_statistics
    assert statistics.shape == (5,)
    assert statistics.dtype == dtype
    assert not statistics.requires_grad
    expected = pair_statistics(torch.pdist(embeddings), all_pairs(labels), 1.5)
    torch.testing.assert_close(statistics, expected)
    # The counts are those of all 28 pairs: 3 + 1 + 1 similar, 23 dissimilar.
    assert statistics[[1, 3]].tolist() == [5.0, 23.0]


def test_last_pair_statistics_are_the_same_for_both_modes():
    generator = torch.Generator().manual_seed(8)
    embeddings = torch.randn(7, 2, generator=generator)
    labels = torch.tensor([0, 1, 0, 1, 0, 2, 2])
    statistics = []
    for pair_mining in ("all", "hard"):
        criterion = ContrastiveLoss(pair_mining=pair_mining)
        criterion(embeddings, labels)
        statistics.append(criterion.last_pair_statistics)
    assert torch.equal(*statistics)


def test_last_pair_statistics_follow_the_last_batch():
    criterion = ContrastiveLoss(margin=1.0, pair_mining="hard")
    criterion(torch.tensor([[0.0], [0.5], [3.0]]), torch.tensor([0, 0, 1]))
    torch.testing.assert_close(
        criterion.last_pair_statistics, torch.tensor([0.5, 1.0, 5.5, 2.0, 0.0])
    )
    criterion(torch.tensor([[0.0]]), torch.tensor([0]))
    assert torch.equal(criterion.last_pair_statistics, torch.zeros(5))


def test_hard_mining_repr_and_attribute():
    criterion = ContrastiveLoss(pair_mining="hard")
    assert criterion.pair_mining == "hard"
    assert repr(criterion) == (
        "ContrastiveLoss(margin=1.0, similar_weight=1.0, pair_mining='hard', "
        "views=False)"
    )


@pytest.mark.parametrize("pair_mining", ["Hard", "semi-hard", "", None, 1])
def test_invalid_pair_mining_raises(pair_mining):
    msg = f"pair_mining must be one of ('all', 'hard'); got {pair_mining!r}."
    with pytest.raises(ValueError, match=re.escape(msg)):
        ContrastiveLoss(pair_mining=pair_mining)


@settings(max_examples=60, deadline=None)
@given(batch=_embedding_batches, margin=st.floats(0.01, 5.0))
def test_property_hard_loss_nonnegative_and_selects_only_costly_or_hardest(
    batch, margin
):
    """Hard loss >= 0 and finite; each kept pair costs or is a hardest similar pair.

    Every kept dissimilar pair has a positive loss; every kept similar pair is
    the farthest same-class pair of one of its rows; dropped dissimilar pairs
    cost nothing.
    """
    X, y, permutation = batch
    embeddings = torch.from_numpy(X)
    labels = torch.from_numpy(y)
    loss = ContrastiveLoss(margin=margin, pair_mining="hard")(embeddings, labels)
    assert torch.isfinite(loss)
    assert loss >= 0

    n = len(y)
    distances = torch.pdist(embeddings)
    dissimilar = all_pairs(labels)
    selected = hard_pairs(distances, dissimilar, n, margin)
    per_pair = contrastive_loss(distances, dissimilar, margin, reduction="none")
    assert (per_pair[selected & dissimilar] > 0).all()
    assert (per_pair[~selected & dissimilar] == 0).all()
    i, j = all_pairs_indices(n)
    for k in torch.nonzero(selected & ~dissimilar).flatten().tolist():
        a, b = int(i[k]), int(j[k])
        farthest = [
            distances[((i == row) | (j == row)) & ~dissimilar].max() for row in (a, b)
        ]
        assert distances[k] in farthest
    if selected.any():
        torch.testing.assert_close(loss, per_pair[selected].mean())


# -- explicit pairs and views of unlabelled rows


def _oracle_explicit_pairs_loss(embeddings, pairs, similar, margin=1.0):
    rows = embeddings.tolist()
    losses = []
    for (i, j), is_similar in zip(pairs.tolist(), similar.tolist(), strict=True):
        distance = math.sqrt(
            sum((a - b) ** 2 for a, b in zip(rows[i], rows[j], strict=True))
        )
        losses.append(_pair_loss(distance, not is_similar, margin))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("dtype", DTYPES)
def test_explicit_pairs_loss_matches_loop(dtype):
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(9, 3, dtype=dtype, generator=generator)
    # Repeated rows and a row paired with two others, as a batch of pairs has.
    pairs = torch.tensor([[0, 1], [1, 2], [3, 8], [4, 4], [5, 0], [6, 7], [8, 2]])
    similar = torch.tensor([True, False, False, True, True, False, False])
    loss = ContrastiveLoss(margin=1.3)(embeddings, pairs=pairs, similar=similar)
    expected = _oracle_explicit_pairs_loss(embeddings, pairs, similar, margin=1.3)
    _assert_close(loss, expected, dtype)


def test_explicit_pairs_loss_gradcheck():
    generator = torch.Generator().manual_seed(1)
    embeddings = torch.randn(5, 2, dtype=torch.float64, generator=generator)
    embeddings.requires_grad_(True)
    pairs = torch.tensor([[0, 1], [2, 3], [4, 0], [1, 3]])
    similar = torch.tensor([True, False, False, True])
    criterion = ContrastiveLoss(margin=3.0)
    assert torch.autograd.gradcheck(
        lambda e: criterion(e, pairs=pairs, similar=similar), (embeddings,)
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_views_pair_only_with_views_and_both_groups_weigh_the_same(dtype):
    """Negative labels: views of unlabelled rows. The loss is the mean over the
    pairs of views plus the mean over the pairs of labelled rows; no pair joins
    a view to a labelled row."""
    generator = torch.Generator().manual_seed(2)
    embeddings = torch.randn(9, 3, dtype=dtype, generator=generator)
    labels = torch.tensor([0, 0, 1, -1, -1, -2, -2, -3, -3])
    loss = ContrastiveLoss(margin=1.5, views=True)(embeddings, labels)
    expected = _oracle_batch_loss(
        embeddings[:3], labels[:3], margin=1.5
    ) + _oracle_batch_loss(embeddings[3:], labels[3:], margin=1.5)
    _assert_close(loss, expected, dtype)


def test_views_alone_are_a_loss_over_views():
    generator = torch.Generator().manual_seed(3)
    embeddings = torch.randn(6, 2, generator=generator)
    labels = torch.tensor([-1, -1, -2, -2, -3, -3])
    loss = ContrastiveLoss(views=True)(embeddings, labels)
    _assert_close(loss, _oracle_batch_loss(embeddings, labels), torch.float32)


def test_view_statistics_leave_out_pairs_across_groups():
    embeddings = torch.tensor([[0.0, 0.0], [0.0, 0.2], [5.0, 0.0], [5.0, 0.4]])
    labels = torch.tensor([0, 0, -1, -1])
    criterion = ContrastiveLoss(views=True)
    criterion(embeddings, labels)
    # Only the two similar pairs (0.2 and 0.4 apart) are scored.
    expected = torch.tensor([0.6, 2.0, 0.0, 0.0, 0.0])
    torch.testing.assert_close(criterion.last_pair_statistics, expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "got none of them."),
        (
            {"labels": torch.tensor([0, 1]), "pairs": torch.tensor([[0, 1]])},
            "got labels, pairs.",
        ),
        ({"pairs": torch.tensor([[0, 1]])}, "got pairs."),
    ],
)
def test_loss_needs_labels_or_pairs_with_similar(kwargs, message):
    with pytest.raises(ValueError, match="needs either labels, or pairs together"):
        ContrastiveLoss()(torch.zeros(2, 2), **kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        ContrastiveLoss()(torch.zeros(2, 2), **kwargs)


def test_hard_mining_is_refused_with_explicit_pairs():
    with pytest.raises(ValueError, match="with explicit pairs every pair given counts"):
        ContrastiveLoss(pair_mining="hard")(
            torch.zeros(2, 2),
            pairs=torch.tensor([[0, 1]]),
            similar=torch.tensor([True]),
        )


def test_negative_labels_are_classes_unless_views_is_set():
    """Binary labels {-1, 1} must give the loss of {0, 1}: negative labels are
    views of unlabelled rows only when the criterion is told so."""
    embeddings = torch.zeros(6, 3)
    signed = ContrastiveLoss()(embeddings, torch.tensor([-1, -1, -1, 1, 1, 1]))
    plain = ContrastiveLoss()(embeddings, torch.tensor([0, 0, 0, 1, 1, 1]))
    torch.testing.assert_close(signed, plain)
    assert plain > 0
    views = ContrastiveLoss(views=True)(embeddings, torch.tensor([-1, -1, -1, 1, 1, 1]))
    assert views < plain


def test_hard_mining_refuses_explicit_pairs():
    criterion = ContrastiveLoss(pair_mining="hard")
    embeddings = torch.zeros(3, 2)
    msg = (
        "pair_mining='hard' chooses among the pairs formed from class labels "
        "inside a batch; with explicit pairs every pair given counts. Use "
        "pair_mining='all'."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        criterion(
            embeddings, pairs=torch.tensor([[0, 1]]), similar=torch.tensor([True])
        )
