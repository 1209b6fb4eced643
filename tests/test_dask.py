"""Dask: hyper-parameter searches on a ``distributed`` cluster, and dask arrays.

The cluster is a ``LocalCluster`` of two worker processes with one thread
each, on the loopback address, started once for the module and closed at
its end; every test here runs under a time limit (SIGALRM), so a hung worker
fails the test instead of the run. The searches run through joblib's
``"dask"`` backend and must give the ``cv_results_`` of ``n_jobs=1``, bit for
bit: each fit is seeded by ``random_state`` alone and runs with one torch
thread wherever it runs (``n_threads=1``; see
``test_workers_run_torch_with_one_thread`` for the default).

Dask arrays are read as out-of-core sources (``_sources.RowSource``, kind
"dask"); ``tests/test_out_of_core.py`` runs them through every training
signal against the rows in memory.
"""

import contextlib
import signal
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from scipy.stats import uniform
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

import sklearn_contrastive
from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive._sources import RowSource

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

#: Seconds any test of this module (or the cluster's start) may take.
TIME_LIMIT = 60


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError in the main thread after ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"a Dask test ran past its {seconds} s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def bounded():
    with time_limit(TIME_LIMIT):
        yield


@pytest.fixture(scope="module")
def client():
    """Two worker processes of one thread each, on 127.0.0.1, no dashboard."""
    with time_limit(TIME_LIMIT):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        client = distributed.Client(cluster)
        client.wait_for_workers(2, timeout=TIME_LIMIT)
    try:
        yield client
    finally:
        client.close(timeout=10)
        cluster.close(timeout=10)


@pytest.fixture(scope="module")
def digits():
    """300 digits, scaled to [0, 1]: a search of 4 fits x 2 folds in seconds."""
    X, y = load_digits(return_X_y=True)
    return (X[:300] / 16).astype(np.float32), y[:300]


def _embedder(fast_params):
    return ContrastiveEmbedder(
        **{**fast_params, "max_epochs": 3}, n_threads=1, random_state=0
    )


def _results(search):
    return {
        key: search.cv_results_[key]
        for key in ("params", "rank_test_score", "mean_test_score", "std_test_score")
        + tuple(f"split{i}_test_score" for i in range(search.n_splits_))
    }


def _fit_both_ways(search, X, y):
    """``cv_results_`` and the best model's embedding, with ``n_jobs=1`` and
    on the cluster."""
    serial = search.set_params(n_jobs=1).fit(X, y)
    expected = _results(serial), serial.transform(X)
    with joblib.parallel_backend("dask"):
        on_cluster = search.set_params(n_jobs=-1).fit(X, y)
    return expected, (_results(on_cluster), on_cluster.transform(X))


def _assert_same(expected, got):
    (expected_results, expected_embedding), (results, embedding) = expected, got
    assert results["params"] == expected_results["params"]
    for key in expected_results:
        if key != "params":
            np.testing.assert_array_equal(results[key], expected_results[key])
    np.testing.assert_array_equal(embedding, expected_embedding)


def test_grid_search_on_the_cluster_matches_n_jobs_1(client, digits, fast_params):
    X, y = digits
    search = GridSearchCV(
        _embedder(fast_params), {"margin": [0.25, 0.5, 1.0, 2.0]}, cv=2
    )
    expected, got = _fit_both_ways(search, X, y)
    _assert_same(expected, got)
    # The margins give different scores, so equality above is not a constant.
    assert len(set(expected[0]["mean_test_score"])) > 1


def test_randomized_search_on_the_cluster_matches_n_jobs_1(client, digits, fast_params):
    X, y = digits
    search = RandomizedSearchCV(
        _embedder(fast_params),
        {"margin": uniform(0.1, 2.0), "lr": [1e-3, 3e-3]},
        n_iter=4,
        cv=2,
        random_state=0,
    )
    expected, got = _fit_both_ways(search, X, y)
    _assert_same(expected, got)


def _torch_threads() -> int:
    return torch.get_num_threads()


def _package_file() -> str:
    return sklearn_contrastive.__file__


class _FitThreads:
    """A scorer that reports the torch threads of the fit it scores: the
    ``threads`` that ``RecordThreads`` wrote in its history (in the worker)."""

    def __call__(self, estimator, X, y):
        return estimator.history_[-1]["threads"]


def test_workers_run_torch_with_one_thread(client, digits, fast_params):
    """The nanny starts each worker with OMP_NUM_THREADS=1 (distributed's
    ``nanny.pre-spawn-environ``), so torch takes one thread there and the
    default ``n_threads=None`` leaves it so: 2 workers x 1 thread on 2 cores."""
    from skorch.callbacks import Callback

    class RecordThreads(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.history.record("threads", torch.get_num_threads())

    assert set(client.run(_torch_threads).values()) == {1}
    # The workers (spawned with this process's sys.path) test this checkout.
    assert set(client.run(_package_file).values()) == {sklearn_contrastive.__file__}
    X, y = digits
    search = GridSearchCV(
        ContrastiveEmbedder(**fast_params, callbacks=[RecordThreads()]),
        {"margin": [0.5, 1.0]},
        cv=2,
        scoring=_FitThreads(),
        refit=False,
        n_jobs=-1,
    )
    with joblib.parallel_backend("dask"):
        search.fit(X, y)
    assert set(search.cv_results_["mean_test_score"]) == {1.0}
    assert set(client.run(_torch_threads).values()) == {1}


# -- dask arrays, no cluster ---------------------------------------------------


class CountingScheduler:
    """A dask scheduler (``dask.config.set(scheduler=...)``) that counts the
    graphs it computes."""

    def __init__(self):
        self.calls = 0

    def __call__(self, *args, **kwargs):
        import dask

        self.calls += 1
        return dask.get(*args, **kwargs)


def test_a_batch_is_one_compute_of_its_rows():
    """Rows scattered over 10 chunks, in runs: one graph for the batch (a
    slice per run would be 40), rows in the order asked, float32."""
    import dask

    X = np.arange(4000, dtype=np.float64).reshape(1000, 4)
    source = RowSource(da.from_array(X, chunks=(100, 4)))
    rows = np.r_[0:400:10, 5, 5, 999][::-1]
    scheduler = CountingScheduler()
    with dask.config.set(scheduler=scheduler):
        batch = source[rows]
    assert scheduler.calls == 1
    np.testing.assert_array_equal(batch, X[rows])
    assert batch.dtype == np.float32 and batch.flags.writeable


def test_fit_on_a_lazily_generated_dask_array(fast_params):
    """A dask array that exists only as a graph (random blocks, scaled):
    each read computes the chunks its rows fall in, and the fit is the fit
    on the computed rows."""
    lazy = da.random.default_rng(0).standard_normal((600, 10), chunks=(64, 10))
    lazy = (lazy * 2).astype(np.float32)
    X = lazy.compute()
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0)
    params = {**fast_params, "max_epochs": 2, "random_state": 0}
    in_memory = ContrastiveEmbedder(**params).fit(X, y)
    from_dask = ContrastiveEmbedder(**params).fit(lazy, y)
    np.testing.assert_array_equal(from_dask.transform(lazy), in_memory.transform(X))


def test_the_package_does_not_import_dask():
    code = (
        "import sys, sklearn_contrastive; "
        "assert 'dask' not in sys.modules and 'distributed' not in sys.modules"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        timeout=TIME_LIMIT,
        cwd=Path(__file__).parents[1],
    )
