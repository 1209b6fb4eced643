"""
Training control: early stopping, history, callbacks and warm start
===================================================================

How long to train, and how to watch and steer a fit of
:class:`~sklearn_contrastive.ContrastiveEmbedder`:

1. early stopping on the validation retrieval score (MAP@R), with the
   training curves drawn by
   :class:`~sklearn_contrastive.plotting.TrainingCurveDisplay`;
2. the per-epoch diagnostics of ``history_`` as a pandas DataFrame;
3. a learning-rate schedule passed as a skorch callback;
4. ``warm_start=True`` to train some more, and ``partial_fit`` over chunks of
   a stream that bring new classes.
"""

# %%
# The data
# --------
# Digits, standardised, 70/30 stratified split. The 5-NN accuracy on the test
# split measures each embedding.

import matplotlib.pyplot as plt
import pandas as pd
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import LRScheduler

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.plotting import TrainingCurveDisplay

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)


def knn_accuracy(embedder):
    """5-NN test accuracy in the embedding, the training split as reference."""
    knn = KNeighborsClassifier(n_neighbors=5).fit(embedder.transform(X_train), y_train)
    return knn.score(embedder.transform(X_test), y_test)


# %%
# Early stopping
# --------------
# ``max_epochs=100`` is far more than digits needs. With
# ``early_stopping=True`` the embedder holds out ``validation_fraction`` (10 %)
# of the training rows, stratified by class, scores the retrieval among them
# (MAP@R) after every epoch, and stops once ``n_iter_no_change`` epochs in a
# row have not improved it by more than ``tol``. The weights of the best epoch
# are restored.

for early_stopping in (False, True):
    embedder = ContrastiveEmbedder(
        max_epochs=100, early_stopping=early_stopping, random_state=0
    ).fit(X_train, y_train)
    print(
        f"early_stopping={early_stopping!s:<5}  epochs run: {embedder.n_iter_:>3}  "
        f"5-NN test accuracy: {knn_accuracy(embedder):.3f}"
    )
print(f"best validation MAP@R: {embedder.best_validation_score_:.3f}")

# %%
# The training curves
# -------------------
# The training and validation losses on the left axis, the validation MAP@R
# that early stopping monitors on the right, and the epoch whose weights were
# kept starred. The fit ran ``n_iter_no_change + 1`` epochs past it.

fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
TrainingCurveDisplay.from_estimator(embedder, name="early stopping on digits", ax=ax)
plt.show()

# %%
# The history as a DataFrame
# --------------------------
# ``history_`` holds one dict per epoch. Besides the losses and validation
# scores it records pair diagnostics of the training batches: the mean
# distance of similar and of dissimilar pairs, and the fraction of dissimilar
# pairs still inside the margin (``active_fraction``), which the loss still
# pushes apart. Similar pairs are pulled in, dissimilar pairs pushed out to the
# margin of 1.0.

history = pd.DataFrame(embedder.history_)
columns = [
    "epoch",
    "train_loss",
    "valid_loss",
    "valid_map_at_r",
    "similar_distance",
    "dissimilar_distance",
    "active_fraction",
]
history[columns].tail(5).round(3)

# %%
# The diagnostics over all epochs:

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
history.plot(
    x="epoch",
    y=["similar_distance", "dissimilar_distance", "active_fraction"],
    ax=ax,
    title="Pair diagnostics of the training batches",
)
ax.axhline(embedder.margin, color="gray", linestyle="--", label="margin")
ax.legend()
plt.show()

# %%
# A learning-rate schedule
# ------------------------
# Any skorch callback goes in ``callbacks``; here
# :class:`~skorch.callbacks.LRScheduler` halves the learning rate every 10
# epochs. The objects passed are copied at each fit, and the learning rate of
# every epoch is recorded in ``history_`` as ``event_lr``.

schedule = LRScheduler(policy=torch.optim.lr_scheduler.StepLR, step_size=10, gamma=0.5)
embedder = ContrastiveEmbedder(
    max_epochs=30, lr=2e-3, callbacks=[schedule], random_state=0
).fit(X_train, y_train)
learning_rates = pd.DataFrame(embedder.history_)["event_lr"]
print(
    f"StepLR, 30 epochs: 5-NN test accuracy {knn_accuracy(embedder):.3f}; "
    f"learning rates {sorted(set(learning_rates), reverse=True)}"
)

# %%
# Training some more: ``warm_start`` and ``partial_fit``
# ------------------------------------------------------
# With ``warm_start=True`` a second ``fit`` continues from the fitted weights
# (with a fresh optimizer); ``n_iter_`` and ``history_`` count on.

embedder = ContrastiveEmbedder(max_epochs=10, warm_start=True, random_state=0)
embedder.fit(X_train, y_train)
first = knn_accuracy(embedder)
embedder.fit(X_train, y_train)
print(
    f"warm_start: after 10 epochs {first:.3f}, after 10 more "
    f"{knn_accuracy(embedder):.3f} (n_iter_={embedder.n_iter_})"
)

# %%
# ``partial_fit`` runs one epoch on the rows it is given, keeping the
# optimizer's state, and accepts classes it has not seen before: here the
# first 10 chunks hold the digits 0 to 4 only, the next 10 the digits 3 to 9.
# Pairs are formed within each chunk, so each chunk needs two classes, and
# classes that never share a chunk (0 and 9, say) are never pushed apart
# directly.

embedder = ContrastiveEmbedder(random_state=0)
early, late = y_train < 5, y_train >= 3
for epoch in range(20):
    rows = early if epoch < 10 else late
    embedder.partial_fit(X_train[rows], y_train[rows])
print(
    f"partial_fit over 20 chunks, classes {embedder.classes_.tolist()}: "
    f"5-NN test accuracy {knn_accuracy(embedder):.3f} (n_iter_={embedder.n_iter_})"
)
