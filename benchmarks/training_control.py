"""Figures for the training-control choices: early stopping and pair mining.

``early-stopping``: epochs run and 5-NN test accuracy with and without
``early_stopping=True``, at the default ``max_epochs=25`` and at
``max_epochs=100`` (where both data sets have converged long before the end).

``early-stopping-pairs``: the same on explicit pairs: 4,000 random pairs of
training rows, half of them similar (drawn afresh for each seed), with the
5-NN test accuracy of the embedding still measured with the class labels.

``pair-mining``: 5-NN test accuracy and time per epoch of
``pair_mining="all"`` and ``"hard"``, for several ``samples_per_class``.

Medians over estimator seeds; the split is the 70/30 one of ``datasets.py``.

    python benchmarks/training_control.py early-stopping [--seeds 0 1 2]
    python benchmarks/training_control.py early-stopping-pairs --datasets digits
    python benchmarks/training_control.py pair-mining [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier

sys.path.insert(0, str(Path(__file__).parent))
from datasets import DATASETS  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder  # noqa: E402


def evaluate(data, fit_on=None, **params):
    """Fit on the training part; 5-NN test accuracy, epochs, seconds per epoch.

    ``fit_on``: ``fit``'s keyword arguments (e.g. ``pairs`` and ``similar``);
    ``None`` fits on the class labels.
    """
    X_train, X_test, y_train, y_test = data
    start = time.perf_counter()
    embedder = ContrastiveEmbedder(**params)
    if fit_on is None:
        embedder.fit(X_train, y_train)
    else:
        embedder.fit(X_train, **fit_on)
    seconds = time.perf_counter() - start
    knn = KNeighborsClassifier(n_neighbors=5).fit(embedder.transform(X_train), y_train)
    accuracy = knn.score(embedder.transform(X_test), y_test)
    epoch_time = statistics.median(epoch["dur"] for epoch in embedder.history_)
    return accuracy, embedder.n_iter_, epoch_time, seconds


def _median_row(results):
    accuracies, epochs, epoch_times, seconds = zip(*results, strict=True)
    return (
        statistics.median(accuracies),
        min(accuracies),
        max(accuracies),
        statistics.median(epochs),
        statistics.median(epoch_times),
        statistics.median(seconds),
    )


def early_stopping(datasets, seeds, n_pairs=None):
    """The early-stopping table; with ``n_pairs``, each seed fits on that many
    half-similar pairs (:func:`half_similar_pairs`) instead of the labels."""
    print(
        "| data | max_epochs | early_stopping | epochs run (median) | "
        "5-NN accuracy median (min-max) | fit time (s) |"
    )
    print("|---|---|---|---|---|---|")
    for name in datasets:
        data = DATASETS[name](0)
        for max_epochs in (25, 100):
            for stop in (False, True):
                results = [
                    evaluate(
                        data,
                        fit_on=_fit_on(data, n_pairs, seed),
                        max_epochs=max_epochs,
                        early_stopping=stop,
                        random_state=seed,
                    )
                    for seed in seeds
                ]
                acc, lo, hi, epochs, _, seconds = _median_row(results)
                print(
                    f"| {name} | {max_epochs} | {stop} | {epochs:g} | "
                    f"{acc:.3f} ({lo:.3f}-{hi:.3f}) | {seconds:.1f} |",
                    flush=True,
                )


def _fit_on(data, n_pairs, seed):
    """``fit``'s keyword arguments for ``evaluate``: None (the labels), or
    ``n_pairs`` half-similar pairs of the training rows drawn with ``seed``."""
    if n_pairs is None:
        return None
    pairs, similar = half_similar_pairs(data[2], n_pairs, seed)
    return {"pairs": pairs, "similar": similar}


def half_similar_pairs(y, n_pairs, seed):
    """``(pairs, similar)``: ``n_pairs`` random pairs of distinct rows, the
    first half similar (same label) and the second half dissimilar."""
    rng = np.random.default_rng(seed)
    # Enough candidates for half of them similar even with many classes.
    n_candidates = 2 * n_pairs * len(np.unique(y))
    i, j = rng.integers(0, len(y), size=(2, n_candidates))
    same = y[i] == y[j]
    chosen = np.concatenate(
        [
            np.flatnonzero(same & (i != j))[: n_pairs // 2],
            np.flatnonzero(~same)[: n_pairs - n_pairs // 2],
        ]
    )
    if len(chosen) < n_pairs:
        raise ValueError(f"drew too few similar pairs; got {len(chosen)} in all")
    return np.column_stack([i, j])[chosen], same[chosen]


def pair_mining(datasets, seeds):
    print(
        "| data | pair_mining | samples_per_class | 5-NN accuracy median (min-max) "
        "| time per epoch (s) |"
    )
    print("|---|---|---|---|---|")
    for name in datasets:
        data = DATASETS[name](0)
        for mining in ("all", "hard"):
            for samples_per_class in (None, 8, 32):
                results = [
                    evaluate(
                        data,
                        pair_mining=mining,
                        samples_per_class=samples_per_class,
                        random_state=seed,
                    )
                    for seed in seeds
                ]
                acc, lo, hi, _, epoch_time, _ = _median_row(results)
                shown = "auto" if samples_per_class is None else samples_per_class
                print(
                    f"| {name} | {mining} | {shown} | {acc:.3f} ({lo:.3f}-{hi:.3f}) "
                    f"| {epoch_time:.3f} |",
                    flush=True,
                )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    studies = {
        "early-stopping": early_stopping,
        "early-stopping-pairs": lambda datasets, seeds: early_stopping(
            datasets, seeds, n_pairs=4000
        ),
        "pair-mining": pair_mining,
    }
    parser.add_argument("study", choices=list(studies))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=["digits", "hard_synthetic"])
    args = parser.parse_args(argv)
    print(
        f"# {args.study}: {platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads), seeds {args.seeds}"
    )
    # Pay torch's one-off start-up costs (the optimizer's first import of
    # torch._dynamo) before anything is timed.
    evaluate(DATASETS["digits"](0), max_epochs=1, random_state=0)
    studies[args.study](args.datasets, args.seeds)


if __name__ == "__main__":
    main()
