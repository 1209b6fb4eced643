"""
Learning without class labels: pairs, few labels, no labels
===========================================================

The contrastive loss needs only to know which pairs of rows are similar, not
what class each row is. :class:`~sklearn_contrastive.ContrastiveEmbedder`
therefore also trains from three weaker signals than a full set of class
labels:

- **explicit pairs**, ``fit(X, pairs=pairs, similar=similar)``: pairs of rows
  marked similar or dissimilar (duplicate records, genuine or forged
  signatures);
- **partial labels**, ``ContrastiveEmbedder(unlabeled_label=-1).fit(X, y)``
  with ``y == -1`` for the rows without a label;
- **no labels**, ``fit(X)``: two corrupted views of each row form a similar
  pair (SCARF, Bahri et al., ICLR 2022).

Each is tried here on scikit-learn's digits, and the embedding is judged by
the 5-NN test accuracy it gives, and, without labels, by how well
:class:`~sklearn.cluster.KMeans` recovers the digits from it.
"""

# %%
# The data
# --------
# The images are split 70/30 and standardised on the training part. The
# training labels are used below only to *make* the pairs and the partial
# labels, and, as references, by the k-nearest-neighbours classifier that
# scores each embedding on the test images.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading

from sklearn_contrastive import ContrastiveEmbedder

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)


def knn_accuracy(model, references=None):
    """5-NN test accuracy in ``model``'s embedding (``None``: raw pixels), the
    training rows ``references`` (all of them by default) as neighbours."""
    references = np.arange(len(X_train)) if references is None else references
    embed = (lambda Z: Z) if model is None else model.transform
    knn = KNeighborsClassifier(n_neighbors=5)
    knn.fit(embed(X_train[references]), y_train[references])
    return knn.score(embed(X_test), y_test)


# %%
# Explicit pairs
# --------------
# ``pairs`` holds *positions* of rows of ``X`` (``X[i]``, or ``X.iloc[i]`` for
# a DataFrame), two per pair; the rows are indexed, never copied into pairs.
# ``similar`` must be boolean, ``True`` for a similar pair: 0/1 pair labels are
# refused, because the contrastive loss's ``Y`` is 0 for a similar pair while
# many libraries use 1. Convert yours explicitly, e.g. ``similar=(labels ==
# 1)``.
#
# Two sets of 4,000 pairs of training digits: drawn uniformly, so that about
# one pair in ten is of the same digit, and drawn so that half of them are.


def half_similar_pairs(n_pairs, rng):
    """Random pairs of training rows, every other one of the same digit."""
    left = rng.integers(0, len(y_train), size=n_pairs)
    right = np.empty_like(left)
    for i, row in enumerate(left):
        candidates = np.flatnonzero((y_train == y_train[row]) == (i % 2 == 0))
        right[i] = rng.choice(candidates[candidates != row])
    return np.column_stack([left, right])


rng = np.random.default_rng(0)
pair_sets = {
    "uniform pairs": rng.integers(0, len(X_train), size=(4000, 2)),
    "half similar": half_similar_pairs(4000, rng),
}
print(f"{'training signal':<32}{'similar':>8}{'5-NN accuracy':>15}")
print(f"{'none (raw pixels)':<32}{'':>8}{knn_accuracy(None):>15.3f}")
for name, pairs in pair_sets.items():
    similar = y_train[pairs[:, 0]] == y_train[pairs[:, 1]]  # boolean
    embedder = ContrastiveEmbedder(random_state=0)
    embedder.fit(X_train, pairs=pairs, similar=similar)
    print(f"{'4,000 ' + name:<32}{similar.mean():>8.1%}{knn_accuracy(embedder):>15.3f}")
with_labels = ContrastiveEmbedder(random_state=0).fit(X_train, y_train)
print(f"{'every class label':<32}{'':>8}{knn_accuracy(with_labels):>15.3f}")

# %%
# The fitted embedder transforms single rows, like one fitted on labels.
# ``batch_size`` now counts pairs: each mini-batch holds 256 pairs and embeds
# the distinct rows they touch once. With half of the pairs similar, 4,000
# pairs come within about a point of all 1,257 class labels (0.978 against
# 0.989); uniform pairs, whose few similar pairs are the scarce signal, did
# no better than the raw pixels here (0.967 against 0.970). Similar pairs are
# what pull a class together: when you choose which pairs to label, do not
# let them drown among dissimilar ones.
#
# To cross-validate or grid-search on pairs, do not pass ``pairs`` to
# :class:`~sklearn.model_selection.GridSearchCV` as a fit parameter: it splits
# the rows of ``X`` but would hand every fold all the pairs, which then point
# at the wrong rows. Put the pairs in rows, side by side, and search a
# :class:`~sklearn_contrastive.PairVerifier`, which trains its embedder on
# the pairs themselves, so that the search splits pairs (see
# :ref:`sphx_glr_auto_examples_plot_pair_verification.py`).

# %%
# Partial labels
# --------------
# scikit-learn marks an unlabelled row with ``y == -1``. The convention is
# opt-in: with the default ``unlabeled_label=None``, ``-1`` is a class like
# any other (binary labels ``{-1, 1}`` keep working). Here 10 % of each
# digit's training rows keep their label. Three models use them:
#
# (a) an embedder fitted on the labelled rows only;
# (b) an embedder fitted on every row, ``-1`` for the rest: the labelled rows
#     form pairs as usual, each unlabelled row comes as two corrupted views,
#     a similar pair, and views of different rows form dissimilar pairs;
# (c) :class:`~sklearn.semi_supervised.LabelSpreading`, which spreads the
#     labels along the raw k-nearest-neighbour graph, as a reference.
#
# The 5-NN classifiers of (a) and (b), and the raw pixels', use the labelled
# training rows as their references; (c) predicts itself.

keep = np.zeros(len(y_train), dtype=bool)
for digit in range(10):
    rows = np.flatnonzero(y_train == digit)
    keep[rng.choice(rows, round(0.1 * len(rows)), replace=False)] = True
y_partial = np.where(keep, y_train, -1)
labelled = np.flatnonzero(keep)

labelled_only = ContrastiveEmbedder(random_state=0)
labelled_only.fit(X_train[labelled], y_train[labelled])
semi = ContrastiveEmbedder(unlabeled_label=-1, random_state=0).fit(X_train, y_partial)
spreading = LabelSpreading(kernel="knn", n_neighbors=7).fit(X_train, y_partial)

print(f"{keep.sum()} of {len(y_train)} training rows labelled")
print(f"{'model':<40}{'5-NN accuracy':>15}")
for name, accuracy in [
    ("raw pixels", knn_accuracy(None, labelled)),
    ("(a) embedder, labelled rows only", knn_accuracy(labelled_only, labelled)),
    ("(b) embedder, unlabeled_label=-1", knn_accuracy(semi, labelled)),
    ("(c) LabelSpreading (its predictions)", spreading.score(X_test, y_test)),
]:
    print(f"{name:<40}{accuracy:>15.3f}")
print("classes_ of (b):", semi.classes_)

# %%
# The unlabelled rows add to the labelled ones: (b) beats (a) by about two
# points here (0.928 against 0.909; about one point in the median of five
# seeds, see the user guide). LabelSpreading beats both on digits, whose raw
# neighbourhoods are already good: to *predict* from few labels, try it (or
# :class:`~sklearn.semi_supervised.SelfTrainingClassifier`) first; use the
# embedder's semi-supervised mode when you need an *embedding*. ``classes_``
# leaves ``-1`` out, and ``score`` leaves the unlabelled rows out.

# %%
# No labels
# ---------
# ``fit(X)`` learns from the corrupted views alone. Against
# :class:`~sklearn.decomposition.PCA` with the same 32 output dimensions, and
# the raw pixels: 5-NN accuracy (all training rows and their labels as
# references) and the adjusted Rand index (ARI) of
# :class:`~sklearn.cluster.KMeans` with 10 clusters on the test images.

no_labels = ContrastiveEmbedder(random_state=0).fit(X_train)
pca = PCA(n_components=32, random_state=0).fit(X_train)

scores = {}
print(f"{'representation':<34}{'5-NN accuracy':>15}{'KMeans ARI':>12}")
for name, model in [
    ("raw pixels (64)", None),
    ("PCA (32)", pca),
    ("ContrastiveEmbedder, no labels", no_labels),
]:
    Z_test = X_test if model is None else model.transform(X_test)
    clusters = KMeans(n_clusters=10, n_init=10, random_state=0).fit_predict(Z_test)
    scores[name] = knn_accuracy(model), adjusted_rand_score(y_test, clusters)
    print(f"{name:<34}{scores[name][0]:>15.3f}{scores[name][1]:>12.3f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
names = list(scores)
for ax, column, title in zip(
    axes, range(2), ["5-NN test accuracy", "KMeans ARI (test)"], strict=True
):
    values = [scores[name][column] for name in names]
    bars = ax.barh(names, values, color=["0.6", "tab:blue", "tab:orange"])
    ax.bar_label(bars, fmt="%.3f", padding=3)
    ax.set(title=title, xlim=(0, 1.15))
    ax.invert_yaxis()
axes[1].set_yticks([])
fig.suptitle("Digits without labels")
plt.show()

# %%
# Without labels the embedding is a worse basis for nearest neighbours than
# PCA (0.894 against 0.967), but KMeans finds the digits better in it (ARI
# 0.515 against 0.472): learning to match two views of a row, each with 60 %
# of its pixels replaced, tightens the groups that clustering looks for, at
# the cost of some of the detail that nearest neighbours use. So ``fit(X)`` is
# for data with no labels at all that you want to cluster; it does not
# replace labels (or pairs), and on data such as digits PCA is the better
# choice for nearest-neighbour retrieval.
