"""Threads and devices: n_threads, CUDA placement and pickles across devices."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback, LRScheduler
from torch import nn

from sklearn_contrastive import ContrastiveEmbedder


def requires_cuda(test):
    """Mark a test as a CUDA one (``-m cuda``) and skip it without a GPU."""
    skip = pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA device"
    )
    return pytest.mark.cuda(skip(test))


# -- threads


class _RecordThreads(Callback):
    def on_epoch_end(self, net, **kwargs):
        net.history.record("threads", torch.get_num_threads())


def test_n_threads_applies_during_fit_and_is_restored(iris, fast_params):
    X, y = iris
    before = torch.get_num_threads()
    est = ContrastiveEmbedder(
        **fast_params, n_threads=1, random_state=0, callbacks=[_RecordThreads()]
    ).fit(X, y)
    assert {epoch["threads"] for epoch in est.history_} == {1}
    assert torch.get_num_threads() == before
    est.transform(X)
    assert torch.get_num_threads() == before


def _threads_in_worker(estimator, X, y):
    return torch.get_num_threads()


def test_grid_search_workers_do_not_oversubscribe(iris, fast_params):
    """joblib's loky workers get cores // n_jobs threads, and torch obeys."""
    import os

    X, y = iris
    search = GridSearchCV(
        ContrastiveEmbedder(**fast_params, random_state=0),
        {"margin": [0.5, 1.0]},
        cv=2,
        n_jobs=2,
        scoring=_threads_in_worker,
    ).fit(X, y)
    expected = max(1, (os.cpu_count() or 1) // 2)
    assert set(search.cv_results_["mean_test_score"]) == {expected}


# -- devices


def _unpickle_without_cuda(payload):
    """Unpickle as a machine without CUDA does, its warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(torch.cuda, "is_available", lambda: False)
            return pickle.loads(payload)


def test_a_gpu_pickled_model_loads_on_a_machine_without_one(iris, fast_params):
    """Every tensor of the pickle is tagged as a CUDA one, as on a GPU machine.

    torch records each storage's device with ``location_tag`` when pickling;
    tagging them all "cuda:0" reproduces the file a GPU fit writes, and
    unpickling it with CUDA unavailable must land the model on the CPU, with
    no flag. Early stopping and a scheduler put tensors in the callbacks too.
    """
    import torch.serialization

    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params,
        early_stopping=True,
        callbacks=[LRScheduler(policy=torch.optim.lr_scheduler.StepLR, step_size=1)],
        random_state=0,
    ).fit(X, y)
    expected = est.transform(X)
    est.net_.device = "cuda"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        payload = pickle.dumps(est)
    loaded = _unpickle_without_cuda(payload)
    assert str(loaded.net_.device) == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), expected)


def test_the_pickled_model_does_not_carry_the_validation_rows(fast_params):
    X = np.random.default_rng(0).normal(size=(4000, 20))
    y = np.arange(4000) % 4
    sizes = [
        len(
            pickle.dumps(
                ContrastiveEmbedder(
                    **{**fast_params, "max_epochs": 1},
                    early_stopping=stop,
                    random_state=0,
                ).fit(X, y)
            )
        )
        for stop in (False, True)
    ]
    # 400 validation rows x 20 float32 features would add 32 kB.
    assert sizes[1] < sizes[0] + 8_000


def test_a_cuda_index_beyond_the_devices_is_refused(iris, fast_params, monkeypatch):
    X, y = iris
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match="torch sees 2 CUDA device"):
        ContrastiveEmbedder(**fast_params, device="cuda:2").fit(X, y)


@requires_cuda
def test_a_module_instance_already_on_cuda_is_accepted(iris, fast_params):
    X, y = iris
    module = nn.Linear(4, 3).cuda()
    est = ContrastiveEmbedder(
        **fast_params, module=module, device="cuda", random_state=0
    )
    assert est.fit(X, y).transform(X).shape == (150, 3)


@requires_cuda
def test_fit_on_cuda_transform_and_load_on_cpu(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, device="cuda", random_state=0).fit(X, y)
    assert next(est.net_.module_.parameters()).is_cuda
    Z = est.transform(X)
    assert isinstance(Z, np.ndarray) and Z.dtype == np.float32
    payload = pickle.dumps(est)
    loaded = _unpickle_without_cuda(payload)
    assert not next(loaded.net_.module_.parameters()).is_cuda
    np.testing.assert_allclose(loaded.transform(X), Z, atol=1e-5)


@requires_cuda
def test_cuda_fit_is_reproducible_and_leaves_global_rngs_alone(iris, fast_params):
    X, y = iris
    cuda_state = torch.cuda.get_rng_state()
    a = ContrastiveEmbedder(**fast_params, device="cuda", random_state=0).fit_transform(
        X, y
    )
    b = ContrastiveEmbedder(**fast_params, device="cuda", random_state=0).fit_transform(
        X, y
    )
    np.testing.assert_array_equal(a, b)
    assert torch.equal(torch.cuda.get_rng_state(), cuda_state)
