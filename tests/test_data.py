"""Tests for sklearn_contrastive._data: loaders that index whole tensors."""

import math
import re

import numpy as np
import pytest
import torch
from skorch.dataset import Dataset, ValidSplit
from torch.utils.data import Subset, TensorDataset

from sklearn_contrastive._data import (
    BatchLoader,
    ClassBalancedLoader,
    PairLoader,
    ViewLoader,
)

N_SAMPLES = 30
INNER = np.array([29, 3, 17, 5, 8, 0, 11, 2, 26, 14, 21, 9])
OUTER = [4, 0, 2, 7, 11, 1, 9, 6]


def _data():
    # Row r is (3r, 3r + 1, 3r + 2): a batch row tells which data row it is.
    X = torch.arange(N_SAMPLES * 3, dtype=torch.float32).reshape(N_SAMPLES, 3)
    y = torch.arange(N_SAMPLES) % 3
    return X, y


def _row_ids(Xb):
    return (Xb[:, 0] / 3).long()


def _skorch_dataset():
    return Dataset(*_data()), np.arange(N_SAMPLES)


def _numpy_skorch_dataset():
    X, y = _data()
    return Dataset(X.numpy(), y.numpy()), np.arange(N_SAMPLES)


def _tensor_dataset():
    return TensorDataset(*_data()), np.arange(N_SAMPLES)


def _subset():
    return Subset(Dataset(*_data()), INNER.tolist()), INNER


def _subset_of_tensor_dataset():
    return Subset(TensorDataset(*_data()), INNER), INNER


def _nested_subset():
    inner = Subset(Dataset(*_data()), INNER)
    return Subset(inner, OUTER), INNER[OUTER]


DATASETS = [
    pytest.param(_skorch_dataset, id="skorch-Dataset"),
    pytest.param(_numpy_skorch_dataset, id="skorch-Dataset-numpy"),
    pytest.param(_tensor_dataset, id="TensorDataset"),
    pytest.param(_subset, id="Subset"),
    pytest.param(_subset_of_tensor_dataset, id="Subset-TensorDataset"),
    pytest.param(_nested_subset, id="Subset-of-Subset"),
]


@pytest.mark.parametrize("make_dataset", DATASETS)
@pytest.mark.parametrize("batch_size", [1, 4, 7, 100])
def test_batch_loader_yields_the_dataset_rows_in_order(make_dataset, batch_size):
    dataset, rows = make_dataset()
    X, y = _data()
    loader = BatchLoader(dataset, batch_size=batch_size)
    batches = list(loader)
    assert len(loader) == len(batches) == math.ceil(len(rows) / batch_size)
    assert [len(Xb) for Xb, _ in batches[:-1]] == [batch_size] * (len(batches) - 1)
    for Xb, yb in batches:
        assert isinstance(Xb, torch.Tensor)
        assert isinstance(yb, torch.Tensor)
        assert len(Xb) == len(yb)
    torch.testing.assert_close(torch.cat([Xb for Xb, _ in batches]), X[rows])
    torch.testing.assert_close(torch.cat([yb for _, yb in batches]), y[rows])


@pytest.mark.parametrize("make_dataset", DATASETS)
def test_class_balanced_loader_yields_only_the_dataset_rows(make_dataset):
    """Each batch pairs rows with their own labels and holds only covered rows."""
    dataset, rows = make_dataset()
    X, y = _data()
    loader = ClassBalancedLoader(
        dataset, batch_size=6, random_state=np.random.default_rng(0)
    )
    batches = list(loader)
    assert len(loader) == len(batches) == math.ceil(len(rows) / 6)
    for Xb, yb in batches:
        ids = _row_ids(Xb)
        torch.testing.assert_close(Xb, X[ids])
        torch.testing.assert_close(yb, y[ids])
        assert set(ids.tolist()) <= set(rows.tolist())
        assert len(yb.unique()) >= 2


def test_class_balanced_loader_draws_labels_of_the_subset_only():
    """A (nested) subset without class 2 gives batches without class 2."""
    X, y = _data()
    rows = np.flatnonzero(y.numpy() != 2)
    inner = Subset(Dataset(X, y), rows)
    every_third = np.arange(0, len(rows), 3)
    for dataset, covered in [
        (inner, rows),
        (Subset(inner, every_third), rows[every_third]),
    ]:
        loader = ClassBalancedLoader(dataset, 8, np.random.default_rng(0))
        for Xb, yb in loader:
            assert set(yb.tolist()) == {0, 1}
            assert set(_row_ids(Xb).tolist()) <= set(covered.tolist())


def test_class_balanced_loader_same_seed_same_batches():
    dataset, _ = _subset()
    first = list(ClassBalancedLoader(dataset, 6, np.random.default_rng(3)))
    second = list(ClassBalancedLoader(dataset, 6, np.random.default_rng(3)))
    for (Xa, ya), (Xb, yb) in zip(first, second, strict=True):
        assert torch.equal(Xa, Xb)
        assert torch.equal(ya, yb)


def test_class_balanced_loader_shared_generator_reshuffles_each_epoch():
    """skorch builds one loader per epoch; a shared generator makes epochs differ."""
    dataset, _ = _skorch_dataset()
    rng = np.random.default_rng(3)
    first = torch.cat([Xb for Xb, _ in ClassBalancedLoader(dataset, 6, rng)])
    second = torch.cat([Xb for Xb, _ in ClassBalancedLoader(dataset, 6, rng)])
    assert first.shape == second.shape
    assert not torch.equal(first, second)


def test_class_balanced_loader_samples_per_class():
    dataset, _ = _skorch_dataset()
    loader = ClassBalancedLoader(
        dataset, 12, np.random.default_rng(0), samples_per_class=2
    )
    for _, yb in loader:
        assert torch.bincount(yb).tolist() == [2, 2, 2]


@pytest.mark.parametrize(
    "dataset",
    [
        pytest.param(Dataset(_data()[0]), id="skorch-Dataset"),
        pytest.param(TensorDataset(_data()[0]), id="TensorDataset"),
        pytest.param(Subset(Dataset(_data()[0]), [5, 1, 3]), id="Subset"),
    ],
)
def test_batch_loader_without_target_yields_dummy_target(dataset):
    X, _ = _data()
    rows = getattr(dataset, "indices", list(range(N_SAMPLES)))
    batches = list(BatchLoader(dataset, batch_size=4))
    torch.testing.assert_close(torch.cat([Xb for Xb, _ in batches]), X[rows])
    for Xb, yb in batches:
        assert torch.equal(yb, torch.zeros(len(Xb)))


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self):
        self.items = list(zip(*_data(), strict=True))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


@pytest.mark.parametrize(
    ("dataset", "name"),
    [
        (_ListDataset(), "_ListDataset"),
        (Subset(Subset(_ListDataset(), [0, 1, 2]), [1]), "_ListDataset"),
        ([(torch.zeros(3), 0)], "list"),
        (_data()[0], "Tensor"),
    ],
)
@pytest.mark.parametrize("loader", ["BatchLoader", "ClassBalancedLoader"])
def test_unsupported_dataset_raises_type_error(dataset, name, loader):
    msg = (
        "sklearn_contrastive's batch loaders need a skorch Dataset or a "
        f"TensorDataset (or a Subset of one); got {name}."
    )
    with pytest.raises(TypeError, match=re.escape(msg)):
        if loader == "BatchLoader":
            BatchLoader(dataset, batch_size=4)
        else:
            ClassBalancedLoader(dataset, 4, np.random.default_rng(0))


def test_loaders_ignore_dataloader_kwargs():
    """DataLoader options routed by skorch (num_workers...) are accepted and ignored."""
    dataset, rows = _subset()
    X, _ = _data()
    options = {"num_workers": 4, "pin_memory": True, "shuffle": True}
    plain = list(BatchLoader(dataset, batch_size=5))
    with_options = list(BatchLoader(dataset, batch_size=5, **options))
    for (Xa, ya), (Xb, yb) in zip(plain, with_options, strict=True):
        assert torch.equal(Xa, Xb)
        assert torch.equal(ya, yb)
    torch.testing.assert_close(torch.cat([Xb for Xb, _ in with_options]), X[rows])

    plain = list(ClassBalancedLoader(dataset, 6, np.random.default_rng(0)))
    with_options = list(
        ClassBalancedLoader(dataset, 6, np.random.default_rng(0), **options)
    )
    for (Xa, ya), (Xb, yb) in zip(plain, with_options, strict=True):
        assert torch.equal(Xa, Xb)
        assert torch.equal(ya, yb)


def test_skorch_stratified_valid_split_feeds_both_loaders():
    """skorch's ValidSplit(0.2, stratified=True) output works with both loaders."""
    X, y = _data()
    dataset = Dataset(X, y)
    train, valid = ValidSplit(0.2, stratified=True)(dataset, y=y.numpy())
    assert isinstance(train, Subset)
    assert isinstance(valid, Subset)
    train_rows = set(np.asarray(train.indices).tolist())
    valid_rows = np.asarray(valid.indices)
    assert len(valid_rows) == 6
    assert train_rows.isdisjoint(valid_rows.tolist())

    valid_batches = list(BatchLoader(valid, batch_size=4))
    torch.testing.assert_close(
        torch.cat([Xb for Xb, _ in valid_batches]), X[valid_rows]
    )
    torch.testing.assert_close(
        torch.cat([yb for _, yb in valid_batches]), y[valid_rows]
    )
    assert sorted(torch.cat([yb for _, yb in valid_batches]).tolist()) == [
        0,
        0,
        1,
        1,
        2,
        2,
    ]

    loader = ClassBalancedLoader(train, 12, np.random.default_rng(0))
    assert len(loader) == math.ceil(len(train_rows) / 12)
    for Xb, yb in loader:
        ids = _row_ids(Xb)
        assert set(ids.tolist()) <= train_rows
        torch.testing.assert_close(yb, y[ids])
        assert torch.bincount(yb, minlength=3).tolist() == [4, 4, 4]


# -- explicit pairs and views of unlabelled rows


def _explicit_pairs(n_pairs=23, seed=0):
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, N_SAMPLES, size=(n_pairs, 2))
    similar = rng.random(n_pairs) < 0.4
    return pairs, similar


@pytest.mark.parametrize("batch_size", [1, 5, 23, 50])
def test_pair_loader_visits_each_pair_once_per_epoch(batch_size):
    """Each batch embeds the distinct rows of its pairs once; the pairs index
    those rows and keep their similar flags."""
    X, _ = _data()
    pairs, similar = _explicit_pairs()
    loader = PairLoader(
        Dataset(X, None),
        batch_size,
        np.random.default_rng(0),
        pairs=pairs,
        similar=similar,
    )
    seen = []
    for Xb, target in loader:
        rows = _row_ids(Xb)
        assert len(torch.unique(rows)) == len(rows)
        assert len(target["pairs"]) <= batch_size
        for (a, b), flag in zip(target["pairs"], target["similar"], strict=True):
            seen.append((int(rows[a]), int(rows[b]), bool(flag)))
    assert len(loader) == math.ceil(len(pairs) / batch_size)
    expected = [
        (int(a), int(b), bool(f)) for (a, b), f in zip(pairs, similar, strict=True)
    ]
    assert sorted(seen) == sorted(expected)


def test_pair_loader_reshuffles_each_epoch():
    X, _ = _data()
    pairs, similar = _explicit_pairs()
    loader = PairLoader(
        Dataset(X, None), 5, np.random.default_rng(0), pairs=pairs, similar=similar
    )
    first, second = (
        [target["similar"].tolist() for _, target in loader] for _ in range(2)
    )
    assert first != second


def _partially_labelled(n_labelled=9):
    X, y = _data()
    y = y.clone()
    y[n_labelled:] = -1
    return X, y


@pytest.mark.parametrize("n_labelled", [0, 9])
def test_view_loader_pairs_two_views_of_each_unlabelled_row(n_labelled):
    """With corruption_rate=0 a view is its row: each view label names one
    unlabelled row, twice; labelled rows come with their class."""
    X, y = _partially_labelled(n_labelled)
    loader = ViewLoader(Dataset(X, y), 8, np.random.default_rng(0), corruption_rate=0.0)
    visited = []
    for Xb, yb in loader:
        views = yb < 0
        rows = _row_ids(Xb)
        # Labelled rows keep their labels; views are unlabelled rows.
        torch.testing.assert_close(yb[~views], y[rows[~views]])
        assert (y[rows[views]] == -1).all()
        for label in torch.unique(yb[views]):
            same = rows[yb == label]
            assert len(same) == 2 and same[0] == same[1]
            visited.append(int(same[0]))
        expected_views = 2 * (8 // 4 if n_labelled else 8 // 2)
        assert views.sum() <= expected_views
    # Every unlabelled row once per epoch.
    assert sorted(visited) == list(range(n_labelled, N_SAMPLES))


def test_view_loader_corrupts_views_with_values_of_training_rows():
    X, y = _partially_labelled()
    loader = ViewLoader(
        Dataset(X, y), 16, np.random.default_rng(0), corruption_rate=0.6
    )
    Xb, yb = next(iter(loader))
    views = Xb[yb < 0]
    # Two of three features replaced: each value still from its own column.
    assert ((views % 3) == torch.arange(3)).all()
    assert (views != X[_row_ids(views)]).any()
