"""The history_ diagnostics, their pair-statistics stride, and EpochLoss and
EpochHistory against skorch's PassthroughScoring and History."""

import numpy as np
import pandas as pd
import pytest
from skorch.callbacks import Callback, PassthroughScoring
from skorch.history import History

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive._net import EpochHistory, EpochLoss


def test_history_records_the_diagnostics_of_every_epoch(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)
    frame = pd.DataFrame(est.history_)
    assert len(frame) == est.n_iter_ == fast_params["max_epochs"]
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


def test_history_distances_match_a_direct_computation(iris, fast_params):
    """With lr tiny the weights barely move, so the epoch's mean pair distances
    equal those computed from the final embeddings over each batch's pairs.

    Batches hold all three classes of iris, so the means over batches estimate
    the means over all pairs of the data set.
    """
    X, y = iris
    est = ContrastiveEmbedder(
        **{**fast_params, "max_epochs": 1, "batch_size": 150},
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


class _RecordsStatistics(Callback):
    """Notes after each training batch whether its pair statistics exist."""

    def on_train_begin(self, net, **kwargs):
        self.recorded_ = []

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            self.recorded_.append(net.criterion_.last_pair_statistics is not None)


def test_pair_statistics_come_from_every_fourth_batch(iris, fast_params):
    X, y = iris
    params = {**fast_params, "batch_size": 16}
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


def test_epochs_shorter_than_the_stride_repeat_the_latest_statistics(iris, fast_params):
    X, y = iris
    # One batch an epoch: epochs 0, 4, 8 are sampled.
    params = {**fast_params, "max_epochs": 9, "batch_size": 150}
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


def test_the_history_indexes_as_skorchs_history(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, early_stopping=True, n_iter_no_change=50)
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

    own = ContrastiveEmbedder(**fast_params, net_params={"history": OwnHistory()})
    assert type(own.fit(X, y).net_.history) is OwnHistory
    # A continued fit keeps extending the same kind of history.
    est.set_params(warm_start=True, early_stopping=False).fit(X, y)
    assert isinstance(est.net_.history, EpochHistory)
    assert len(est.net_.history) == len(history) + fast_params["max_epochs"]


def test_a_fit_records_train_and_valid_loss_with_epoch_loss(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, early_stopping=True, n_iter_no_change=50)
    est.fit(X, y)
    callbacks = dict(est.net_.callbacks_)
    assert isinstance(callbacks["train_loss"], EpochLoss)
    assert isinstance(callbacks["valid_loss"], EpochLoss)
    frame = pd.DataFrame(est.history_)
    assert frame[["train_loss", "valid_loss"]].notna().all().all()
    assert est.loss_curve_ == list(frame["train_loss"])
