"""Verbosity, user callbacks, learning-rate schedules, checkpoints and gradient
clipping."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback, Checkpoint, GradientNormClipping, LRScheduler

from sklearn_contrastive import ContrastiveEmbedder, _callbacks

# -- verbose


def test_verbose_levels(iris, fast_params, capsys):
    X, y = iris
    ContrastiveEmbedder(**fast_params, early_stopping=True, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""

    ContrastiveEmbedder(
        **fast_params, early_stopping=True, random_state=0, verbose=1
    ).fit(X, y)
    captured = capsys.readouterr()
    for column in ("train_loss", "valid_precision_at_1", "active_fraction"):
        assert column in captured.out
    assert captured.err == ""

    ContrastiveEmbedder(**fast_params, random_state=0, verbose=2).fit(X, y)
    captured = capsys.readouterr()
    assert "train_loss" in captured.out
    assert "epoch/s" in captured.err or "s/epoch" in captured.err  # tqdm's bar


# -- callbacks


class _RecordLr(Callback):
    def on_epoch_end(self, net, **kwargs):
        net.history.record("lr_seen", net.optimizer_.param_groups[0]["lr"])


def test_lr_scheduler_changes_the_learning_rate(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params,
        lr=0.01,
        random_state=0,
        callbacks=[
            LRScheduler(policy=torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5),
            _RecordLr(),
        ],
    ).fit(X, y)
    seen = [epoch["lr_seen"] for epoch in est.history_]
    np.testing.assert_allclose(seen, [0.01 * 0.5**k for k in range(1, 6)])


@pytest.mark.parametrize(
    "policy, kwargs",
    [("StepLR", {"step_size": 1, "gamma": 0.5}), ("CosineAnnealingLR", {"T_max": 20})],
)
def test_lr_schedules_resume_in_warm_start_fits_and_partial_fit(
    iris, fast_params, policy, kwargs
):
    X, y = iris
    callbacks = [LRScheduler(policy=policy, **kwargs), _RecordLr()]
    est = ContrastiveEmbedder(
        **fast_params, lr=0.01, warm_start=True, callbacks=callbacks, random_state=0
    )
    est.fit(X, y).fit(X, y)  # the second fit continued; it used to fail
    est.partial_fit(X, y)
    assert est.n_iter_ == 11
    if policy == "StepLR":
        # The warm-start fit's fresh optimizer is the schedule's new base
        # (lr=0.01), and the schedule steps on every epoch from there.
        seen = np.array([epoch["lr_seen"] for epoch in est.history_[5:10]])
        assert seen[0] < 0.01
        np.testing.assert_allclose(seen[1:] / seen[:-1], 0.5)


def test_checkpoint_saves_the_best_weights(iris, fast_params, tmp_path):
    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params,
        random_state=0,
        callbacks=[Checkpoint(monitor="train_loss_best", dirname=str(tmp_path))],
    ).fit(X, y)
    saved = torch.load(tmp_path / "params.pt", weights_only=True)
    best = int(np.argmin(est.loss_curve_))
    assert est.history_[best]["event_cp"] is True
    assert set(saved) == set(est.net_.module_.state_dict())


class _MaxGradNorm(Callback):
    """Record the largest gradient norm seen after clipping."""

    def on_epoch_begin(self, net, **kwargs):
        self.largest = 0.0

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            norms = [p.grad.norm() for p in net.module_.parameters()]
            self.largest = max(self.largest, torch.stack(norms).norm().item())

    def on_epoch_end(self, net, **kwargs):
        net.history.record("max_grad_norm", self.largest)


def test_gradient_norm_clipping_bounds_the_gradients(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params,
        random_state=0,
        callbacks=[GradientNormClipping(gradient_clip_value=1e-3), _MaxGradNorm()],
    ).fit(X, y)
    assert max(epoch["max_grad_norm"] for epoch in est.history_) <= 1e-3 * 1.001


_SEEN_CALLBACKS = []


class _RegisterSelf(Callback):
    def on_train_begin(self, net, **kwargs):
        _SEEN_CALLBACKS.append(self)  # kept alive, so ids stay unique


def test_grid_search_gives_each_fit_its_own_callbacks(iris, fast_params):
    X, y = iris
    _SEEN_CALLBACKS.clear()
    search = GridSearchCV(
        ContrastiveEmbedder(**fast_params, random_state=0, callbacks=[_RegisterSelf()]),
        {"margin": [0.5, 1.0]},
        cv=2,
        scoring=lambda est, X, y: 0.0,
    ).fit(X, y)
    # 2 candidates x 2 folds + the refit, each with its own copy.
    assert len({id(callback) for callback in _SEEN_CALLBACKS}) == 5
    assert search.estimator.callbacks[0] not in _SEEN_CALLBACKS
    assert search.best_estimator_.callbacks[0] is not search.estimator.callbacks[0]


@pytest.mark.parametrize(
    "callbacks, error, match",
    [
        ("print", TypeError, "callbacks must be a list of skorch callbacks"),
        ([print], TypeError, "got the item <built-in function print>"),
        ([("name", print)], TypeError, "got the item"),
        (
            [("early_stopping", _RecordLr())],
            ValueError,
            "may not use the name 'early_stopping'",
        ),
    ],
)
def test_bad_callbacks_are_refused(iris, fast_params, callbacks, error, match):
    X, y = iris
    with pytest.raises(error, match=match):
        ContrastiveEmbedder(**fast_params, callbacks=callbacks).fit(X, y)


def test_net_params_may_not_set_callbacks(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, net_params={"callbacks": [_RecordLr()]})
    with pytest.raises(ValueError, match="may not set 'callbacks'.*use callbacks"):
        est.fit(X, y)


# -- what verbose prints -------------------------------------------------------


def _verbose_fit(verbose, **params):
    X, y = load_iris(return_X_y=True)
    ContrastiveEmbedder(
        n_components=2, max_epochs=3, verbose=verbose, random_state=0, **params
    ).fit(X, y)


def test_the_epoch_table_has_no_colour_codes_outside_a_terminal(capsys, monkeypatch):
    _verbose_fit(1)
    plain = capsys.readouterr().out
    assert "train_loss" in plain and "\x1b[" not in plain
    monkeypatch.setattr(_callbacks, "_is_terminal", lambda: True)
    _verbose_fit(1)
    assert "\x1b[" in capsys.readouterr().out  # skorch's highlighting of bests


def test_verbose_2_shows_a_bar_over_the_epochs_with_loss_and_score(capsys):
    _verbose_fit(2, early_stopping=True)
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()
    last = [line for line in bar if line.strip()][-1]
    assert "3/3" in last and "epoch" in last
    assert "train_loss=" in last and "valid_map_at_r=" in last
