"""Which validation quantity should early stopping monitor?

Trains with a validation split for a fixed number of epochs (stopping
disabled) and records, after every epoch, the validation precision@1, MAP@R
and loss, and the 5-NN test accuracy. It then replays the stopping rule
(``n_iter_no_change`` epochs without an improvement of ``tol`` allowed, best
epoch restored) on each monitored quantity, and reports the epoch it would
stop at and the test accuracy of the restored epoch.

    python benchmarks/early_stopping_monitors.py [--dataset digits] \\
        [--max-epochs 60] [--seeds 0 1 2 3 4] [--patience 3 5 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier
from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).parent))
from datasets import DATASETS  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder  # noqa: E402
from sklearn_contrastive.networks import embed  # noqa: E402

MONITORS = {
    "valid_precision_at_1": True,  # higher is better
    "valid_map_at_r": True,
    "valid_loss": False,
}


class TestAccuracy(Callback):
    """Record the 5-NN test accuracy of the current weights after every epoch."""

    def __init__(self, X_train, y_train, X_test, y_test):
        self.data = (X_train, y_train, X_test, y_test)

    def on_epoch_end(self, net, **kwargs):
        X_train, y_train, X_test, y_test = self.data
        was_training = net.module_.training
        train = embed(net.module_, torch.as_tensor(X_train)).numpy()
        test = embed(net.module_, torch.as_tensor(X_test)).numpy()
        net.module_.train(was_training)
        knn = KNeighborsClassifier(n_neighbors=5).fit(train, y_train)
        net.history.record("test_accuracy", knn.score(test, y_test))


def replay(values, higher_is_better, patience, tol=1e-4):
    """Epoch (1-based) the rule stops at, and the index of the restored epoch."""
    sign = 1.0 if higher_is_better else -1.0
    best, best_index, misses = -np.inf, 0, 0
    for index, value in enumerate(values):
        if sign * value > best + tol:
            best, best_index, misses = sign * value, index, 0
        else:
            misses += 1
            if misses == patience + 1:
                return index + 1, best_index
    return len(values), best_index


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=sorted(DATASETS))
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--patience", type=int, nargs="+", default=[3, 5, 10])
    args = parser.parse_args(argv)

    X_train, X_test, y_train, y_test = DATASETS[args.dataset](0)
    curves = []
    for seed in args.seeds:
        embedder = ContrastiveEmbedder(
            max_epochs=args.max_epochs,
            early_stopping=True,
            n_iter_no_change=args.max_epochs,  # record every epoch, never stop
            random_state=seed,
            callbacks=[TestAccuracy(X_train, y_train, X_test, y_test)],
        ).fit(X_train, y_train)
        curves.append(embedder.history_)

    def accuracy_at(epoch):
        return statistics.median(c[epoch - 1]["test_accuracy"] for c in curves)

    print(
        f"# {args.dataset}, max_epochs={args.max_epochs}, seeds {args.seeds}; "
        f"training on {1 - 0.1:.0%} of the training split"
    )
    print(f"fixed 25 epochs: 5-NN test accuracy (median) {accuracy_at(25):.3f}")
    print(
        f"fixed {args.max_epochs} epochs: 5-NN test accuracy (median) "
        f"{accuracy_at(args.max_epochs):.3f}"
    )
    print(
        "| monitor | n_iter_no_change | stop epoch (median) | 5-NN accuracy median "
        "(min-max) |"
    )
    print("|---|---|---|---|")
    for monitor, higher in MONITORS.items():
        for patience in args.patience:
            stops, accuracies = [], []
            for curve in curves:
                values = [epoch[monitor] for epoch in curve]
                stop, kept = replay(values, higher, patience)
                stops.append(stop)
                accuracies.append(curve[kept]["test_accuracy"])
            print(
                f"| {monitor} | {patience} | {statistics.median(stops):g} | "
                f"{statistics.median(accuracies):.3f} ({min(accuracies):.3f}-"
                f"{max(accuracies):.3f}) |"
            )


if __name__ == "__main__":
    main()
