"""Training control: history, early stopping, verbosity, callbacks, warm start,
partial_fit, threads, devices and the convergence warnings."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import (
    Callback,
    Checkpoint,
    GradientNormClipping,
    LRScheduler,
    PassthroughScoring,
)
from skorch.history import History
from torch import nn

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive._callbacks import EpochLoss
from sklearn_contrastive._training import EpochHistory

FAST = dict(n_components=4, hidden_layer_sizes=(16,), max_epochs=5, batch_size=32)


def requires_cuda(test):
    """Mark a test as a CUDA one (``-m cuda``) and skip it without a GPU."""
    skip = pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA device"
    )
    return pytest.mark.cuda(skip(test))


# -- history_


def test_history_records_the_diagnostics_of_every_epoch(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, random_state=0).fit(X, y)
    frame = pd.DataFrame(est.history_)
    assert len(frame) == est.n_iter_ == FAST["max_epochs"]
    for column in (
        "epoch",
        "train_loss",
        "similar_distance",
        "dissimilar_distance",
        "active_fraction",
        "dur",
    ):
        assert frame[column].notna().all(), column
    assert "batches" not in frame
    assert "valid_loss" not in frame and "valid_precision_at_1" not in frame
    assert (frame["active_fraction"].between(0, 1)).all()
    assert (frame["dur"] > 0).all()
    # Training separates the classes: similar pairs end closer than dissimilar.
    last = frame.iloc[-1]
    assert last["similar_distance"] < last["dissimilar_distance"]
    assert est.loss_curve_ == list(frame["train_loss"])
    assert est.validation_scores_ is None and est.best_validation_score_ is None


def test_history_distances_match_a_direct_computation(iris):
    """With lr tiny the weights barely move, so the epoch's mean pair distances
    equal those computed from the final embeddings over each batch's pairs.

    Batches hold all three classes of iris, so the means over batches estimate
    the means over all pairs of the data set.
    """
    X, y = iris
    est = ContrastiveEmbedder(
        **{**FAST, "max_epochs": 1, "batch_size": 150},
        dropout=0.0,
        lr=1e-12,
        random_state=0,
    ).fit(X, y)
    Z = est.transform(X)
    distances = np.linalg.norm(Z[:, None] - Z[None], axis=-1)
    upper = np.triu(np.ones_like(distances, dtype=bool), k=1)
    same = y[:, None] == y[None]
    record = est.history_[0]
    np.testing.assert_allclose(
        record["similar_distance"], distances[upper & same].mean(), rtol=1e-4
    )
    np.testing.assert_allclose(
        record["dissimilar_distance"], distances[upper & ~same].mean(), rtol=1e-4
    )
    np.testing.assert_allclose(
        record["active_fraction"], (distances[upper & ~same] < 1.0).mean(), rtol=1e-4
    )


# -- early stopping


def test_early_stopping_stops_and_restores_the_best_weights(iris):
    X, y = iris
    est = ContrastiveEmbedder(
        **{**FAST, "max_epochs": 200},
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


def test_user_callbacks_see_the_epoch_that_stops_the_fit(iris):
    X, y = iris
    est = ContrastiveEmbedder(
        **{**FAST, "max_epochs": 200},
        early_stopping=True,
        n_iter_no_change=1,
        random_state=0,
        callbacks=[("count", _CountEpochEnds())],
    ).fit(X, y)
    assert est.n_iter_ < 200
    assert dict(est.net_.callbacks_)["count"].count == est.n_iter_


def test_early_stopping_split_is_seeded_by_random_state(iris):
    X, y = iris
    params = dict(**FAST, early_stopping=True, random_state=3)
    a = ContrastiveEmbedder(**params).fit(X, y)
    b = ContrastiveEmbedder(**params).fit(X, y)
    assert a.validation_scores_ == b.validation_scores_
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_early_stopping_trains_on_the_rest(iris):
    X, y = iris
    est = ContrastiveEmbedder(
        **{**FAST, "batch_size": 200},
        early_stopping=True,
        validation_fraction=0.2,
        random_state=0,
    ).fit(X, y)
    # 120 training rows of 3 balanced classes: one batch of 3 x 40 per epoch.
    assert est.history_[0]["train_batch_count"] == 1
    assert est.history_[0]["valid_batch_count"] == 1


def test_early_stopping_needs_a_row_of_each_class_on_each_side(iris):
    X, y = iris
    with pytest.raises(ValueError, match="validation_fraction=0.01 of the rows"):
        ContrastiveEmbedder(**FAST, early_stopping=True, validation_fraction=0.01).fit(
            X, y
        )
    y_one_row_class = y.copy()
    y_one_row_class[0] = 7
    with pytest.raises(ValueError, match="the smallest with 1 rows"):
        ContrastiveEmbedder(**FAST, early_stopping=True).fit(X, y_one_row_class)


def test_early_stopping_needs_a_class_twice_among_validation_rows():
    X = np.random.default_rng(0).normal(size=(200, 4))
    y = np.arange(200) % 10
    est = ContrastiveEmbedder(**FAST, early_stopping=True, validation_fraction=0.05)
    with pytest.raises(ValueError, match="needs two rows of some class there"):
        est.fit(X, y)
    assert not hasattr(est, "net_")


def test_early_stopping_refuses_a_user_train_split(iris):
    from skorch.dataset import ValidSplit

    X, y = iris
    est = ContrastiveEmbedder(
        **FAST, early_stopping=True, net_params={"train_split": ValidSplit(0.2)}
    )
    with pytest.raises(ValueError, match="may not set 'train_split' with early"):
        est.fit(X, y)


# -- verbose


def test_verbose_levels(iris, capsys):
    X, y = iris
    ContrastiveEmbedder(**FAST, early_stopping=True, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""

    ContrastiveEmbedder(**FAST, early_stopping=True, random_state=0, verbose=1).fit(
        X, y
    )
    captured = capsys.readouterr()
    for column in ("train_loss", "valid_precision_at_1", "active_fraction"):
        assert column in captured.out
    assert captured.err == ""

    ContrastiveEmbedder(**FAST, random_state=0, verbose=2).fit(X, y)
    captured = capsys.readouterr()
    assert "train_loss" in captured.out
    assert "it/s" in captured.err or "s/it" in captured.err  # tqdm's bar


# -- callbacks


class _RecordLr(Callback):
    def on_epoch_end(self, net, **kwargs):
        net.history.record("lr_seen", net.optimizer_.param_groups[0]["lr"])


def test_lr_scheduler_changes_the_learning_rate(iris):
    X, y = iris
    est = ContrastiveEmbedder(
        **FAST,
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
def test_lr_schedules_resume_in_warm_start_fits_and_partial_fit(iris, policy, kwargs):
    X, y = iris
    callbacks = [LRScheduler(policy=policy, **kwargs), _RecordLr()]
    est = ContrastiveEmbedder(
        **FAST, lr=0.01, warm_start=True, callbacks=callbacks, random_state=0
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


def test_checkpoint_saves_the_best_weights(iris, tmp_path):
    X, y = iris
    est = ContrastiveEmbedder(
        **FAST,
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


def test_gradient_norm_clipping_bounds_the_gradients(iris):
    X, y = iris
    est = ContrastiveEmbedder(
        **FAST,
        random_state=0,
        callbacks=[GradientNormClipping(gradient_clip_value=1e-3), _MaxGradNorm()],
    ).fit(X, y)
    assert max(epoch["max_grad_norm"] for epoch in est.history_) <= 1e-3 * 1.001


_SEEN_CALLBACKS = []


class _RegisterSelf(Callback):
    def on_train_begin(self, net, **kwargs):
        _SEEN_CALLBACKS.append(self)  # kept alive, so ids stay unique


def test_grid_search_gives_each_fit_its_own_callbacks(iris):
    X, y = iris
    _SEEN_CALLBACKS.clear()
    search = GridSearchCV(
        ContrastiveEmbedder(**FAST, random_state=0, callbacks=[_RegisterSelf()]),
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
def test_bad_callbacks_are_refused(iris, callbacks, error, match):
    X, y = iris
    with pytest.raises(error, match=match):
        ContrastiveEmbedder(**FAST, callbacks=callbacks).fit(X, y)


def test_net_params_may_not_set_callbacks(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, net_params={"callbacks": [_RecordLr()]})
    with pytest.raises(ValueError, match="may not set 'callbacks'.*use callbacks"):
        est.fit(X, y)


# -- warm start and partial_fit


def test_warm_start_continues_from_the_fitted_weights(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, random_state=0).fit(X, y)
    fresh_first_loss = est.loss_curve_[0]
    est.set_params(warm_start=True, max_epochs=3).fit(X, y)
    assert est.n_iter_ == 8
    assert [epoch["epoch"] for epoch in est.history_] == list(range(1, 9))
    # The continued fit starts where the first ended, far below a fresh start.
    assert est.loss_curve_[5] < 0.8 * fresh_first_loss

    # warm_start=False starts over.
    est.set_params(warm_start=False).fit(X, y)
    assert est.n_iter_ == 3


def test_warm_start_is_reproducible(iris):
    X, y = iris
    outputs = []
    for _ in range(2):
        est = ContrastiveEmbedder(**FAST, warm_start=True, random_state=0)
        est.fit(X, y).fit(X, y)
        outputs.append(est.transform(X))
    np.testing.assert_array_equal(*outputs)


def test_warm_start_may_change_dropout(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, dropout=0.2, warm_start=True, random_state=0)
    est.fit(X, y).set_params(dropout=0.0).fit(X, y)
    assert est.n_iter_ == 2 * FAST["max_epochs"]


def test_warm_start_refuses_a_changed_network(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, warm_start=True, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="its shape .* must not change"):
        est.set_params(n_components=3).fit(X, y)
    # The failed fit leaves the trained model in place.
    assert est.transform(X).shape == (150, 4)


def test_partial_fit_runs_one_epoch_per_call_and_keeps_the_optimizer(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, random_state=0)
    for _ in range(3):
        est.partial_fit(X, y)
    assert est.n_iter_ == 3
    batches = sum(epoch["train_batch_count"] for epoch in est.history_)
    state = est.net_.optimizer_.state
    steps = {int(s["step"]) for s in state.values()}
    assert steps == {batches}  # Adam's step count ran on across the calls


def test_a_failed_partial_fit_leaves_the_previous_model_alone(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, normalize=False, random_state=0)
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


def test_partial_fit_accepts_new_classes(iris):
    X, y = iris
    first, later = y < 2, y > 0
    est = ContrastiveEmbedder(**FAST, random_state=0)
    est.partial_fit(X[first], y[first])
    np.testing.assert_array_equal(est.classes_, [0, 1])
    est.partial_fit(X[later], y[later])
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    assert est.transform(X).shape == (150, 4)


def test_partial_fit_with_string_labels_grows_classes(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = ContrastiveEmbedder(**FAST, random_state=0)
    est.partial_fit(X[y != 2], names[y != 2]).partial_fit(X[y != 0], names[y != 0])
    assert list(est.classes_) == ["setosa", "versicolor", "virginica"]


def test_partial_fit_refuses_a_mix_of_label_types(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, random_state=0).partial_fit(X, y)
    with pytest.raises(ValueError, match="Mix of label input types"):
        est.partial_fit(X, np.array(["a", "b", "c"])[y])


def test_partial_fit_needs_two_classes_per_call(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, random_state=0).partial_fit(X, y)
    with pytest.raises(ValueError, match="Each partial_fit call forms pairs within"):
        est.partial_fit(X[y == 0], y[y == 0])
    assert est.n_iter_ == 1


def test_partial_fit_refuses_other_features(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, random_state=0).partial_fit(X, y)
    with pytest.raises(ValueError, match="has 3 features"):
        est.partial_fit(X[:, :3], y)


def test_partial_fit_ignores_early_stopping(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, early_stopping=True, random_state=0)
    est.partial_fit(X, y)
    assert "valid_loss" not in est.history_[0]
    assert est.validation_scores_ is None


# -- threads


class _RecordThreads(Callback):
    def on_epoch_end(self, net, **kwargs):
        net.history.record("threads", torch.get_num_threads())


def test_n_threads_applies_during_fit_and_is_restored(iris):
    X, y = iris
    before = torch.get_num_threads()
    est = ContrastiveEmbedder(
        **FAST, n_threads=1, random_state=0, callbacks=[_RecordThreads()]
    ).fit(X, y)
    assert {epoch["threads"] for epoch in est.history_} == {1}
    assert torch.get_num_threads() == before
    est.transform(X)
    assert torch.get_num_threads() == before


def _threads_in_worker(estimator, X, y):
    return torch.get_num_threads()


def test_grid_search_workers_do_not_oversubscribe(iris):
    """joblib's loky workers get cores // n_jobs threads, and torch obeys."""
    import os

    X, y = iris
    search = GridSearchCV(
        ContrastiveEmbedder(**FAST, random_state=0),
        {"margin": [0.5, 1.0]},
        cv=2,
        n_jobs=2,
        scoring=_threads_in_worker,
    ).fit(X, y)
    expected = max(1, (os.cpu_count() or 1) // 2)
    assert set(search.cv_results_["mean_test_score"]) == {expected}


# -- devices


def test_a_gpu_pickled_model_loads_on_a_machine_without_one(iris):
    """Every tensor of the pickle is tagged as a CUDA one, as on a GPU machine.

    torch records each storage's device with ``location_tag`` when pickling;
    tagging them all "cuda:0" reproduces the file a GPU fit writes, and
    unpickling it with CUDA unavailable must land the model on the CPU, with
    no flag. Early stopping and a scheduler put tensors in the callbacks too.
    """
    import torch.serialization

    X, y = iris
    est = ContrastiveEmbedder(
        **FAST,
        early_stopping=True,
        callbacks=[LRScheduler(policy=torch.optim.lr_scheduler.StepLR, step_size=1)],
        random_state=0,
    ).fit(X, y)
    expected = est.transform(X)
    est.net_.device = "cuda"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        payload = pickle.dumps(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(torch.cuda, "is_available", lambda: False)
            loaded = pickle.loads(payload)
    assert str(loaded.net_.device) == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), expected)


def test_the_pickled_model_does_not_carry_the_validation_rows():
    X = np.random.default_rng(0).normal(size=(4000, 20))
    y = np.arange(4000) % 4
    sizes = [
        len(
            pickle.dumps(
                ContrastiveEmbedder(
                    **{**FAST, "max_epochs": 1}, early_stopping=stop, random_state=0
                ).fit(X, y)
            )
        )
        for stop in (False, True)
    ]
    # 400 validation rows x 20 float32 features would add 32 kB.
    assert sizes[1] < sizes[0] + 8_000


def test_a_cuda_index_beyond_the_devices_is_refused(iris, monkeypatch):
    X, y = iris
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match="torch sees 2 CUDA device"):
        ContrastiveEmbedder(**FAST, device="cuda:2").fit(X, y)


@requires_cuda
def test_a_module_instance_already_on_cuda_is_accepted(iris):
    X, y = iris
    module = nn.Linear(4, 3).cuda()
    est = ContrastiveEmbedder(**FAST, module=module, device="cuda", random_state=0)
    assert est.fit(X, y).transform(X).shape == (150, 3)


@requires_cuda
def test_fit_on_cuda_transform_and_load_on_cpu(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, device="cuda", random_state=0).fit(X, y)
    assert next(est.net_.module_.parameters()).is_cuda
    Z = est.transform(X)
    assert isinstance(Z, np.ndarray) and Z.dtype == np.float32
    payload = pickle.dumps(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(torch.cuda, "is_available", lambda: False)
            loaded = pickle.loads(payload)
    assert not next(loaded.net_.module_.parameters()).is_cuda
    np.testing.assert_allclose(loaded.transform(X), Z, atol=1e-5)


@requires_cuda
def test_cuda_fit_is_reproducible_and_leaves_global_rngs_alone(iris):
    X, y = iris
    cuda_state = torch.cuda.get_rng_state()
    a = ContrastiveEmbedder(**FAST, device="cuda", random_state=0).fit_transform(X, y)
    b = ContrastiveEmbedder(**FAST, device="cuda", random_state=0).fit_transform(X, y)
    np.testing.assert_array_equal(a, b)
    assert torch.equal(torch.cuda.get_rng_state(), cuda_state)


# -- pair mining


class _RecordClassCounts(Callback):
    def on_train_begin(self, net, **kwargs):
        self.counts = []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.counts.append(torch.bincount(batch[1]).tolist())


@pytest.mark.parametrize("pair_mining", ["all", "hard"])
def test_pair_mining_learns_and_samples_per_class_shapes_batches(iris, pair_mining):
    X, y = iris
    recorder = _RecordClassCounts()
    est = ContrastiveEmbedder(
        n_components=4,
        hidden_layer_sizes=(32,),
        max_epochs=20,
        batch_size=16,
        pair_mining=pair_mining,
        samples_per_class=8,
        random_state=0,
        callbacks=[("classes", recorder)],
    ).fit(X, y)
    counts = dict(est.net_.callbacks_)["classes"].counts
    assert all(sorted(c for c in batch if c) == [8, 8] for batch in counts)
    assert est.net_.criterion_.pair_mining == pair_mining
    Z = est.transform(X)
    from sklearn.neighbors import KNeighborsClassifier

    assert KNeighborsClassifier(5).fit(Z, y).score(Z, y) > 0.9


# -- convergence warnings


class _Collapsed(nn.Module):
    """Every row maps to the origin, whatever the weights."""

    def __init__(self, n_features_in):
        super().__init__()
        self.linear = nn.Linear(n_features_in, 2)

    def forward(self, X):
        return 0.0 * self.linear(X)


def test_collapsed_embeddings_warn_with_advice(iris):
    X, y = iris
    est = ContrastiveEmbedder(**{**FAST, "n_components": 2}, module=_Collapsed)
    with pytest.warns(ConvergenceWarning, match="collapsed to a point.*similar_weight"):
        est.set_params(normalize=False).fit(X, y)


def test_margin_below_every_distance_warns_with_advice(iris):
    X, y = iris
    est = ContrastiveEmbedder(
        **{**FAST, "max_epochs": 2}, normalize=False, margin=1e-6, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="No dissimilar pair came within"):
        est.fit(X * 100, y)


def test_a_healthy_fit_does_not_warn(iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ContrastiveEmbedder(**FAST, random_state=0).fit(X, y)


def test_clone_of_a_fitted_warm_start_estimator_starts_over(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, warm_start=True, random_state=0).fit(X, y)
    assert clone(est).fit(X, y).n_iter_ == FAST["max_epochs"]


def test_large_validation_sets_are_subsampled_for_retrieval():
    """MAP@R costs n_valid x R neighbours per epoch: above 2,000 validation
    rows a stratified sample is ranked; smaller sets are ranked whole."""
    from sklearn_contrastive._training import MAX_RETRIEVAL_ROWS, retrieval_subset

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


class _RecordsStatistics(Callback):
    """Notes after each training batch whether its pair statistics exist."""

    def on_train_begin(self, net, **kwargs):
        self.recorded_ = []

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            self.recorded_.append(net.criterion_.last_pair_statistics is not None)


def test_pair_statistics_come_from_every_fourth_batch(iris):
    X, y = iris
    params = {**FAST, "batch_size": 16}
    est = ContrastiveEmbedder(**params, callbacks=[("probe", _RecordsStatistics())])
    est.fit(X, y)
    recorded = dict(est.net_.callbacks_)["probe"].recorded_
    n_batches = sum(epoch["train_batch_count"] for epoch in est.history_)
    assert est.history_[0]["train_batch_count"] > 4
    # Counted over the fit, not restarted each epoch.
    assert recorded == [i % 4 == 0 for i in range(n_batches)]
    # The epoch means come from those batches, and the criterion is left on.
    assert np.isfinite(est.history_[-1]["similar_distance"])
    assert est.net_.criterion_.record_statistics


def test_epochs_shorter_than_the_stride_repeat_the_latest_statistics(iris):
    X, y = iris
    # One batch an epoch: epochs 0, 4, 8 are sampled.
    params = {**FAST, "max_epochs": 9, "batch_size": 150}
    est = ContrastiveEmbedder(**params, random_state=0).fit(X, y)
    assert [epoch["train_batch_count"] for epoch in est.history_] == [1] * 9
    frame = pd.DataFrame(est.history_)
    for column in ("similar_distance", "dissimilar_distance", "active_fraction"):
        values = frame[column].to_numpy()
        assert np.isfinite(values).all()
        np.testing.assert_array_equal(values, np.repeat(values[[0, 4, 8]], [4, 4, 1]))
    # Fresh samples, not one value carried through the fit.
    assert len(set(frame["similar_distance"][[0, 4, 8]])) == 3


def test_epoch_loss_records_what_skorchs_passthrough_scoring_does():
    class _Net:  # what the callbacks read
        history = None

    rng = np.random.default_rng(0)
    recorded = []
    for callback_type in (PassthroughScoring, EpochLoss):
        net = _Net()
        net.history = History()
        callbacks = [
            callback_type(name="train_loss", on_train=True).initialize(),
            callback_type(name="valid_loss").initialize(),
        ]
        rng = np.random.default_rng(0)
        for _ in range(6):
            net.history.new_epoch()
            for prefix, n_batches in (("train", 5), ("valid", 2)):
                for _ in range(n_batches):
                    net.history.new_batch()
                    net.history.record_batch(f"{prefix}_loss", rng.random())
                    net.history.record_batch(f"{prefix}_batch_size", rng.integers(1, 9))
            for callback in callbacks:
                callback.on_epoch_end(net)
        recorded.append(net.history)
    skorch_history, ours = recorded
    for key in ("train_loss", "valid_loss"):
        np.testing.assert_allclose(ours[:, key], skorch_history[:, key], rtol=1e-12)
        assert ours[:, key + "_best"] == skorch_history[:, key + "_best"]
    assert any(skorch_history[:, "valid_loss_best"][1:])  # the flags were tested


def test_the_history_indexes_as_skorchs_history(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, early_stopping=True, n_iter_no_change=50)
    history = est.fit(X, y).net_.history
    assert isinstance(history, EpochHistory)
    skorch_history = History(list(history))
    for index in [
        0,
        -1,
        2,
        slice(1, 3),
        (-1, "batches"),
        (-1, "batches", -1),
        (slice(None), "train_loss"),
        (slice(None), ("train_loss", "valid_loss")),
        (-1, "batches", slice(None), "train_loss"),
    ]:
        assert history[index] == skorch_history[index]
    # The epoch itself, not a copy: record() writes through it.
    assert history[-1] is skorch_history[-1]
    history.record("extra", 1.5)
    assert skorch_history[-1, "extra"] == 1.5
    for bad_index, error in [(len(history), IndexError), ((-1, "nope"), KeyError)]:
        with pytest.raises(error):
            skorch_history[bad_index]
        with pytest.raises(error):
            history[bad_index]

    # A history handed over through net_params is kept, as skorch keeps it.
    class OwnHistory(History):
        pass

    own = ContrastiveEmbedder(**FAST, net_params={"history": OwnHistory()})
    assert type(own.fit(X, y).net_.history) is OwnHistory
    # A continued fit keeps extending the same kind of history.
    est.set_params(warm_start=True, early_stopping=False).fit(X, y)
    assert isinstance(est.net_.history, EpochHistory)
    assert len(est.net_.history) == len(history) + FAST["max_epochs"]


def test_a_fit_records_train_and_valid_loss_with_epoch_loss(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, early_stopping=True, n_iter_no_change=50)
    est.fit(X, y)
    callbacks = dict(est.net_.callbacks_)
    assert isinstance(callbacks["train_loss"], EpochLoss)
    assert isinstance(callbacks["valid_loss"], EpochLoss)
    frame = pd.DataFrame(est.history_)
    assert frame[["train_loss", "valid_loss"]].notna().all().all()
    assert est.loss_curve_ == list(frame["train_loss"])


class _ListensToGradients(Callback):
    """Counts ``on_grad_computed``: its presence makes skorch's closure step run."""

    def on_train_begin(self, net, **kwargs):
        self.calls_ = 0

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.calls_ += 1


class _StrictClosureAdam(torch.optim.Adam):
    """An Adam that, like LBFGS or SAM, cannot step without the closure."""

    def step(self, closure=None):
        if closure is None:
            raise RuntimeError("this optimizer needs the closure")
        return super().step(closure)


def test_the_plain_step_does_the_arithmetic_of_skorchs_step(iris):
    X, y = iris
    plain = ContrastiveEmbedder(**FAST, random_state=0).fit(X, y)
    listener = _ListensToGradients()
    general = ContrastiveEmbedder(
        **FAST, random_state=0, callbacks=[("grads", listener)]
    ).fit(X, y)
    assert plain.net_.plain_step_ and not general.net_.plain_step_
    np.testing.assert_array_equal(plain.transform(X), general.transform(X))
    steps = sum(epoch["train_batch_count"] for epoch in general.history_)
    assert dict(general.net_.callbacks_)["grads"].calls_ == steps


def test_an_optimizer_of_the_user_steps_with_the_closure(iris):
    X, y = iris
    est = ContrastiveEmbedder(**FAST, optimizer=_StrictClosureAdam, random_state=0)
    est.fit(X, y)
    assert not est.net_.plain_step_
    reference = ContrastiveEmbedder(**FAST, optimizer="adam", random_state=0)
    np.testing.assert_array_equal(est.transform(X), reference.fit(X, y).transform(X))


class _RecordsMode(nn.Module):
    """An MLP that notes whether each forward pass ran in training mode."""

    def __init__(self, n_features_in, n_components):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features_in, 16), nn.Dropout(0.1), nn.Linear(16, n_components)
        )
        self.modes = []

    def forward(self, X):
        self.modes.append(self.training)
        return self.layers(X)


class _EvalAfterEachBatch(Callback):
    def on_batch_end(self, net, **kwargs):
        net.module_.eval()


def test_a_module_instance_in_eval_mode_trains_in_training_mode(iris):
    X, y = iris
    # normalize=True wraps the instance, so the wrapper's own flag says
    # training while the instance (and its dropout) would stay in eval mode.
    module = _RecordsMode(X.shape[1], 4).eval()
    est = ContrastiveEmbedder(**FAST, module=module, normalize=True).fit(X, y)
    steps = sum(epoch["train_batch_count"] for epoch in est.history_)
    trained = est.net_.module_[0]
    assert trained.modes[1 : steps + 1] == [True] * steps
    assert not trained.layers[1].training  # transform's eval mode afterwards


def test_training_mode_is_restored_after_a_callback_leaves_eval_mode(iris):
    X, y = iris
    est = ContrastiveEmbedder(
        **FAST, module=_RecordsMode, normalize=False, callbacks=[_EvalAfterEachBatch()]
    ).fit(X, y)
    steps = sum(epoch["train_batch_count"] for epoch in est.history_)
    # The first forward pass is the width probe, in eval mode.
    modes = est.net_.module_.modes[1:]
    assert modes[:steps] == [True] * steps
