"""Warm start and partial_fit: continued training, its refusals and clone."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_contrastive import ContrastiveEmbedder


def test_warm_start_continues_from_the_fitted_weights(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)
    fresh_first_loss = est.loss_curve_[0]
    est.set_params(warm_start=True, max_epochs=3).fit(X, y)
    assert est.n_iter_ == 8
    assert [epoch["epoch"] for epoch in est.history_] == list(range(1, 9))
    # The continued fit starts where the first ended, far below a fresh start.
    assert est.loss_curve_[5] < 0.8 * fresh_first_loss

    # warm_start=False starts over.
    est.set_params(warm_start=False).fit(X, y)
    assert est.n_iter_ == 3


def test_warm_start_is_reproducible(iris, fast_params):
    X, y = iris
    outputs = []
    for _ in range(2):
        est = ContrastiveEmbedder(**fast_params, warm_start=True, random_state=0)
        est.fit(X, y).fit(X, y)
        outputs.append(est.transform(X))
    np.testing.assert_array_equal(*outputs)


def test_warm_start_may_change_dropout(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params, dropout=0.2, warm_start=True, random_state=0
    )
    est.fit(X, y).set_params(dropout=0.0).fit(X, y)
    assert est.n_iter_ == 2 * fast_params["max_epochs"]


def test_warm_start_refuses_a_changed_network(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, warm_start=True, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="its shape .* must not change"):
        est.set_params(n_components=3).fit(X, y)
    # The failed fit leaves the trained model in place.
    assert est.transform(X).shape == (150, 4)


def test_partial_fit_runs_one_epoch_per_call_and_keeps_the_optimizer(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0)
    for _ in range(3):
        est.partial_fit(X, y)
    assert est.n_iter_ == 3
    batches = sum(epoch["train_batch_count"] for epoch in est.history_)
    state = est.net_.optimizer_.state
    steps = {int(s["step"]) for s in state.values()}
    assert steps == {batches}  # Adam's step count ran on across the calls


def test_partial_fit_keeps_the_optimizer_options_it_was_built_with(iris, fast_params):
    """The carried-over state brings Adam's moments, not the previous
    optimizer's per-device options: a foreach set before this call stays."""
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0).partial_fit(X, y)
    est.set_params(net_params={"optimizer__foreach": True}).partial_fit(X, y)
    group = est.net_.optimizer_.param_groups[0]
    assert (group["foreach"], group["fused"]) == (True, None)
    assert {int(s["step"]) for s in est.net_.optimizer_.state.values()} == {
        sum(epoch["train_batch_count"] for epoch in est.history_)
    }


def test_a_failed_partial_fit_leaves_the_previous_model_alone(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, normalize=False, random_state=0)
    est.partial_fit(X, y)
    state = {k: v.clone() for k, v in est.net_.module_.state_dict().items()}
    moments = [s["exp_avg"].clone() for s in est.net_.optimizer_.state.values()]
    with pytest.raises(FloatingPointError):
        est.set_params(lr=1e12, margin=1e6).partial_fit(X * 1e6, y)
    assert est.n_iter_ == 1
    for name, weights in est.net_.module_.state_dict().items():
        torch.testing.assert_close(weights, state[name])
    for before, now in zip(moments, est.net_.optimizer_.state.values(), strict=True):
        torch.testing.assert_close(now["exp_avg"], before)


def test_partial_fit_accepts_new_classes(iris, fast_params):
    X, y = iris
    first, later = y < 2, y > 0
    est = ContrastiveEmbedder(**fast_params, random_state=0)
    est.partial_fit(X[first], y[first])
    np.testing.assert_array_equal(est.classes_, [0, 1])
    est.partial_fit(X[later], y[later])
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    assert est.transform(X).shape == (150, 4)


def test_partial_fit_with_string_labels_grows_classes(iris, fast_params):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = ContrastiveEmbedder(**fast_params, random_state=0)
    est.partial_fit(X[y != 2], names[y != 2]).partial_fit(X[y != 0], names[y != 0])
    assert list(est.classes_) == ["setosa", "versicolor", "virginica"]


def test_partial_fit_refuses_a_mix_of_label_types(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0).partial_fit(X, y)
    with pytest.raises(ValueError, match="Mix of label input types"):
        est.partial_fit(X, np.array(["a", "b", "c"])[y])


def test_partial_fit_needs_two_classes_per_call(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0).partial_fit(X, y)
    with pytest.raises(ValueError, match="Each partial_fit call forms pairs within"):
        est.partial_fit(X[y == 0], y[y == 0])
    assert est.n_iter_ == 1


def test_partial_fit_refuses_other_features(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0).partial_fit(X, y)
    with pytest.raises(ValueError, match="has 3 features"):
        est.partial_fit(X[:, :3], y)


def test_partial_fit_ignores_early_stopping(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, early_stopping=True, random_state=0)
    est.partial_fit(X, y)
    assert "valid_loss" not in est.history_[0]
    assert est.validation_scores_ is None


def test_clone_of_a_fitted_warm_start_estimator_starts_over(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, warm_start=True, random_state=0).fit(X, y)
    assert clone(est).fit(X, y).n_iter_ == fast_params["max_epochs"]
