"""Threads and GridSearchCV(n_jobs=...): does a search oversubscribe the cores?

Times one and the same grid search (digits, 4 margins x 2 folds plus the
refit) four ways, in one process, alternating, and reports medians:

* ``n_jobs=1``: one process, torch with its default threads (all cores);
* ``n_jobs=2``: joblib's loky workers, which joblib limits to
  ``cores // n_jobs`` threads each (what users get by default);
* ``n_jobs=2, 2 threads/worker``: the oversubscribed case, forced with
  ``joblib.parallel_config(inner_max_num_threads=2)``;
* ``n_jobs=2, n_threads=2``: the estimator's own ``n_threads`` overriding
  joblib's limit inside the workers (also oversubscribed).

    python benchmarks/bench_threads.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import joblib
import torch
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).parent))
import _harness  # noqa: E402
from datasets import digits  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder  # noqa: E402


class RecordThreads(Callback):
    """Record the threads torch uses during each epoch of the fit."""

    def on_epoch_end(self, net, **kwargs):
        net.history.record("threads", torch.get_num_threads())


def _threads(estimator, X, y):
    """A 'score' that reports the threads torch used inside the worker's fit."""
    return estimator.history_[-1]["threads"]


def run_search(X, y, n_jobs, inner_threads=None, n_threads=None, max_epochs=10):
    search = GridSearchCV(
        ContrastiveEmbedder(
            max_epochs=max_epochs,
            n_threads=n_threads,
            random_state=0,
            callbacks=[RecordThreads()],
        ),
        {"margin": [0.25, 0.5, 1.0, 2.0]},
        cv=2,
        n_jobs=n_jobs,
        scoring=_threads,
    )
    start = time.perf_counter()
    if inner_threads is None:
        search.fit(X, y)
    else:
        with joblib.parallel_config(
            backend="loky", inner_max_num_threads=inner_threads
        ):
            search.fit(X, y)
    seconds = time.perf_counter() - start
    return seconds, int(search.cv_results_["mean_test_score"][0])


CASES = {
    "n_jobs=1": dict(n_jobs=1),
    "n_jobs=2 (joblib default)": dict(n_jobs=2),
    "n_jobs=2, 2 threads/worker": dict(n_jobs=2, inner_threads=2),
    "n_jobs=2, n_threads=2": dict(n_jobs=2, n_threads=2),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=10)
    args = parser.parse_args(argv)
    X, _, y, _ = digits(0)
    times = {name: [] for name in CASES}
    threads = {}
    # Warm the worker pool once so that process start-up is not timed.
    run_search(X, y, n_jobs=2, max_epochs=1)
    for _ in range(args.repeats):
        for name, case in CASES.items():
            seconds, threads[name] = run_search(
                X, y, max_epochs=args.max_epochs, **case
            )
            times[name].append(seconds)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, joblib {joblib.__version__}; "
        f"digits train split, 4 candidates x 2 folds + refit, "
        f"max_epochs={args.max_epochs}, median of {args.repeats}"
    )
    _harness.print_search_table(times, threads, CASES, base="n_jobs=1")


if __name__ == "__main__":
    main()
