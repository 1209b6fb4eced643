"""Tests for sklearn_contrastive.pairs: pair indices, mining and balanced batches."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_contrastive.pairs import (
    PAIR_MINING,
    ClassBalancedBatchSampler,
    all_pairs,
    all_pairs_indices,
    hard_pairs,
    pair_statistics,
)

DTYPES = [torch.float32, torch.float64]


def _batches(labels, batch_size, samples_per_class=None, seed=0):
    sampler = ClassBalancedBatchSampler(
        labels,
        batch_size,
        samples_per_class,
        random_state=np.random.default_rng(seed),
    )
    return sampler, list(sampler)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7])
def test_all_pairs_indices_are_every_pair_i_lt_j_in_row_major_order(n):
    i, j = all_pairs_indices(n)
    expected = [(a, b) for a in range(n) for b in range(a + 1, n)]
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == expected
    assert len(expected) == n * (n - 1) // 2


def test_all_pairs_indices_match_pdist_order():
    """pdist's k-th distance is the norm of rows i[k] - j[k]."""
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    i, j = all_pairs_indices(6)
    explicit = torch.stack(
        [torch.linalg.norm(X[a] - X[b]) for a, b in zip(i, j, strict=True)]
    )
    torch.testing.assert_close(torch.pdist(X), explicit)


def test_all_pairs_indices_device():
    i, j = all_pairs_indices(4, device="cpu")
    assert i.device.type == j.device.type == "cpu"
    assert i.dtype == j.dtype == torch.int64


def test_all_pairs_labels():
    """True (Y = 1) for pairs of different classes, False (Y = 0) otherwise."""
    labels = torch.tensor([0, 0, 1, 2, 1])
    expected = [
        labels[a].item() != labels[b].item() for a in range(5) for b in range(a + 1, 5)
    ]
    pair_labels = all_pairs(labels)
    assert pair_labels.dtype == torch.bool
    assert pair_labels.tolist() == expected
    assert (~pair_labels).sum() == 2  # (0, 1) and (2, 4)


def test_all_pairs_of_a_single_row_is_empty():
    assert all_pairs(torch.tensor([3])).shape == (0,)


@pytest.mark.parametrize(
    ("n_samples", "batch_size"), [(100, 32), (64, 32), (65, 32), (10, 64), (3, 2)]
)
def test_sampler_len_is_ceil_n_over_batch_size(n_samples, batch_size):
    labels = np.arange(n_samples) % 2
    sampler, batches = _batches(labels, batch_size)
    assert len(sampler) == math.ceil(n_samples / batch_size)
    assert len(batches) == len(sampler)


@pytest.mark.parametrize(("n_classes", "batch_size"), [(2, 64), (3, 32), (10, 64)])
def test_sampler_few_classes_every_batch_holds_every_class(n_classes, batch_size):
    """With few classes, M = batch_size // n_classes rows of every class."""
    labels = np.repeat(np.arange(n_classes), 50)
    sampler, batches = _batches(labels, batch_size)
    m = batch_size // n_classes
    assert sampler.n_classes_per_batch == n_classes
    assert sampler.samples_per_class_ == m
    for batch in batches:
        assert Counter(labels[batch].tolist()) == dict.fromkeys(range(n_classes), m)


def test_sampler_many_classes_draws_p_classes_of_four_rows():
    """100 classes, batch 64: 16 distinct classes of 4 rows in each batch."""
    labels = np.repeat(np.arange(100), 10)
    sampler, batches = _batches(labels, 64)
    assert (sampler.n_classes_per_batch, sampler.samples_per_class_) == (16, 4)
    assert len(batches) == math.ceil(1000 / 64)
    for batch in batches:
        counts = Counter(labels[batch].tolist())
        assert len(counts) == 16
        assert set(counts.values()) == {4}
    # The classes are redrawn for every batch.
    assert len({frozenset(labels[batch].tolist()) for batch in batches}) > 1


def test_sampler_imbalanced_labels_every_batch_holds_both_classes():
    labels = np.array([0] * 1000 + [1] * 10)
    _, batches = _batches(labels, 64)
    for batch in batches:
        counts = Counter(labels[batch].tolist())
        assert counts[0] > 0
        assert counts[1] > 0


def test_sampler_class_smaller_than_m_contributes_all_its_rows():
    """A 2-row class with M = 4 gives both its rows, once, to every batch."""
    labels = np.array([0] * 30 + [1] * 2 + [2] * 30)
    _, batches = _batches(labels, 12, samples_per_class=4)
    small = {30, 31}
    for batch in batches:
        assert sorted(b for b in batch.tolist() if b in small) == [30, 31]
        assert Counter(labels[batch].tolist()) == {0: 4, 1: 2, 2: 4}


def _visits(labels, batch_size, seed, passes):
    """How often each row is drawn over ``passes`` passes of one sampler."""
    sampler = ClassBalancedBatchSampler(
        labels, batch_size, random_state=np.random.default_rng(seed)
    )
    seen = Counter()
    for _ in range(passes):
        for batch in sampler:
            seen.update(batch.tolist())
    return seen


def test_sampler_visits_every_row_about_equally_often():
    """Over many passes each row is seen, and within a class counts differ by <= 1."""
    labels = np.array([0] * 23 + [1] * 7 + [2] * 41 + [3] * 5)
    seen = _visits(labels, 8, seed=0, passes=20)
    assert set(seen) == set(range(len(labels)))
    for c in range(4):
        counts = [seen[row] for row in np.flatnonzero(labels == c)]
        assert max(counts) - min(counts) <= 1


def test_sampler_visits_every_row_of_many_classes():
    labels = np.repeat(np.arange(50), 6)
    seen = _visits(labels, 32, seed=1, passes=10)
    assert set(seen) == set(range(len(labels)))


def test_sampler_same_seed_same_batches():
    labels = np.repeat(np.arange(7), 13)
    _, first = _batches(labels, 16, seed=42)
    _, second = _batches(labels, 16, seed=42)
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_sampler_different_generator_state_different_batches():
    """A new seed, or the next pass over a shared generator, reshuffles."""
    labels = np.repeat(np.arange(7), 13)
    sampler, first = _batches(labels, 16, seed=42)
    _, other_seed = _batches(labels, 16, seed=43)
    second_pass = list(sampler)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other_seed, strict=True))
    assert not all(
        np.array_equal(a, b) for a, b in zip(first, second_pass, strict=True)
    )


def test_sampler_yields_integer_positions():
    _, batches = _batches(np.arange(20) % 3, 6)
    for batch in batches:
        assert isinstance(batch, np.ndarray)
        assert np.issubdtype(batch.dtype, np.integer)


def test_sampler_accepts_non_contiguous_and_string_labels():
    """Classes are whatever np.unique finds: codes need not be 0 .. n_classes - 1."""
    for labels in (np.array([5, 99, 5, 99, 5, 99] * 4), np.array(list("abab") * 6)):
        sampler, batches = _batches(labels, 8)
        assert sampler.n_classes_per_batch == 2
        for batch in batches:
            assert len(set(labels[batch].tolist())) == 2


def test_sampler_explicit_samples_per_class():
    labels = np.repeat(np.arange(10), 10)
    sampler, batches = _batches(labels, 8, samples_per_class=2)
    assert (sampler.n_classes_per_batch, sampler.samples_per_class_) == (4, 2)
    for batch in batches:
        assert set(Counter(labels[batch].tolist()).values()) == {2}


def test_sampler_samples_per_class_capped_to_keep_two_classes():
    """M is at most batch_size // 2, so a batch never holds a single class."""
    labels = np.repeat(np.arange(3), 40)
    sampler, batches = _batches(labels, 10, samples_per_class=100)
    assert (sampler.n_classes_per_batch, sampler.samples_per_class_) == (2, 5)
    for batch in batches:
        assert len(set(labels[batch].tolist())) == 2


def test_sampler_single_class():
    labels = np.zeros(20, dtype=int)
    sampler, batches = _batches(labels, 8)
    assert sampler.n_classes_per_batch == 1
    for batch in batches:
        assert len(batch) == sampler.samples_per_class_ == 4


def test_sampler_batch_never_repeats_a_row():
    """A batch holds M distinct rows of each class, never a row paired with itself."""
    labels = np.array([0] * 5 + [1] * 5)
    sampler = ClassBalancedBatchSampler(
        labels, 8, random_state=np.random.default_rng(0)
    )
    for _ in range(5):
        for batch in sampler:
            assert len(set(batch.tolist())) == len(batch)


@settings(max_examples=60, deadline=None)
@given(
    labels=arrays(np.int64, st.integers(1, 200), elements=st.integers(0, 30)),
    batch_size=st.integers(2, 70),
    samples_per_class=st.none() | st.integers(1, 10),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_sampler_batches_are_valid(
    labels, batch_size, samples_per_class, seed
):
    """Every index is a valid row; >= 2 classes per batch whenever there are 2."""
    sampler, batches = _batches(labels, batch_size, samples_per_class, seed)
    n_classes = len(np.unique(labels))
    # Small classes make batches smaller than batch_size; then there are more.
    assert len(batches) == len(sampler) >= math.ceil(len(labels) / batch_size)
    for batch in batches:
        assert len(np.unique(batch)) == len(batch)
        assert len(batch) > 0
        assert ((batch >= 0) & (batch < len(labels))).all()
        assert len(batch) <= batch_size
        if n_classes >= 2:
            assert len(np.unique(labels[batch])) >= 2


def test_sampler_pass_visits_about_n_rows_with_imbalanced_classes():
    """Small classes shrink batches; one pass then has more batches, not fewer rows."""
    labels = np.array([0] * 1000 + [1] * 10)
    sampler, batches = _batches(labels, 64, seed=0)
    rows = sum(len(batch) for batch in batches)
    assert len(labels) <= rows < len(labels) + 64


def _distance_matrix(embeddings):
    """(n, n) Euclidean distances by an explicit Python loop, in float64."""
    rows = embeddings.tolist()
    return [[math.dist(a, b) for b in rows] for a in rows]


def _square(distances, n):
    """(n, n) matrix holding the condensed ``distances`` (pdist order)."""
    matrix = [[0.0] * n for _ in range(n)]
    k = 0
    for a in range(n):
        for b in range(a + 1, n):
            matrix[a][b] = matrix[b][a] = float(distances[k])
            k += 1
    return matrix


def _oracle_hard_pairs(matrix, labels, margin):
    """hard_pairs by an explicit loop over an (n, n) distance matrix.

    Row ``a``'s hardest similar distance is the largest ``matrix[a][b]`` over the
    other rows ``b`` of its class; a similar pair is kept when it reaches that
    value for either of its rows, a dissimilar pair when it is inside the margin.
    """
    n = len(labels)
    hardest = [
        max(
            (matrix[a][b] for b in range(n) if b != a and labels[b] == labels[a]),
            default=None,
        )
        for a in range(n)
    ]
    selected = []
    for a in range(n):
        for b in range(a + 1, n):
            if labels[a] == labels[b]:
                selected.append(matrix[a][b] in (hardest[a], hardest[b]))
            else:
                selected.append(matrix[a][b] < margin)
    return selected


def _oracle_pair_statistics(distances, dissimilar, margin):
    sums = [0.0, 0, 0.0, 0, 0]
    for d, y in zip(distances.tolist(), dissimilar.tolist(), strict=True):
        if y:
            sums[2] += d
            sums[3] += 1
            sums[4] += d < margin
        else:
            sums[0] += d
            sums[1] += 1
    return sums


def test_pair_mining_strategies():
    assert PAIR_MINING == ("all", "hard")


HARD_PAIR_LABELS = {
    "few_classes": [0, 1, 0, 1, 0, 2, 2, 1, 0, 2],
    "singleton_classes": [0, 0, 0, 1, 2, 3, 3, 4, 0, 3],
    "one_class": [5] * 10,
    "all_distinct": list(range(10)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pattern", sorted(HARD_PAIR_LABELS))
@pytest.mark.parametrize("margin", [0.5, 2.0])
def test_hard_pairs_matches_loop(dtype, pattern, margin):
    """Random embeddings (no ties): the mask is the loop oracle's selection."""
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(10, 3, generator=generator, dtype=dtype)
    labels = torch.tensor(HARD_PAIR_LABELS[pattern])
    selected = hard_pairs(torch.pdist(embeddings), all_pairs(labels), 10, margin)
    assert selected.dtype == torch.bool
    assert selected.shape == (45,)
    expected = _oracle_hard_pairs(_distance_matrix(embeddings), labels.tolist(), margin)
    assert selected.tolist() == expected


def test_hard_pairs_label_patterns_select_as_described():
    """Counts that follow from the definition, without the oracle."""
    generator = torch.Generator().manual_seed(1)
    distances = torch.pdist(torch.randn(10, 3, generator=generator))

    def n_selected(labels, margin):
        labels = torch.tensor(labels)
        return int(hard_pairs(distances, all_pairs(labels), 10, margin).sum())

    # No similar pair: exactly the dissimilar pairs inside the margin.
    assert n_selected(HARD_PAIR_LABELS["all_distinct"], 0.0) == 0
    assert n_selected(HARD_PAIR_LABELS["all_distinct"], 100.0) == 45
    assert n_selected(HARD_PAIR_LABELS["all_distinct"], 1.0) == int(
        (distances < 1.0).sum()
    )
    # One class: each of the 10 rows keeps one hardest pair, shared by at most 2.
    assert 5 <= n_selected(HARD_PAIR_LABELS["one_class"], 100.0) <= 10
    # Classes of two rows: each similar pair is the hardest of both its rows.
    assert n_selected([0, 0, 1, 1, 2, 2, 3, 3, 4, 4], 0.0) == 5


@pytest.mark.parametrize("dtype", DTYPES)
def test_hard_pairs_ties_keep_every_tied_pair(dtype):
    """Row 0 has two similar partners at exactly distance 1: both pairs are kept.

    Rows 0, 1, 2 of class 0 lie at x = 0, 1, -1 and row 3 (class 1) far away.
    Rows 1 and 2 have (1, 2) as their hardest pair, so (0, 1) and (0, 2) are
    kept only as row 0's tied hardest pairs. Moving row 2 to x = -0.9 breaks
    the tie and drops (0, 2).
    """
    labels = torch.tensor([0, 0, 0, 1])
    dissimilar = all_pairs(labels)
    # Pairs in pdist order: (0,1) (0,2) (0,3) (1,2) (1,3) (2,3).
    tied = torch.tensor([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 9.0]], dtype=dtype)
    distances = torch.pdist(tied)
    assert distances[0] == distances[1] == 1.0
    selected = hard_pairs(distances, dissimilar, 4, margin=1.0)
    assert selected.tolist() == [True, True, False, True, False, False]

    untied = tied.clone()
    untied[2, 0] = -0.9
    selected = hard_pairs(torch.pdist(untied), dissimilar, 4, margin=1.0)
    assert selected.tolist() == [True, False, False, True, False, False]


def test_hard_pairs_drops_similar_pairs_hardest_for_neither_row():
    """A unit square of one class: each row's hardest pair is its diagonal."""
    square = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    distances = torch.pdist(square)
    labels = torch.zeros(4, dtype=torch.int64)
    selected = hard_pairs(distances, all_pairs(labels), 4, margin=1.0)
    # Diagonals (0, 3) and (1, 2) only; the four sides are never the hardest.
    assert selected.tolist() == [False, False, True, True, False, False]


@pytest.mark.parametrize("dtype", DTYPES)
def test_hard_pairs_of_a_single_row_is_empty(dtype):
    selected = hard_pairs(
        torch.zeros(0, dtype=dtype), torch.zeros(0, dtype=torch.bool), 1, 1.0
    )
    assert selected.shape == (0,)
    assert selected.dtype == torch.bool


@pytest.mark.parametrize("distance", [0.0, 0.3, 5.0])
def test_hard_pairs_two_rows_of_one_class_keep_their_pair(distance):
    """The only similar pair is the hardest of both rows, even at distance 0."""
    distances = torch.tensor([distance])
    selected = hard_pairs(distances, torch.tensor([False]), 2, margin=1.0)
    assert selected.tolist() == [True]


@pytest.mark.parametrize(
    ("distance", "kept"), [(0.0, True), (0.99, True), (1.0, False), (1.5, False)]
)
def test_hard_pairs_two_rows_of_two_classes_keep_pair_inside_margin(distance, kept):
    """A dissimilar pair is kept when strictly closer than the margin."""
    distances = torch.tensor([distance], dtype=torch.float64)
    selected = hard_pairs(distances, torch.tensor([True]), 2, margin=1.0)
    assert selected.tolist() == [kept]


def test_hard_pairs_carries_no_gradient():
    """The mask is a plain bool tensor: no graph through the selection."""
    generator = torch.Generator().manual_seed(2)
    embeddings = torch.randn(6, 2, generator=generator, requires_grad=True)
    distances = torch.pdist(embeddings)
    before = distances.detach().clone()
    dissimilar = all_pairs(torch.tensor([0, 0, 1, 1, 2, 0]))
    selected = hard_pairs(distances, dissimilar, 6, 2.0)
    assert not selected.requires_grad
    assert selected.grad_fn is None
    assert torch.equal(distances.detach(), before)
    # Gradient reaches the embeddings only through the selected distances.
    distances[selected].sum().backward()
    assert torch.isfinite(embeddings.grad).all()


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 9),
    data=st.data(),
    margin=st.floats(0.0, 3.0),
)
def test_property_hard_pairs_matches_loop_and_covers_every_row(n, data, margin):
    """Oracle agreement (ties included) and the selection's guarantees."""
    # Coarse coordinates make exact ties frequent.
    X = data.draw(
        arrays(np.float64, (n, 2), elements=st.integers(-2, 2).map(float)), label="X"
    )
    y = data.draw(arrays(np.int64, n, elements=st.integers(0, 2)), label="y")
    distances = torch.pdist(torch.from_numpy(X))
    labels = torch.from_numpy(y)
    dissimilar = all_pairs(labels)
    selected = hard_pairs(distances, dissimilar, n, margin)
    expected = _oracle_hard_pairs(_square(distances, n), y.tolist(), margin)
    assert selected.tolist() == expected
    # Every dissimilar pair inside the margin, and none outside, is kept.
    assert torch.equal(selected[dissimilar], distances[dissimilar] < margin)
    # Every row with a similar partner keeps at least one similar pair.
    i, j = all_pairs_indices(n)
    kept_similar = selected & ~dissimilar
    for row in range(n):
        if (y == y[row]).sum() > 1:
            assert kept_similar[(i == row) | (j == row)].any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("margin", [0.5, 1.0, 3.0])
def test_pair_statistics_matches_loop(dtype, margin):
    generator = torch.Generator().manual_seed(3)
    distances = torch.pdist(torch.randn(9, 2, generator=generator, dtype=dtype))
    dissimilar = all_pairs(torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1]))
    statistics = pair_statistics(distances, dissimilar, margin)
    assert statistics.shape == (5,)
    assert statistics.dtype == dtype
    expected = _oracle_pair_statistics(distances, dissimilar, margin)
    torch.testing.assert_close(
        statistics.double(), torch.tensor(expected, dtype=torch.float64)
    )
    # The counts are exact and add up to the number of pairs.
    assert statistics[1] + statistics[3] == 36
    assert 0 < statistics[4] < statistics[3]


def test_pair_statistics_is_detached():
    embeddings = torch.tensor([[0.0, 0.0], [0.3, 0.4], [2.0, 0.0]], requires_grad=True)
    distances = torch.pdist(embeddings)
    statistics = pair_statistics(distances, all_pairs(torch.tensor([0, 0, 1])), 1.0)
    assert not statistics.requires_grad
    assert statistics.grad_fn is None
    # (0, 1) similar at 0.5; (0, 2) and (1, 2) dissimilar, neither inside 1.0.
    torch.testing.assert_close(
        statistics,
        torch.tensor([0.5, 1.0, 2.0 + math.hypot(1.7, 0.4), 2.0, 0.0]),
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_pair_statistics_of_zero_pairs_is_zeros(dtype):
    """A single-row batch has no pair: every sum and count is 0."""
    distances = torch.pdist(torch.ones(1, 3, dtype=dtype))
    assert distances.shape == (0,)
    statistics = pair_statistics(distances, all_pairs(torch.tensor([7])), 1.0)
    assert statistics.dtype == dtype
    assert torch.equal(statistics, torch.zeros(5, dtype=dtype))


def test_pair_statistics_margin_is_strict():
    """A dissimilar pair exactly at the margin is not active."""
    distances = torch.tensor([1.0, 0.5, 1.0])
    statistics = pair_statistics(distances, torch.tensor([True, True, False]), 1.0)
    assert statistics.tolist() == [1.0, 1.0, 1.5, 2.0, 1.0]
