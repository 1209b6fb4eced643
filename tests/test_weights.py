"""Row weights (``sample_weight``) and pair weights (``pair_weight``).

The loss is checked against a weighted Python loop, under both of its forms;
the estimator against what weights mean: uniform weights are the unweighted
fit, weight 0 is removing what it weighs, integer pair weights are repeated
pairs, and a confidence per pair rescues training on noisy pairs.
"""

import math
import re

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.losses import ContrastiveLoss, contrastive_loss


def _weighted_oracle(embeddings, labels, weights, margin=1.0, similar_weight=1.0):
    """sum_{i<j} s_i s_j L_ij / sum_{i<j} s_i s_j, by an explicit loop."""
    rows, labels, weights = embeddings.tolist(), labels.tolist(), weights.tolist()
    total = norm = 0.0
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            distance = math.dist(rows[i], rows[j])
            if labels[i] == labels[j]:
                loss = similar_weight * 0.5 * distance**2
            else:
                loss = 0.5 * max(0.0, margin - distance) ** 2
            total += weights[i] * weights[j] * loss
            norm += weights[i] * weights[j]
    return total / norm


def _batch(n=24, dim=3, n_classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    labels = torch.arange(n) % n_classes
    weights = torch.rand(n, generator=generator, dtype=torch.float64) * 2
    return embeddings, labels, weights


# --- the loss ---------------------------------------------------------------


@pytest.mark.usefixtures("loss_form")
@pytest.mark.parametrize("margin, similar_weight", [(1.0, 1.0), (1.5, 0.3)])
def test_weighted_loss_matches_the_weighted_loop(margin, similar_weight):
    embeddings, labels, weights = _batch()
    loss = ContrastiveLoss(margin, similar_weight)(
        embeddings, labels, sample_weight=weights
    )
    expected = _weighted_oracle(embeddings, labels, weights, margin, similar_weight)
    assert loss.item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("pair_mining", ["all", "hard"])
@pytest.mark.parametrize("views", [False, True])
def test_weighted_blocks_match_the_condensed_form(monkeypatch, pair_mining, views):
    """Loss and gradient of the blockwise form (large batches) equal the
    condensed form's, with weights, hard mining and views."""
    from sklearn_contrastive import _all_pairs_loss

    embeddings, labels, weights = _batch(n=60, dim=4, n_classes=4, seed=1)
    if views:
        labels[:20] = -1 - torch.arange(10).repeat(2)  # 10 rows, 2 views each
    results = []
    for condensed_up_to in (10**6, 0):
        monkeypatch.setattr(_all_pairs_loss, "CONDENSED_UP_TO", condensed_up_to)
        monkeypatch.setattr(_all_pairs_loss, "BLOCK_ELEMENTS", 64)
        monkeypatch.setattr(_all_pairs_loss, "MIN_BLOCK_ROWS", 3)
        x = embeddings.clone().requires_grad_()
        criterion = ContrastiveLoss(1.2, 0.7, pair_mining=pair_mining, views=views)
        loss = criterion(x, labels, sample_weight=weights)
        loss.backward()
        results.append((loss.detach(), x.grad))
    (loss_a, grad_a), (loss_b, grad_b) = results
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(grad_a, grad_b, rtol=1e-10, atol=1e-12)


@pytest.mark.usefixtures("loss_form")
def test_uniform_weights_give_the_unweighted_loss():
    embeddings, labels, _ = _batch()
    plain = ContrastiveLoss()(embeddings, labels)
    uniform = ContrastiveLoss()(
        embeddings, labels, sample_weight=torch.full((24,), 3.0, dtype=torch.float64)
    )
    assert uniform.item() == pytest.approx(plain.item(), rel=1e-12)


@pytest.mark.usefixtures("loss_form")
def test_weighted_loss_gradcheck():
    embeddings, labels, weights = _batch(n=12)
    embeddings.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda e: ContrastiveLoss()(e, labels, sample_weight=weights), (embeddings,)
    )


def test_an_integer_pair_weight_is_that_many_copies_of_the_pair():
    embeddings, _, _ = _batch(n=6)
    pairs = torch.tensor([[0, 1], [2, 3], [4, 5], [0, 5]])
    similar = torch.tensor([True, False, True, False])
    counts = torch.tensor([1, 3, 2, 1])
    weighted = ContrastiveLoss()(
        embeddings, pairs=pairs, similar=similar, pair_weight=counts.double()
    )
    repeated = ContrastiveLoss()(
        embeddings,
        pairs=pairs.repeat_interleave(counts, 0),
        similar=similar.repeat_interleave(counts),
    )
    assert weighted.item() == pytest.approx(repeated.item(), rel=1e-12)


def test_row_weights_of_explicit_pairs_multiply_their_pair_weights():
    embeddings, _, weights = _batch(n=6)
    pairs = torch.tensor([[0, 1], [2, 3], [4, 5], [0, 5]])
    similar = torch.tensor([True, False, True, False])
    own = torch.tensor([1.0, 0.5, 2.0, 1.0], dtype=torch.float64)
    both = ContrastiveLoss()(
        embeddings, pairs=pairs, similar=similar, pair_weight=own, sample_weight=weights
    )
    product = own * weights[pairs[:, 0]] * weights[pairs[:, 1]]
    alone = ContrastiveLoss()(
        embeddings, pairs=pairs, similar=similar, pair_weight=product
    )
    assert both.item() == pytest.approx(alone.item(), rel=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_functional_weight_reductions(reduction):
    distances = torch.tensor([0.2, 0.5, 1.5], dtype=torch.float64)
    labels = torch.tensor([False, True, True])
    weight = torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)
    losses = contrastive_loss(distances, labels, reduction="none")
    expected = {
        "none": weight * losses,
        "sum": (weight * losses).sum(),
        "mean": (weight * losses).sum() / weight.sum(),
    }[reduction]
    got = contrastive_loss(distances, labels, reduction=reduction, weight=weight)
    torch.testing.assert_close(got, expected)


def test_functional_mean_of_zero_weight_is_zero_with_a_gradient():
    distances = torch.tensor([0.2, 0.5], dtype=torch.float64, requires_grad=True)
    loss = contrastive_loss(
        distances, torch.tensor([False, True]), weight=torch.zeros(2).double()
    )
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(distances.grad, torch.zeros(2, dtype=torch.float64))


def test_the_loss_refuses_pair_weight_without_pairs():
    embeddings, labels, weights = _batch()
    with pytest.raises(ValueError, match="pair_weight with explicit pairs only"):
        ContrastiveLoss()(embeddings, labels, pair_weight=weights)


# --- the estimator ----------------------------------------------------------


def _fit(X, y=None, *, params, **fit_params):
    return ContrastiveEmbedder(**params, random_state=0).fit(X, y, **fit_params)


@pytest.mark.parametrize(
    "options", [{}, {"pair_mining": "hard"}, {"unlabeled_label": -1}]
)
def test_uniform_sample_weight_is_the_unweighted_fit(iris, fast_params, options):
    X, y = iris
    if "unlabeled_label" in options:
        y = np.where(np.arange(len(y)) % 3 == 0, -1, y)
    params = {**fast_params, **options}
    plain = _fit(X, y, params=params).transform(X)
    uniform = _fit(X, y, params=params, sample_weight=np.full(len(y), 2.5))
    np.testing.assert_array_equal(uniform.transform(X), plain)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_zero_sample_weight_is_removing_the_row(iris, fast_params, early_stopping):
    X, y = iris
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    weights[::4] = 0
    params = {**fast_params, "early_stopping": early_stopping}
    weighted = _fit(X, y, params=params, sample_weight=weights)
    kept = weights > 0
    removed = _fit(X[kept], y[kept], params=params, sample_weight=weights[kept])
    np.testing.assert_array_equal(weighted.transform(X), removed.transform(X))
    assert weighted.history_[-1]["train_loss"] == removed.history_[-1]["train_loss"]


def test_sample_weight_changes_the_fit_where_it_weighs(iris, fast_params):
    """A class weighted 10x pulls its rows closer together than unweighted."""
    X, y = iris
    params = {**fast_params, "max_epochs": 20}

    def spread(embedder, label):
        Z = embedder.transform(X[y == label])
        return np.linalg.norm(Z - Z.mean(0), axis=1).mean()

    plain = _fit(X, y, params=params)
    heavy = _fit(X, y, params=params, sample_weight=np.where(y == 2, 10.0, 1.0))
    assert spread(heavy, 2) < 0.8 * spread(plain, 2)


def _noisy_digit_pairs(seed=0):
    """Training digits, pairs of them with 35% of the flags flipped, and each
    pair's confidence: 0.1 where the flag was flipped (an annotator's doubt)."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.3, random_state=0, stratify=y
    )
    rng = np.random.default_rng(seed)
    dissimilar = rng.integers(0, len(X_train), (3000, 2))
    similar = np.concatenate(
        [
            np.stack([rng.choice(rows, 200), rng.choice(rows, 200)], axis=1)
            for rows in (np.flatnonzero(y_train == c) for c in range(10))
        ]
    )
    pairs = np.concatenate([dissimilar, similar])
    pairs = np.unique(np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1), axis=0)
    truth = y_train[pairs[:, 0]] == y_train[pairs[:, 1]]
    flipped = rng.random(len(pairs)) < 0.35
    confidence = np.where(flipped, 0.1, 1.0)
    return X_train, X_test, y_test, pairs, truth ^ flipped, confidence


def test_pair_confidence_rescues_noisy_pairs():
    """35% of the pairs mislabelled: MAP@R falls; weighing each pair by its
    confidence brings it back near the clean pairs' (examples/plot_noisy_pairs.py,
    15 epochs on a few more pairs: 0.614 -> 0.941, clean 0.960)."""
    X_train, X_test, y_test, pairs, noisy, confidence = _noisy_digit_pairs()
    params = dict(n_components=16, max_epochs=8)
    plain = _fit(X_train, params=params, pairs=pairs, similar=noisy)
    weighted = _fit(
        X_train, params=params, pairs=pairs, similar=noisy, pair_weight=confidence
    )
    assert weighted.score(X_test, y_test) > plain.score(X_test, y_test) + 0.1
    assert weighted.score(X_test, y_test) > 0.85


def _random_pairs(y, n, rng):
    """Distinct random pairs of two different rows, and their flags."""
    pairs = np.unique(np.sort(rng.integers(0, len(y), (n, 2)), axis=1), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return pairs, y[pairs[:, 0]] == y[pairs[:, 1]]


def test_zero_pair_weight_is_removing_the_pair(iris, fast_params):
    X, y = iris
    rng = np.random.default_rng(0)
    pairs, similar = _random_pairs(y, 400, rng)
    weight = rng.uniform(0.5, 1.5, len(pairs))
    weight[::3] = 0
    kept = weight > 0
    a = _fit(X, params=fast_params, pairs=pairs, similar=similar, pair_weight=weight)
    b = _fit(
        X,
        params=fast_params,
        pairs=pairs[kept],
        similar=similar[kept],
        pair_weight=weight[kept],
    )
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_sample_weight_of_explicit_pairs_goes_to_their_pairs(iris, fast_params):
    X, y = iris
    pairs = np.array([[i, j] for i in range(0, 150, 7) for j in range(1, 150, 11)])
    similar = y[pairs[:, 0]] == y[pairs[:, 1]]
    rows = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    a = _fit(X, params=fast_params, pairs=pairs, similar=similar, sample_weight=rows)
    b = _fit(
        X,
        params=fast_params,
        pairs=pairs,
        similar=similar,
        pair_weight=rows[pairs[:, 0]] * rows[pairs[:, 1]],
    )
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_partial_fit_and_pipelines_take_sample_weight(iris, fast_params):
    X, y = iris
    weights = np.where(y == 0, 3.0, 1.0)
    step = ContrastiveEmbedder(**fast_params, random_state=0)
    step.partial_fit(X, y, sample_weight=weights)
    alone = _fit(X, y, params={**fast_params, "max_epochs": 1}, sample_weight=weights)
    np.testing.assert_array_equal(step.transform(X), alone.transform(X))
    pipe = make_pipeline(StandardScaler(), ContrastiveEmbedder(**fast_params))
    pipe.set_params(contrastiveembedder__random_state=0)
    pipe.fit(X, y, contrastiveembedder__sample_weight=weights)
    direct = _fit(X, y, params=fast_params, sample_weight=weights)
    np.testing.assert_allclose(pipe.transform(X), direct.transform(X), atol=1e-6)


def test_an_out_of_core_fit_takes_the_same_weights(iris, fast_params, tmp_path):
    X, y = iris
    path = tmp_path / "X.dat"
    stored = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    stored[:] = X
    stored.flush()
    weights = np.random.default_rng(0).uniform(0.0, 2.0, len(y))
    weights[:10] = 0
    memmap = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    a = _fit(memmap, y, params=fast_params, sample_weight=weights)
    b = _fit(X.astype(np.float32), y, params=fast_params, sample_weight=weights)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


@pytest.mark.parametrize(
    "weights, error, message",
    [
        (np.ones(10), ValueError, "shape (150,); got shape (10,)"),
        (np.ones((150, 2)), ValueError, "shape (150,); got shape (150, 2)"),
        (np.array(["a"] * 150), TypeError, "must hold numbers"),
        (np.r_[-1.0, np.ones(149)], ValueError, "got -1.0 at position 0"),
        (np.r_[np.ones(149), np.nan], ValueError, "got nan at position 149"),
        (np.zeros(150), ValueError, "zero everywhere (150 weights)"),
    ],
)
def test_bad_sample_weight_is_refused(iris, fast_params, weights, error, message):
    X, y = iris
    with pytest.raises(error, match=re.escape(message)):
        _fit(X, y, params=fast_params, sample_weight=weights)


def test_pair_weight_needs_pairs(iris, fast_params):
    X, y = iris
    with pytest.raises(ValueError, match="pair_weight weighs explicit pairs"):
        _fit(X, y, params=fast_params, pair_weight=np.ones(150))


def test_bad_pair_weight_is_refused(iris, fast_params):
    X, y = iris
    pairs = np.array([[0, 1], [0, 100], [50, 51]])
    similar = np.array([True, False, True])
    with pytest.raises(ValueError, match=re.escape("shape (3,); got shape (2,)")):
        _fit(X, params=fast_params, pairs=pairs, similar=similar, pair_weight=[1, 2])
    with pytest.raises(ValueError, match="every dissimilar pair has weight zero"):
        _fit(
            X,
            params=fast_params,
            pairs=pairs,
            similar=similar,
            pair_weight=[1.0, 0.0, 2.0],
        )


# --- scale, zero classes, contradictions, validation (review findings) -----


@pytest.mark.parametrize("scale", [1e-25, 1e25])
def test_only_ratios_matter_whatever_the_scale(iris, fast_params, scale):
    """Weights are scaled to a largest weight of 1 first: products of tiny or
    huge weights neither underflow to a silent zero loss nor overflow to NaN."""
    X, y = iris
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    reference = _fit(X, y, params=fast_params, sample_weight=weights)
    scaled = _fit(X, y, params=fast_params, sample_weight=weights * scale)
    np.testing.assert_allclose(
        scaled.transform(X), reference.transform(X), rtol=0, atol=1e-5
    )
    assert scaled.loss_curve_[0] == pytest.approx(reference.loss_curve_[0], rel=1e-5)


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_the_loss_scales_weights_itself(loss_form, scale):
    embeddings, labels, weights = _batch()
    embeddings, weights = embeddings.float(), weights.float()
    loss = ContrastiveLoss()(embeddings, labels, sample_weight=weights * scale)
    expected = ContrastiveLoss()(embeddings, labels, sample_weight=weights)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.usefixtures("loss_form")
def test_a_class_of_weight_zero_adds_nothing():
    embeddings, labels, weights = _batch()
    weights[labels == 2] = 0
    loss = ContrastiveLoss()(embeddings, labels, sample_weight=weights)
    kept = labels != 2
    alone = ContrastiveLoss()(
        embeddings[kept], labels[kept], sample_weight=weights[kept]
    )
    assert loss.item() == pytest.approx(alone.item(), rel=1e-10)


def test_contradicting_pairs_of_weight_zero_are_dropped_first(iris, fast_params):
    X, y = iris
    pairs = np.array([[0, 1], [0, 100], [50, 51], [1, 0]])
    similar = np.array([True, False, True, False])
    with pytest.raises(ValueError, match="both similar and dissimilar"):
        _fit(X, params=fast_params, pairs=pairs, similar=similar)
    a = _fit(
        X, params=fast_params, pairs=pairs, similar=similar, pair_weight=[1, 1, 2, 0]
    )
    b = _fit(
        X,
        params=fast_params,
        pairs=pairs[:3],
        similar=similar[:3],
        pair_weight=[1, 1, 2],
    )
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_held_out_pairs_are_scored_with_their_weights(iris, fast_params):
    """Early stopping on explicit pairs: the held-out pairs' loss is their
    weighted mean, so doubtful pairs weigh little in the monitored score."""
    X, y = iris
    rng = np.random.default_rng(0)
    pairs, similar = _random_pairs(y, 600, rng)
    weight = rng.uniform(0.1, 1.0, len(pairs))
    params = {**fast_params, "early_stopping": True, "validation_fraction": 0.2}
    fitted = _fit(X, params=params, pairs=pairs, similar=similar, pair_weight=weight)
    callback = dict(fitted.net_.callbacks_)["validation_pairs"]
    assert callback.weight is None  # the data are dropped after fit
    plain = _fit(X, params=params, pairs=pairs, similar=similar)
    # The same split and first epoch's weights, scored with and without them.
    assert fitted.history_[0]["valid_pair_loss"] != plain.history_[0]["valid_pair_loss"]


def test_functional_weight_must_match_the_distances():
    with pytest.raises(ValueError, match=re.escape("shape (3,) like distances")):
        contrastive_loss(
            torch.ones(3), torch.tensor([True, False, True]), weight=torch.ones(())
        )


@pytest.mark.parametrize(
    "pair_weight, message",
    [
        ([-1.0, 1.0, 1.0], "pair_weight must be finite and non-negative; got -1.0"),
        ([1.0, np.nan, 1.0], "got nan at position 1"),
        ([0.0, 0.0, 0.0], "pair_weight is zero everywhere (3 weights)"),
        ([0.0, 1.0, 0.0], "every similar pair has weight zero"),
    ],
)
def test_bad_pair_weight_values_are_refused(iris, fast_params, pair_weight, message):
    X, _ = iris
    pairs = np.array([[0, 1], [0, 100], [50, 51]])
    similar = np.array([True, False, True])
    with pytest.raises(ValueError, match=re.escape(message)):
        _fit(
            X, params=fast_params, pairs=pairs, similar=similar, pair_weight=pair_weight
        )
