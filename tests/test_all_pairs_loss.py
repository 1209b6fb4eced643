"""The blockwise all-pairs loss against the condensed ``torch.pdist`` form.

``tests/test_losses.py`` checks :class:`ContrastiveLoss` against a Python loop
on small batches (one block). Here the batches span many blocks (the block
size is shrunk), and the reference is the condensed formulation the loss used
before (``torch.pdist`` over every pair, then :func:`contrastive_loss`, with
:func:`hard_pairs` for mining): the same value and gradient to float32
rounding, in float64 to its rounding.
"""

import pytest
import torch

from sklearn_contrastive import _all_pairs_loss
from sklearn_contrastive.losses import ContrastiveLoss, contrastive_loss
from sklearn_contrastive.pairs import all_pairs, condensed, hard_pairs, pair_statistics

TOLERANCES = {
    torch.float32: {"rtol": 2e-5, "atol": 1e-6},
    torch.float64: {"rtol": 1e-11, "atol": 1e-13},
}


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few rows, so that a batch of ~100 rows spans ~20 blocks."""
    monkeypatch.setattr(_all_pairs_loss, "CONDENSED_UP_TO", 0)
    monkeypatch.setattr(_all_pairs_loss, "BLOCK_ELEMENTS", 256)
    monkeypatch.setattr(_all_pairs_loss, "MIN_BLOCK_ROWS", 3)


def _condensed_loss(embeddings, labels, margin, similar_weight, hard, views):
    """The loss as the condensed form computes it (the loss's former code)."""
    distances = torch.pdist(embeddings)
    dissimilar = all_pairs(labels)

    def mean(selected):
        return contrastive_loss(
            distances[selected],
            dissimilar[selected],
            margin,
            similar_weight=similar_weight,
        )

    everything = torch.ones_like(dissimilar)
    if hard:
        everything = hard_pairs(distances, dissimilar, len(embeddings), margin)
    if not views:
        return mean(everything)
    view = labels < 0
    view_pairs = condensed(view[:, None] & view[None, :]) & everything
    labelled_pairs = condensed(~view[:, None] & ~view[None, :]) & everything
    loss = mean(view_pairs)
    if bool(labelled_pairs.any()):
        loss = loss + mean(labelled_pairs)
    return loss


def _value_and_gradient(loss_function, embeddings):
    embeddings = embeddings.clone().requires_grad_(True)
    loss = loss_function(embeddings)
    loss.backward()
    return loss.detach(), embeddings.grad


def _batch(n, n_components, n_classes, dtype, seed, views=False):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.nn.functional.normalize(
        torch.randn(n, n_components, generator=generator, dtype=dtype), dim=1
    )
    labels = torch.randint(0, n_classes, (n,), generator=generator)
    if views:
        # A third of the rows are views: pairs of them share a negative code.
        n_views = n // 3
        labels[:n_views] = -1 - torch.arange(n_views) // 2
    return embeddings, labels


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hard", [False, True], ids=["all", "hard"])
@pytest.mark.parametrize("views", [False, True], ids=["labels", "views"])
@pytest.mark.parametrize("margin, similar_weight", [(1.0, 1.0), (0.7, 0.3)])
def test_blocks_match_the_condensed_form(
    small_blocks, dtype, hard, views, margin, similar_weight
):
    embeddings, labels = _batch(97, 5, 6, dtype, seed=0, views=views)
    # Coincident rows of one class and of two classes (D = 0 in both kinds).
    embeddings[10] = embeddings[11]
    labels[10] = labels[11]
    embeddings[40] = embeddings[70]
    labels[40], labels[70] = 1, 2
    criterion = ContrastiveLoss(
        margin=margin,
        similar_weight=similar_weight,
        pair_mining="hard" if hard else "all",
        views=views,
    )
    assert len(list(_all_pairs_loss.row_blocks(97, embeddings.device))) > 10
    loss, gradient = _value_and_gradient(lambda e: criterion(e, labels), embeddings)
    expected_loss, expected_gradient = _value_and_gradient(
        lambda e: _condensed_loss(e, labels, margin, similar_weight, hard, views),
        embeddings,
    )
    assert loss.dtype == dtype
    torch.testing.assert_close(loss, expected_loss, **TOLERANCES[dtype])
    scale = expected_gradient.abs().max()
    torch.testing.assert_close(
        gradient / scale, expected_gradient / scale, **TOLERANCES[dtype]
    )


def _assert_float32_matches_float64_condensed_form(embeddings, labels, margin, hard):
    """ContrastiveLoss in float32 against the condensed form in float64."""
    criterion = ContrastiveLoss(margin=margin, pair_mining="hard" if hard else "all")
    loss, gradient = _value_and_gradient(lambda e: criterion(e, labels), embeddings)
    expected_loss, expected_gradient = _value_and_gradient(
        lambda e: _condensed_loss(e, labels, margin, 1.0, hard, False),
        embeddings.double(),
    )
    torch.testing.assert_close(loss.double(), expected_loss, rtol=1e-5, atol=0)
    scale = expected_gradient.abs().max()
    torch.testing.assert_close(
        gradient.double() / scale, expected_gradient / scale, rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("hard", [False, True], ids=["all", "hard"])
def test_large_batch_matches_float64_condensed_form(hard):
    """B = 2,048 with the real block size, float32 against a float64 reference."""
    embeddings, labels = _batch(2048, 32, 20, torch.float32, seed=1)
    _assert_float32_matches_float64_condensed_form(embeddings, labels, 1.0, hard)


def test_small_dissimilar_distances_are_exact(small_blocks):
    """Dissimilar pairs much closer than the rows' spread: their D comes from the
    row difference, not from the Gram form, whose error there is ~1e-3."""
    embeddings, labels = _batch(60, 8, 3, torch.float32, seed=2)
    embeddings = embeddings + 10.0  # far from the origin: norms ~ 10
    for i in range(0, 60, 2):
        embeddings[i + 1] = embeddings[i] + 1e-3 * torch.randn(8)
        labels[i + 1] = labels[i] + 1
    _assert_float32_matches_float64_condensed_form(embeddings, labels, 0.5, False)


@pytest.mark.parametrize("pair_mining", ["all", "hard"])
def test_all_rows_coincident_is_finite_with_zero_gradient(small_blocks, pair_mining):
    embeddings = torch.full((30, 4), 0.5)
    labels = torch.arange(30) % 3
    loss, gradient = _value_and_gradient(
        lambda e: ContrastiveLoss(pair_mining=pair_mining)(e, labels), embeddings
    )
    # Every similar pair at 0; every dissimilar pair at 0 < margin costs 1/2.
    # Under hard mining all similar pairs tie as the hardest: all are kept,
    # so both modes average over every pair.
    n_similar, n_pairs = 3 * 45, 30 * 29 / 2
    expected = 0.5 * (n_pairs - n_similar) / n_pairs
    torch.testing.assert_close(loss, torch.tensor(expected))
    assert torch.equal(gradient, torch.zeros_like(gradient))


@pytest.mark.parametrize("pair_mining", ["all", "hard"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("n_classes", [1, 3])
def test_a_non_finite_embedding_makes_the_loss_nan(
    small_blocks, pair_mining, bad, n_classes
):
    embeddings, labels = _batch(12, 3, n_classes, torch.float32, seed=3)
    embeddings[5, 1] = bad
    loss = ContrastiveLoss(pair_mining=pair_mining)(embeddings, labels)
    assert torch.isnan(loss)


def test_gradient_follows_the_upstream_gradient(small_blocks):
    """backward scales by grad_output: 3 * loss has 3x the gradient."""
    embeddings, labels = _batch(20, 4, 3, torch.float64, seed=4)
    criterion = ContrastiveLoss()
    _, once = _value_and_gradient(lambda e: criterion(e, labels), embeddings)
    _, thrice = _value_and_gradient(lambda e: 3 * criterion(e, labels), embeddings)
    torch.testing.assert_close(thrice, 3 * once)


def test_without_gradient_the_value_is_the_same(small_blocks):
    embeddings, labels = _batch(50, 4, 3, torch.float32, seed=5)
    criterion = ContrastiveLoss()
    with torch.no_grad():
        value = criterion(embeddings, labels)
    assert torch.equal(value, criterion(embeddings.requires_grad_(), labels).detach())


@pytest.mark.parametrize("views", [False, True])
def test_statistics_match_the_condensed_form(small_blocks, views):
    embeddings, labels = _batch(80, 6, 4, torch.float64, seed=6, views=views)
    criterion = ContrastiveLoss(margin=1.2, views=views)
    criterion(embeddings, labels)
    distances, dissimilar = torch.pdist(embeddings), all_pairs(labels)
    if views:
        view = labels < 0
        same_group = condensed(view[:, None] == view[None, :])
        distances, dissimilar = distances[same_group], dissimilar[same_group]
    expected = pair_statistics(distances, dissimilar, 1.2)
    torch.testing.assert_close(criterion.last_pair_statistics, expected)


@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 1000, 5000])
def test_row_blocks_tile_the_upper_triangle_in_bounded_blocks(n):
    blocks = list(_all_pairs_loss.row_blocks(n, torch.device("cpu")))
    assert blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(
        stop == start for (_, stop), (start, _) in zip(blocks, blocks[1:], strict=False)
    )
    for start, stop in blocks:
        elements = (stop - start) * (n - start)
        assert elements <= max(
            _all_pairs_loss.BLOCK_ELEMENTS, _all_pairs_loss.MIN_BLOCK_ROWS * n
        )


def test_hard_mining_picks_the_hardest_pair_below_the_matrix_forms_rounding(
    small_blocks,
):
    """Similar distances of 1e-78 next to rows 0.5 apart: the Gram form alone
    would call them all 0 and keep every tied pair (found by hypothesis)."""
    embeddings = torch.tensor([[0.5], [7.1e-78], [0.0], [0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 1])
    loss = ContrastiveLoss(pair_mining="hard")(embeddings, labels)
    expected = _condensed_loss(embeddings, labels, 1.0, 1.0, True, False)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("n_components", [3, 16])
def test_hard_mining_keeps_every_tied_pair_of_duplicated_rows(n_components):
    """Rows repeated 5 times (B = 750, the real blocks): the hardest similar
    pairs tie exactly, and every tied pair is kept, as in the condensed form;
    the matrix form alone rounded the ties apart (found in review: 3.9 %)."""
    generator = torch.Generator().manual_seed(0)
    base = torch.nn.functional.normalize(
        torch.randn(150, n_components, generator=generator), dim=1
    )
    order = torch.randperm(750, generator=generator)
    embeddings = base.repeat(5, 1)[order]
    labels = torch.randint(0, 10, (150,), generator=generator).repeat(5)[order]
    criterion = ContrastiveLoss(pair_mining="hard")
    loss, gradient = _value_and_gradient(lambda e: criterion(e, labels), embeddings)
    expected_loss, expected_gradient = _value_and_gradient(
        lambda e: _condensed_loss(e, labels, 1.0, 1.0, True, False), embeddings
    )
    torch.testing.assert_close(loss, expected_loss, rtol=2e-5, atol=0)
    scale = expected_gradient.abs().max()
    torch.testing.assert_close(
        gradient / scale, expected_gradient / scale, rtol=0, atol=1e-4
    )
