"""Ctrl-C during a fit, and what a fitted model carries of its training data.

skorch ends its training loop quietly on any ``KeyboardInterrupt``; the
estimator raises it again and is left as it was before the interrupted call.
The interrupts here are raised by a callback, where a Ctrl-C would land: in a
training batch, or at an epoch's boundary.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback, EarlyStopping

from sklearn_contrastive import ContrastiveEmbedder

HOOKS = ["on_batch_end", "on_epoch_begin", "on_epoch_end"]


class CtrlC(Callback):
    """Raise KeyboardInterrupt from ``hook`` in the ``epoch``-th epoch of the call."""

    def __init__(self, hook="on_batch_end", epoch=2):
        self.hook = hook
        self.epoch = epoch

    def on_train_begin(self, net, **kwargs):
        self.epochs_ = 0

    def on_epoch_begin(self, net, **kwargs):
        self.epochs_ += 1
        self._press("on_epoch_begin")

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            self._press("on_batch_end")

    def on_epoch_end(self, net, **kwargs):
        self._press("on_epoch_end")

    def _press(self, hook):
        if hook == self.hook and self.epochs_ == self.epoch:
            raise KeyboardInterrupt


def _fitted_state(est):
    """What a fit sets, with the weights and the optimizer's state as tensors."""
    state = {k: v for k, v in vars(est).items() if k.endswith("_") and k != "net_"}
    if hasattr(est, "net_"):
        state["net_"] = est.net_
        state["weights"] = {
            k: v.clone() for k, v in est.net_.module_.state_dict().items()
        }
        state["moments"] = [
            s["exp_avg"].clone() for s in est.net_.optimizer_.state.values()
        ]
    return state


def _assert_same_state(est, state):
    now = _fitted_state(est)
    assert now.keys() == state.keys()
    for key, value in state.items():
        if key == "weights":
            for name, weights in value.items():
                torch.testing.assert_close(now[key][name], weights, rtol=0, atol=0)
        elif key == "moments":
            for a, b in zip(now[key], value, strict=True):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
        elif key == "net_":
            assert now[key] is value  # the previous net itself, not a copy
        else:
            np.testing.assert_equal(now[key], value)


@pytest.mark.parametrize("hook", HOOKS)
def test_an_interrupted_first_fit_raises_and_leaves_the_estimator_unfitted(
    iris, fast_params, hook
):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, callbacks=[CtrlC(hook)], random_state=0)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.transform(X)
    assert _fitted_state(est) == {}


@pytest.mark.parametrize("warm_start", [False, True])
@pytest.mark.parametrize("hook", HOOKS)
def test_an_interrupted_refit_raises_and_keeps_the_previous_model(
    iris, fast_params, hook, warm_start
):
    """Interrupted mid-epoch or at an epoch boundary, with or without a warm
    start: the model fitted before is kept whole, and the next call gives
    what it would have given had the interrupted one never been made."""
    X, y = iris
    params = {**fast_params, "max_epochs": 3, "warm_start": warm_start}
    est = ContrastiveEmbedder(**params, random_state=0).fit(X, y)
    state, embedding = _fitted_state(est), est.transform(X)
    est.set_params(callbacks=[CtrlC(hook)])
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    _assert_same_state(est, state)
    np.testing.assert_array_equal(est.transform(X), embedding)
    assert est.n_iter_ == len(est.history_) == 3

    est.set_params(callbacks=None).fit(X, y)
    reference = ContrastiveEmbedder(**params, random_state=0).fit(X, y).fit(X, y)
    assert est.n_iter_ == reference.n_iter_ == (6 if warm_start else 3)
    np.testing.assert_array_equal(est.transform(X), reference.transform(X))


def test_an_interrupted_refit_on_other_data_keeps_what_the_model_was_fitted_on(
    iris, fast_params
):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)
    est.set_params(callbacks=[CtrlC()])
    keep = y > 0
    with pytest.raises(KeyboardInterrupt):
        est.fit(X[keep, :3], y[keep] * 10)
    assert est.n_features_in_ == 4
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    assert est.transform(X).shape == (150, 4)


@pytest.mark.parametrize("hook", HOOKS)
def test_an_interrupted_partial_fit_raises_and_keeps_the_earlier_epochs(
    iris, fast_params, hook
):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0)
    est.set_params(callbacks=[CtrlC(hook, epoch=1)])
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X, y)  # the first call: nothing to keep
    assert _fitted_state(est) == {}

    est.set_params(callbacks=None).partial_fit(X, y).partial_fit(X, y)
    state = _fitted_state(est)
    est.set_params(callbacks=[CtrlC(hook, epoch=1)])
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X, y)
    _assert_same_state(est, state)  # weights, Adam's moments, n_iter_ == 2

    est.set_params(callbacks=None).partial_fit(X, y)
    reference = ContrastiveEmbedder(**fast_params, random_state=0)
    for _ in range(3):
        reference.partial_fit(X, y)
    assert est.n_iter_ == 3
    np.testing.assert_array_equal(est.transform(X), reference.transform(X))


@pytest.mark.parametrize("hook", HOOKS)
def test_early_stopping_ends_the_fit_quietly_and_ctrl_c_still_interrupts_it(
    iris, fast_params, hook
):
    """skorch's EarlyStopping ends the loop with a KeyboardInterrupt of its
    own: that one is a planned end, any other reaches the caller."""
    X, y = iris
    est = ContrastiveEmbedder(
        **{**fast_params, "max_epochs": 50},
        early_stopping=True,
        n_iter_no_change=1,
        tol=1.0,
        random_state=0,
    )
    est.fit(X, y)  # no MAP@R improves by more than tol: the third epoch stops
    assert est.n_iter_ == 3
    state = _fitted_state(est)
    # In the stopping epoch, before early stopping's turn in on_epoch_end.
    est.set_params(callbacks=[CtrlC(hook, epoch=3)])
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    _assert_same_state(est, state)


def test_a_users_early_stopping_callback_still_ends_the_fit(iris, fast_params):
    X, y = iris
    stop = EarlyStopping(
        monitor="train_loss", patience=1, threshold=10.0, threshold_mode="abs"
    )
    est = ContrastiveEmbedder(
        **{**fast_params, "max_epochs": 10}, callbacks=[stop], random_state=0
    )
    assert est.fit(X, y).n_iter_ == 2


class _FailsAtTrainEnd(Callback):
    def on_train_end(self, net, **kwargs):
        net.history[-1, "train_loss"]  # KeyError after an unfinished epoch


def test_the_interrupt_wins_over_a_callback_that_fails_on_the_unfinished_epoch(
    iris, fast_params
):
    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params, callbacks=[CtrlC(), _FailsAtTrainEnd()], random_state=0
    )
    with pytest.raises(KeyboardInterrupt) as interrupt:
        est.fit(X, y)
    assert isinstance(interrupt.value.__context__, KeyError)


def _random_pairs(y, n_pairs, seed=0):
    pairs = np.random.default_rng(seed).integers(0, len(y), size=(n_pairs, 2))
    return pairs, y[pairs[:, 0]] == y[pairs[:, 1]]


def _loader_arrays(est):
    return [
        name
        for name, value in est.net_.get_params().items()
        if name.startswith("iterator_train__")
        and isinstance(value, np.ndarray | torch.Tensor)
    ]


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_model_fitted_on_pairs_does_not_carry_them(iris, fast_params, early_stopping):
    """The pickle of 200,000 pairs weighs what the pickle of 2,000 does (the
    same number of batches, so the same history)."""
    X, y = iris
    sizes = []
    for n_pairs in (2_000, 200_000):
        pairs, similar = _random_pairs(y, n_pairs)
        est = ContrastiveEmbedder(
            **{**fast_params, "max_epochs": 2, "batch_size": n_pairs // 4},
            early_stopping=early_stopping,
            random_state=0,
        ).fit(X, pairs=pairs, similar=similar)
        assert not hasattr(est.net_, "iterator_train__pairs")
        assert not hasattr(est.net_, "iterator_train__similar")
        assert _loader_arrays(est) == []
        sizes.append(len(pickle.dumps(est)))
    # 200,000 pairs are 3.4 MB; the rest of the model is ~20 kB.
    assert sizes[1] == pytest.approx(sizes[0], rel=0.02)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


@pytest.mark.parametrize("kind", ["labels", "partial labels", "no labels"])
def test_the_label_and_view_loaders_leave_no_arrays_in_the_model(
    iris, fast_params, kind
):
    X, y = iris
    y = {"labels": y, "partial labels": np.where(np.arange(150) % 2, y, -1)}.get(kind)
    est = ContrastiveEmbedder(**fast_params, unlabeled_label=-1, random_state=0)
    est.fit(X, y)
    assert _loader_arrays(est) == []


def test_warm_start_and_partial_fit_after_a_fit_on_pairs(iris, fast_params):
    """Every call trains on its own pairs: the dropped ones are never needed."""
    X, y = iris
    params = {**fast_params, "max_epochs": 2, "batch_size": 100}
    first, second = _random_pairs(y, 300, seed=0), _random_pairs(y, 300, seed=1)
    est = ContrastiveEmbedder(**params, warm_start=True, random_state=0)
    est.fit(X, pairs=first[0], similar=first[1])
    est.fit(X, pairs=second[0], similar=second[1])
    assert est.n_iter_ == 4
    # Not the model of a second fit on the first pairs.
    again = ContrastiveEmbedder(**params, warm_start=True, random_state=0)
    again.fit(X, pairs=first[0], similar=first[1])
    again.fit(X, pairs=first[0], similar=first[1])
    assert not np.array_equal(est.transform(X), again.transform(X))
    est.partial_fit(X, y)
    assert est.n_iter_ == 5
    assert _loader_arrays(est) == []
