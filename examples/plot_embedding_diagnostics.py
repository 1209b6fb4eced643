"""
Diagnosing an embedding: pair distances, 2-D view, curves
=========================================================

Three plots of :mod:`sklearn_contrastive.plotting` on scikit-learn's digits
(standardised, 70/30 stratified split):

1. :class:`~sklearn_contrastive.plotting.PairDistanceDisplay`: distances of
   similar and dissimilar test pairs with the margin, after one epoch and
   after training. Training pulls similar pairs towards 0 and pushes
   dissimilar pairs out to the margin; the fraction of dissimilar pairs still
   inside the margin says whether the margin suits the embedding's scale.
2. :class:`~sklearn_contrastive.plotting.EmbeddingDisplay`: the test split's
   embedding projected on its first two principal components.
3. :class:`~sklearn_contrastive.plotting.TrainingCurveDisplay`: losses and
   validation MAP@R per epoch, with the epoch early stopping kept.

Run as a script with a directory argument, it saves the figures there as PNG
files instead of showing them; this regenerates the user guide's images::

    python examples/plot_embedding_diagnostics.py docs/images
"""

import sys
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.plotting import (
    EmbeddingDisplay,
    PairDistanceDisplay,
    TrainingCurveDisplay,
)

# Figures are saved only when a directory is given on the command line, never
# when the documentation build runs this example.
output_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else None
if output_dir is not None:
    output_dir.mkdir(parents=True, exist_ok=True)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)


def embedder(max_epochs):
    return make_pipeline(
        StandardScaler(),
        ContrastiveEmbedder(early_stopping=True, max_epochs=max_epochs, random_state=0),
    )


one_epoch = embedder(max_epochs=1).fit(X_train, y_train)
trained = embedder(max_epochs=60).fit(X_train, y_train)
print(f"epochs run: {trained[-1].n_iter_}")

# %%
# Pair distances on the test split, after one epoch and after training
# --------------------------------------------------------------------
# The margin (1.0, read from the embedder) is drawn as a dashed line. Both
# panels use all 145,530 pairs of the 540 test rows.

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True, layout="constrained")
for ax, model, title in [
    (axes[0], one_epoch, "after 1 epoch"),
    (axes[1], trained, f"after training ({trained[-1].n_iter_} epochs)"),
]:
    display = PairDistanceDisplay.from_estimator(
        model, X_test, y_test, max_pairs=200_000, name=title, ax=ax
    )
    print(f"{title}: {display.active_fraction_:.1%} of dissimilar pairs inside")
if output_dir is not None:
    fig.savefig(output_dir / "pair_distances.png", dpi=100)

# %%
# The test split's embedding in 2-D
# ---------------------------------
# The 32-dimensional embedding projected on its first two principal
# components; classes that overlap here may still be apart in 32 dimensions.

fig, ax = plt.subplots(figsize=(7, 5.5), layout="constrained")
EmbeddingDisplay.from_estimator(
    trained, X_test, y_test, name="digits test split", ax=ax
)
if output_dir is not None:
    fig.savefig(output_dir / "embedding_2d.png", dpi=100)

# %%
# Training curves
# ---------------
# Early stopping monitors the validation MAP@R and restores the weights of
# the starred epoch.

fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
display = TrainingCurveDisplay.from_estimator(trained, ax=ax)
print(f"best validation MAP@R: {trained[-1].best_validation_score_:.3f}")
if output_dir is None:
    plt.show()  # all three figures
else:
    fig.savefig(output_dir / "training_curves.png", dpi=100)
