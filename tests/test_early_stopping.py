"""Early stopping: the seeded validation split, the restored best weights, the
split's refusals, the subsampled retrieval on large validation sets, and the
split by whole classes (``validation_split="classes"``)."""

import re

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs
from skorch.callbacks import Callback

from sklearn_contrastive import ContrastiveEmbedder


def test_early_stopping_stops_and_restores_the_best_weights(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **{**fast_params, "max_epochs": 200},
        early_stopping=True,
        n_iter_no_change=2,
        random_state=0,
    ).fit(X, y)
    assert est.n_iter_ < 200
    frame = pd.DataFrame(est.history_)
    assert frame["valid_loss"].notna().all()
    assert frame["valid_precision_at_1"].between(0, 1).all()
    assert frame["valid_map_at_r"].between(0, 1).all()
    assert est.validation_scores_ == list(frame["valid_map_at_r"])
    stopper = dict(est.net_.callbacks_)["early_stopping"]
    best_epoch = stopper.best_epoch_
    assert est.best_validation_score_ == est.validation_scores_[best_epoch - 1]
    assert est.best_validation_score_ == pytest.approx(max(est.validation_scores_))
    # n_iter_no_change epochs without improvement are allowed, the next stops.
    assert est.n_iter_ == best_epoch + 3
    for name, weights in est.net_.module_.state_dict().items():
        torch.testing.assert_close(weights, stopper.best_model_weights_[name])


class _CountEpochEnds(Callback):
    def initialize(self):
        self.count = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.count += 1


def test_user_callbacks_see_the_epoch_that_stops_the_fit(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **{**fast_params, "max_epochs": 200},
        early_stopping=True,
        n_iter_no_change=1,
        random_state=0,
        callbacks=[("count", _CountEpochEnds())],
    ).fit(X, y)
    assert est.n_iter_ < 200
    assert dict(est.net_.callbacks_)["count"].count == est.n_iter_


def test_early_stopping_split_is_seeded_by_random_state(iris, fast_params):
    X, y = iris
    params = dict(**fast_params, early_stopping=True, random_state=3)
    a = ContrastiveEmbedder(**params).fit(X, y)
    b = ContrastiveEmbedder(**params).fit(X, y)
    assert a.validation_scores_ == b.validation_scores_
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_early_stopping_trains_on_the_rest(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **{**fast_params, "batch_size": 200},
        early_stopping=True,
        validation_fraction=0.2,
        random_state=0,
    ).fit(X, y)
    # 120 training rows of 3 balanced classes: one batch of 3 x 40 per epoch.
    assert est.history_[0]["train_batch_count"] == 1
    assert est.history_[0]["valid_batch_count"] == 1


def test_early_stopping_needs_a_row_of_each_class_on_each_side(iris, fast_params):
    X, y = iris
    with pytest.raises(ValueError, match="validation_fraction=0.01 of the rows"):
        ContrastiveEmbedder(
            **fast_params, early_stopping=True, validation_fraction=0.01
        ).fit(X, y)
    y_one_row_class = y.copy()
    y_one_row_class[0] = 7
    with pytest.raises(ValueError, match="the smallest with 1 rows"):
        ContrastiveEmbedder(**fast_params, early_stopping=True).fit(X, y_one_row_class)


def test_early_stopping_needs_a_class_twice_among_validation_rows(fast_params):
    X = np.random.default_rng(0).normal(size=(200, 4))
    y = np.arange(200) % 10
    est = ContrastiveEmbedder(
        **fast_params, early_stopping=True, validation_fraction=0.05
    )
    with pytest.raises(ValueError, match="needs two rows of some class there"):
        est.fit(X, y)
    assert not hasattr(est, "net_")


def test_early_stopping_refuses_a_user_train_split(iris, fast_params):
    from skorch.dataset import ValidSplit

    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params, early_stopping=True, net_params={"train_split": ValidSplit(0.2)}
    )
    with pytest.raises(ValueError, match="may not set 'train_split' with early"):
        est.fit(X, y)


def test_large_validation_sets_are_subsampled_for_retrieval():
    """MAP@R costs n_valid x R neighbours per epoch: above 2,000 validation
    rows a stratified sample is ranked; smaller sets are ranked whole."""
    from sklearn_contrastive._validation import MAX_RETRIEVAL_ROWS, retrieval_subset

    rng = np.random.default_rng(0)
    y_valid = rng.choice(3, size=5000, p=[0.6, 0.3, 0.1])
    X_valid = rng.normal(size=(5000, 4)).astype(np.float32)
    X_sub, y_sub = retrieval_subset(X_valid, y_valid, seed=0)
    assert len(y_sub) == len(X_sub) == MAX_RETRIEVAL_ROWS == 2000
    np.testing.assert_allclose(
        np.bincount(y_sub) / 2000, np.bincount(y_valid) / 5000, atol=1e-3
    )
    # The rows keep their labels, and a small set is kept whole.
    rows = [np.flatnonzero((X_valid == row).all(axis=1))[0] for row in X_sub[:50]]
    np.testing.assert_array_equal(y_valid[rows], y_sub[:50])
    X_all, y_all = retrieval_subset(X_valid[:300], y_valid[:300], seed=0)
    np.testing.assert_array_equal(y_all, y_valid[:300])


# validation_split="classes": whole classes held out, for open-set use.


class _RecordSplit(Callback):
    """Keep the encoded labels of the rows skorch trains and validates on."""

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self.train_ = dataset_train.y.numpy()
        self.valid_ = dataset_valid.y.numpy()


@pytest.fixture
def blobs():
    """10 well separated classes of 20 rows, 4 features."""
    X, y = make_blobs(n_samples=200, centers=10, n_features=4, random_state=0)
    return X, y


def _split(X, y, **params):
    """The fitted estimator and the classes it trained and validated on."""
    est = ContrastiveEmbedder(
        **params, early_stopping=True, callbacks=[("record", _RecordSplit())]
    ).fit(X, y)
    record = dict(est.net_.callbacks_)["record"]
    return est, record.train_, record.valid_


def test_class_split_holds_out_whole_classes_absent_from_training(blobs, fast_params):
    X, y = blobs
    est, train, valid = _split(
        X,
        y,
        **fast_params,
        validation_split="classes",
        validation_fraction=0.3,
        random_state=0,
    )
    held_out = set(est.classes_[valid])
    assert held_out.isdisjoint(est.classes_[train])
    assert held_out | set(est.classes_[train]) == set(est.classes_)
    # Every row of a held-out class is held out: 3 classes of 20 rows.
    assert len(held_out) == 3
    assert len(valid) == 60 and len(train) == 140
    frame = pd.DataFrame(est.history_)
    assert frame["valid_map_at_r"].between(0, 1).all()
    assert frame["valid_loss"].notna().all()
    assert est.validation_scores_ == list(frame["valid_map_at_r"])


def test_class_split_is_seeded_by_random_state(blobs, fast_params):
    X, y = blobs
    params = dict(**fast_params, validation_split="classes", validation_fraction=0.2)
    a, _, valid_a = _split(X, y, **params, random_state=3)
    b, _, valid_b = _split(X, y, **params, random_state=3)
    np.testing.assert_array_equal(valid_a, valid_b)
    assert a.validation_scores_ == b.validation_scores_
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    held_out = {
        frozenset(_split(X, y, **params, random_state=seed)[2]) for seed in range(4)
    }
    assert len(held_out) > 1


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("fraction", [0.25, 0.4, 0.6])
def test_class_split_comes_close_to_validation_fraction(seed, fraction):
    """12 classes of 20 to 40 rows: the held-out rows are whole classes and
    lie within half a class of fraction x n_samples (no class left out would
    bring them closer)."""
    from sklearn_contrastive._validation import class_validation_split

    counts = np.random.default_rng(seed).integers(20, 41, size=12)
    y = np.repeat(np.arange(12), counts)
    train, valid = class_validation_split(y, fraction, seed)
    np.testing.assert_array_equal(np.sort(np.r_[train, valid]), np.arange(len(y)))
    held_out = np.unique(y[valid])
    assert len(held_out) >= 2 and len(np.unique(y[train])) >= 2
    assert np.isin(y[train], held_out).sum() == 0
    assert abs(len(valid) - fraction * len(y)) <= counts.max() / 2


def test_class_split_holds_out_two_classes_at_least(blobs):
    from sklearn_contrastive._validation import class_validation_split

    _, y = blobs
    # 1 % of 200 rows is 2: still two classes of 20 rows.
    _, valid = class_validation_split(y, 0.01, seed=0)
    assert len(np.unique(y[valid])) == 2
    # 99 %: two classes are left to train on.
    train, _ = class_validation_split(y, 0.99, seed=0)
    assert len(np.unique(y[train])) == 2


def test_class_split_leaves_single_rows_and_unlabelled_rows_to_train(
    blobs, fast_params
):
    X, y = blobs
    y = y.copy()
    y[:30] = -1
    y[30] = 99  # a class of one row: nothing to retrieve, it trains
    est, train, valid = _split(
        X,
        y,
        **fast_params,
        unlabeled_label=-1,
        validation_split="classes",
        validation_fraction=0.5,
        random_state=0,
    )
    assert (valid >= 0).all()
    assert np.count_nonzero(train < 0) == 30
    assert 99 in est.classes_[train[train >= 0]]
    assert set(est.classes_[valid]).isdisjoint(est.classes_[train[train >= 0]])


def test_stratified_split_is_the_default(blobs, fast_params):
    X, y = blobs
    assert ContrastiveEmbedder().validation_split == "stratified"
    default, train, valid = _split(X, y, **fast_params, random_state=0)
    # Every class on both sides, as before validation_split existed.
    assert set(train) == set(valid) == set(range(10))
    stratified, _, valid_s = _split(
        X, y, **fast_params, validation_split="stratified", random_state=0
    )
    np.testing.assert_array_equal(valid, valid_s)
    assert default.validation_scores_ == stratified.validation_scores_


def test_class_split_needs_four_classes(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params, early_stopping=True, validation_split="classes"
    )
    msg = (
        "early_stopping=True with validation_split='classes' holds out whole "
        "classes: at least 2 classes of 2 rows or more for validation and 2 "
        "other classes to train on; got 3 classes, 3 of them with 2 rows or "
        "more. Use validation_split='stratified', add classes, or set "
        "early_stopping=False."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        est.fit(X, y)
    assert not hasattr(est, "net_")
    # Four classes, but only one of them can be ranked among itself.
    y_singletons = np.zeros_like(y)
    y_singletons[:3] = [3, 4, 5]
    with pytest.raises(ValueError, match="got 4 classes, 1 of them with 2 rows"):
        est.fit(X, y_singletons)


def test_validation_split_must_be_a_known_value(iris, fast_params):
    X, y = iris
    msg = "validation_split must be one of ('stratified', 'classes'); got 'class'."
    with pytest.raises(ValueError, match=re.escape(msg)):
        ContrastiveEmbedder(**fast_params, validation_split="class").fit(X, y)


def test_class_split_is_refused_on_explicit_pairs(iris, fast_params):
    X, y = iris
    rng = np.random.default_rng(0)
    pairs = rng.integers(len(X), size=(400, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    similar = y[pairs[:, 0]] == y[pairs[:, 1]]
    est = ContrastiveEmbedder(
        **fast_params, early_stopping=True, validation_split="classes"
    )
    msg = (
        "validation_split='classes' holds out whole classes for early stopping, "
        "which training on explicit pairs does not have (early stopping holds "
        "out pairs there, stratified by similar). Use "
        "validation_split='stratified', or fit on class labels y."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        est.fit(X, pairs=pairs, similar=similar)
    # Without early stopping it has nothing to split, and is ignored.
    est.set_params(early_stopping=False).fit(X, pairs=pairs, similar=similar)


def test_partial_fit_ignores_the_class_split(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params, early_stopping=True, validation_split="classes"
    )
    # Three classes could not be split by class; partial_fit does not split.
    est.partial_fit(X, y)
    assert est.validation_scores_ is None


def test_validation_split_survives_clone_and_get_params():
    est = ContrastiveEmbedder(early_stopping=True, validation_split="classes")
    assert est.get_params()["validation_split"] == "classes"
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert copy.set_params(validation_split="stratified").validation_split == (
        "stratified"
    )
    assert est.validation_split == "classes"
