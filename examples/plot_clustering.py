"""
Clustering in the embedding: KMeans and HDBSCAN
===============================================

An embedding learned from labelled rows also helps to group rows without
labels. Here a :class:`~sklearn_contrastive.ContrastiveEmbedder` is fitted on
the labelled training split of the digits, and the held-out test images are
clustered, without their labels, with :class:`~sklearn.cluster.KMeans` and
with :class:`~sklearn.cluster.HDBSCAN`. The clusters are compared with the
true digits by the adjusted Rand index (ARI: 1 for a perfect match, about 0
for chance), against clustering the standardised pixels or their first 32
principal components.
"""

# %%
# Three representations of the test images
# ----------------------------------------
# Every representation is fitted on the training split only; the test images
# are then transformed and clustered.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.plotting import EmbeddingDisplay

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)

transformers = {
    "raw pixels": make_pipeline(StandardScaler()),
    "PCA (32)": make_pipeline(StandardScaler(), PCA(n_components=32, random_state=0)),
    "ContrastiveEmbedder": make_pipeline(
        StandardScaler(), ContrastiveEmbedder(random_state=0)
    ),
}
embeddings = {
    name: transformer.fit(X_train, y_train).transform(X_test)
    for name, transformer in transformers.items()
}

# %%
# KMeans and HDBSCAN
# ------------------
# KMeans is told that there are 10 clusters. HDBSCAN is not: it finds dense
# groups of at least ``min_cluster_size`` rows and labels the rows in none of
# them as noise (``-1``). For the ARI, noise counts as one more cluster, so a
# method that leaves many rows out is penalised.

clusterers = {
    "KMeans (k=10)": KMeans(n_clusters=10, n_init=10, random_state=0),
    "HDBSCAN": HDBSCAN(min_cluster_size=15, copy=True),
}

ari, labels = {}, {}
print(f"{'representation':<22}{'clusterer':<16}{'ARI':>6}{'clusters':>10}{'noise':>8}")
for name, Z in embeddings.items():
    for method, clusterer in clusterers.items():
        labels[name, method] = found = clusterer.fit_predict(Z)
        ari[name, method] = adjusted_rand_score(y_test, found)
        n_clusters = len(set(found) - {-1})
        noise = np.mean(found == -1)
        print(
            f"{name:<22}{method:<16}{ari[name, method]:>6.3f}"
            f"{n_clusters:>10}{noise:>8.1%}"
        )

# %%
# The pixels and their principal components hold the digits in overlapping
# clouds of varying density: KMeans cuts them imperfectly, and HDBSCAN finds
# few dense groups and calls much of the data noise. In the embedding each
# digit is a tight cluster far from the others, so both methods recover the
# digits almost exactly, and HDBSCAN finds their number on its own.

names = list(embeddings)
x = np.arange(len(names))
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
for offset, method in zip([-0.2, 0.2], clusterers, strict=True):
    bars = ax.bar(
        x + offset, [ari[name, method] for name in names], width=0.4, label=method
    )
    ax.bar_label(bars, fmt="%.2f", padding=2)
ax.set_xticks(x, names)
ax.set(ylim=(0, 1.05), ylabel="adjusted Rand index", title="Clusters vs true digits")
ax.legend(loc="upper left")
plt.show()

# %%
# The embedding, coloured by digit and by HDBSCAN cluster
# -------------------------------------------------------
# :class:`~sklearn_contrastive.plotting.EmbeddingDisplay` projects the
# 32-dimensional embedding on its first two principal components. Left, the
# true digits; right, the clusters HDBSCAN found without them (``-1`` is
# noise). Groups that overlap in this projection can still be apart in 32
# dimensions, where the clustering happens.

Z = embeddings["ContrastiveEmbedder"]
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
EmbeddingDisplay.from_embeddings(Z, y_test, name="true digit", ax=left)
EmbeddingDisplay.from_embeddings(
    Z, labels["ContrastiveEmbedder", "HDBSCAN"], name="HDBSCAN cluster", ax=right
)
plt.show()
