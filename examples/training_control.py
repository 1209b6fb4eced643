"""Steering and watching a fit: early stopping, history_, warm start, partial_fit.

On scikit-learn's digits:

1. a long fit (max_epochs=100) with and without early stopping, and the
   per-epoch diagnostics of ``history_`` as a DataFrame;
2. a learning-rate schedule passed as a skorch callback;
3. ``warm_start=True`` to train some more, and ``partial_fit`` over chunks of
   a stream that bring new classes.

Runs in well under a minute on 2 CPU cores:

    python examples/training_control.py
"""

import pandas as pd
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import LRScheduler

from sklearn_contrastive import ContrastiveEmbedder


def knn_accuracy(embedder, X_train, X_test, y_train, y_test):
    knn = KNeighborsClassifier(n_neighbors=5).fit(embedder.transform(X_train), y_train)
    return knn.score(embedder.transform(X_test), y_test)


def main():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    split = (X_train, X_test, y_train, y_test)

    # 1. Early stopping on the validation MAP@R, best weights restored.
    print("1. max_epochs=100, with and without early stopping")
    for early_stopping in (False, True):
        embedder = ContrastiveEmbedder(
            max_epochs=100, early_stopping=early_stopping, random_state=0
        ).fit(X_train, y_train)
        print(
            f"   early_stopping={early_stopping!s:<5}  epochs run: "
            f"{embedder.n_iter_:>3}  5-NN test accuracy: "
            f"{knn_accuracy(embedder, *split):.3f}"
        )
    history = pd.DataFrame(embedder.history_)
    columns = [
        "epoch",
        "train_loss",
        "valid_loss",
        "valid_precision_at_1",
        "valid_map_at_r",
        "similar_distance",
        "dissimilar_distance",
        "active_fraction",
    ]
    print("   last epochs of history_ (similar pairs pulled in, dissimilar out):")
    print(history[columns].tail(5).round(3).to_string(index=False))
    print(f"   best validation MAP@R: {embedder.best_validation_score_:.3f}")

    # 2. Any skorch callback: here the learning rate decays every 10 epochs.
    schedule = LRScheduler(
        policy=torch.optim.lr_scheduler.StepLR, step_size=10, gamma=0.5
    )
    embedder = ContrastiveEmbedder(
        max_epochs=30, lr=2e-3, callbacks=[schedule], random_state=0
    ).fit(X_train, y_train)
    print(
        "\n2. StepLR schedule, 30 epochs: 5-NN test accuracy "
        f"{knn_accuracy(embedder, *split):.3f}"
    )

    # 3a. warm_start: a second fit continues from the fitted weights.
    embedder = ContrastiveEmbedder(max_epochs=10, warm_start=True, random_state=0)
    embedder.fit(X_train, y_train)
    first = knn_accuracy(embedder, *split)
    embedder.fit(X_train, y_train)
    print(
        f"\n3. warm_start: after 10 epochs {first:.3f}, after 10 more "
        f"{knn_accuracy(embedder, *split):.3f} (n_iter_={embedder.n_iter_})"
    )

    # 3b. partial_fit: one epoch per chunk; classes 5-9 only arrive later.
    embedder = ContrastiveEmbedder(random_state=0)
    early, late = y_train < 5, y_train >= 3
    for epoch in range(20):
        rows = early if epoch < 10 else late
        embedder.partial_fit(X_train[rows], y_train[rows])
    print(
        f"   partial_fit over 20 chunks, classes {embedder.classes_.tolist()}: "
        f"5-NN test accuracy {knn_accuracy(embedder, *split):.3f}"
    )


if __name__ == "__main__":
    main()
