"""Tests for sklearn_contrastive.losses, checked against an explicit loop."""

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
from sklearn_contrastive.pairs import all_pairs, all_pairs_indices

DTYPES = [torch.float32, torch.float64]
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
        "ContrastiveLoss(margin=0.5, similar_weight=2.0, pair_mining='all')"
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
