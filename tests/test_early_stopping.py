"""Early stopping: the seeded validation split, the restored best weights, the
split's refusals and the subsampled retrieval on large validation sets."""

import numpy as np
import pandas as pd
import pytest
import torch
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
