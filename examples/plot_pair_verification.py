"""
Pair verification: same digit or not?
=====================================

Verification asks whether the two items of a pair belong to the same class
(the same person, a genuine signature) rather than which class each one is.
:class:`~sklearn_contrastive.PairVerifier` is a scikit-learn classifier whose
rows are pairs, the two items side by side (``[left | right]``). It embeds
both items with a :class:`~sklearn_contrastive.ContrastiveEmbedder` and calls
a pair *same* when their distance is at most a threshold calibrated on the
training pairs.

Pairs of digits are scored on held-out images with the ROC AUC, for three
models: the Euclidean distance of the raw pixels, a verifier that learns its
embedding from the training pairs alone, and a verifier that reuses an
embedder fitted on the digit labels, frozen.

Run as a script with a directory argument, it also saves the ROC curves there
as ``verification_roc.png``; this regenerates the user guide's image::

    python examples/plot_pair_verification.py docs/images
"""

# %%
# Pairs of digits
# ---------------
# The images are split 70/30 before any pair is formed, so the held-out pairs
# are made of images that no model has seen. Half of the pairs are of the same
# digit. Pair labels are the strings ``"same"`` and ``"different"``: libraries
# disagree on what 0 and 1 mean for a pair, and ``PairVerifier`` refuses to
# guess.

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import RocCurveDisplay, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder, PairVerifier


def make_pairs(X, y, n_pairs, rng):
    """Random pairs, half of them of the same digit, side by side."""
    left = rng.integers(0, len(y), size=n_pairs)
    right = np.empty_like(left)
    for i, row in enumerate(left):
        want_same = i % 2 == 0
        candidates = np.flatnonzero((y == y[row]) == want_same)
        right[i] = rng.choice(candidates[candidates != row])
    same = np.where(y[left] == y[right], "same", "different")
    return np.hstack([X[left], X[right]]), same


X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
rng = np.random.default_rng(0)
pairs_train, same_train = make_pairs(X_train, y_train, 4000, rng)
pairs_test, same_test = make_pairs(X_test, y_test, 2000, rng)
is_same = same_test == "same"
print(f"{len(pairs_train)} training pairs, {len(pairs_test)} held-out pairs")
print(f"each pair has {pairs_train.shape[1]} columns: 64 pixels per image")

# %%
# Three verifiers
# ---------------
# Trained on pairs, the verifier has no digit labels: it fits its
# :class:`~sklearn_contrastive.ContrastiveEmbedder` on the training pairs
# themselves (``fit(items, pairs=..., similar=...)`` on the distinct images of
# the pairs). When class labels exist, an embedder fitted on them can be
# wrapped in :class:`~sklearn.frozen.FrozenEstimator`, and the verifier then
# only calibrates its threshold on the pairs.

verifier = PairVerifier(ContrastiveEmbedder(random_state=0))
verifier.fit(pairs_train, same_train)
embedder = ContrastiveEmbedder(random_state=0).fit(X_train, y_train)
frozen = PairVerifier(FrozenEstimator(embedder)).fit(pairs_train, same_train)
raw_distance = np.linalg.norm(pairs_test[:, :64] - pairs_test[:, 64:], axis=1)

print(f"{'model':<38}{'ROC AUC':>8}{'accuracy':>10}")
print(
    f"{'raw pixels, Euclidean distance':<38}"
    f"{roc_auc_score(is_same, -raw_distance):>8.3f}{'':>10}"
)
for name, model in [
    ("PairVerifier trained on pairs", verifier),
    ("PairVerifier, frozen label embedder", frozen),
]:
    auc = roc_auc_score(is_same, model.decision_function(pairs_test))
    accuracy = model.score(pairs_test, same_test)
    print(f"{name:<38}{auc:>8.3f}{accuracy:>10.3f}")

# %%
# ROC curves
# ----------
# ``decision_function`` is signed for ``classes_[1]`` (here ``"same"``), as
# scikit-learn expects, so :class:`~sklearn.metrics.RocCurveDisplay` and the
# ``"roc_auc"`` scorer work as for any classifier. The raw pixel distance is
# a weak verifier; the learned embeddings are strong ones, and the embedder
# that saw the digit labels is the strongest.

fig, ax = plt.subplots(figsize=(5, 5))
RocCurveDisplay.from_predictions(is_same, -raw_distance, name="raw pixels", ax=ax)
for name, model in [("trained on pairs", verifier), ("frozen embedder", frozen)]:
    RocCurveDisplay.from_estimator(
        model, pairs_test, same_test, pos_label="same", name=name, ax=ax
    )
ax.set_title("Held-out digit pairs: same or different?")
if len(sys.argv) > 1:  # an output directory, never given by the docs build
    output_dir = Path(sys.argv[1])
    output_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(output_dir / "verification_roc.png", dpi=100, bbox_inches="tight")
plt.show()

# %%
# Distances and the threshold
# ---------------------------
# ``pair_distances`` gives the distance of each pair in the embedding, and
# ``threshold_`` the distance at most which a pair is called *same*, chosen
# here for the best accuracy on the training pairs (``threshold="accuracy"``;
# ``"f_beta"`` and a false-accept rate, ``"far"``, are the alternatives). The
# overlap of the two histograms around the threshold is where the mistakes
# are.

fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True, layout="constrained")
for ax, (name, model) in zip(
    axes, [("trained on pairs", verifier), ("frozen embedder", frozen)], strict=True
):
    distances = model.pair_distances(pairs_test)
    bins = np.linspace(0, distances.max(), 50)
    ax.hist(distances[is_same], bins=bins, alpha=0.6, density=True, label="same")
    ax.hist(distances[~is_same], bins=bins, alpha=0.6, density=True, label="different")
    ax.axvline(model.threshold_, color="k", linestyle="--", label="threshold_")
    ax.set(xlabel="distance between the two embeddings", title=name)
    print(f"{name}: threshold_ = {model.threshold_:.3f}")
axes[0].set_ylabel("density")
axes[0].legend()
plt.show()
