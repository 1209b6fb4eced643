"""Fits in threads of one process: reproducible, and the caller's RNG untouched.

Initial weights and dropout draw from torch's process-wide generator, so
concurrent fits run their seeded part one at a time; each is then
bit-identical to the same fit run alone.
"""

import threading
import time

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from sklearn_contrastive import ContrastiveEmbedder


class YieldAfterEachStep(Callback):
    """Sleep a moment after every training step, so that fits in other
    threads run between the steps of this one (and would draw from the same
    generator if nothing kept them apart)."""

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            time.sleep(0.001)


@pytest.fixture(scope="module")
def digits():
    """400 digits: 50 steps a fit."""
    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16).astype(np.float32), y[:400]


def _params(fast_params):
    # Dropout on, so that the fits draw from torch's generator every step.
    # Batches of 16: many steps, each a chance for another thread to draw.
    return {
        **fast_params,
        "dropout": 0.3,
        "max_epochs": 2,
        "batch_size": 16,
        "n_threads": 1,
        "callbacks": [YieldAfterEachStep()],
    }


def test_fits_in_threads_match_the_serial_fits(digits, fast_params):
    X, y = digits
    seeds = [0, 0, 1, 1]
    serial = [
        ContrastiveEmbedder(**_params(fast_params), random_state=seed)
        .fit(X, y)
        .transform(X)
        for seed in seeds
    ]
    threaded = [None] * len(seeds)
    errors = []
    start = threading.Barrier(len(seeds))

    def fit(i, seed):
        try:
            est = ContrastiveEmbedder(**_params(fast_params), random_state=seed)
            start.wait(timeout=60)  # all fits at once, so their steps interleave
            threaded[i] = est.fit(X, y).transform(X)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [
        threading.Thread(target=fit, args=(i, seed)) for i, seed in enumerate(seeds)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and not any(thread.is_alive() for thread in threads)
    for expected, got in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(got, expected)
    # Seeds 0 and 1 differ, so equality above is not a constant.
    assert not np.array_equal(serial[0], serial[2])


def test_threaded_fits_leave_the_callers_generator_alone(digits, fast_params):
    X, y = digits
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    threads = [
        threading.Thread(
            target=ContrastiveEmbedder(**_params(fast_params), random_state=seed).fit,
            args=(X, y),
        )
        for seed in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_grid_search_with_the_threading_backend_is_reproducible(digits, fast_params):
    X, y = digits

    def search():
        grid = GridSearchCV(
            ContrastiveEmbedder(**_params(fast_params), random_state=0),
            {"margin": [0.5, 1.0]},
            cv=2,
            n_jobs=2,
        )
        with joblib.parallel_backend("threading"):
            grid.fit(X, y)
        return grid.cv_results_["split0_test_score"], grid.cv_results_[
            "split1_test_score"
        ]

    first, second = search(), search()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    # And equal to the same search without threads.
    grid = GridSearchCV(
        ContrastiveEmbedder(**_params(fast_params), random_state=0),
        {"margin": [0.5, 1.0]},
        cv=2,
    ).fit(X, y)
    np.testing.assert_array_equal(grid.cv_results_["split0_test_score"], first[0])
