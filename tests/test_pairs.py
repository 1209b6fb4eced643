"""Tests for sklearn_contrastive.pairs: pair indices and class-balanced batches."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_contrastive.pairs import (
    ClassBalancedBatchSampler,
    all_pairs,
    all_pairs_indices,
)


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
