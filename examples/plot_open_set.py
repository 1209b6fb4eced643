"""
New classes at test time
========================

An embedding is often used on classes it never saw in ``fit``: faces of new
people, products added to a catalogue. This example fits on the digits 0-4
and ranks the rows of the digits 5-9 among themselves, each unseen row a
query against the other unseen rows, as metric learning's benchmarks do
(Musgrave, Belongie & Lim 2020). Four representations are compared: the raw
pixels, :class:`~sklearn_contrastive.ContrastiveEmbedder` with its defaults,
the same embedder with early stopping on *held-out classes*
(``early_stopping=True, validation_split="classes"``), which keeps the epoch
whose embedding best ranks digits it does not train on, and the settings of
the user guide for new classes: a linear map to 64 dimensions trained
through a projection head (``hidden_layer_sizes=(), n_components=64,
projection_head=(256,)``), which keeps more of what tells rows apart.

:func:`~sklearn_contrastive.metrics.mean_average_precision_at_r` (MAP@R)
rewards ranking all the rows of the query's digit first;
:func:`~sklearn_contrastive.metrics.precision_at_k` with ``k=1`` asks only
that the nearest row be of the query's digit. See the user guide page
:ref:`user_guide_open_set` for the protocol and how to select a model for it.
"""

# %%
# Seen and unseen digits
# ----------------------
# The pixels are scaled to ``[0, 1]``. Every row of the digits 0-4 is a
# training row; the rows of the digits 5-9 are only ever embedded.

import textwrap

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.metrics import mean_average_precision_at_r, precision_at_k

X, y = load_digits(return_X_y=True)
X = X / 16
seen = y < 5
X_seen, y_seen = X[seen], y[seen]
X_unseen, y_unseen = X[~seen], y[~seen]

embedders = {
    "ContrastiveEmbedder (defaults)": ContrastiveEmbedder(random_state=0, n_threads=1),
    "early stopping on held-out classes": ContrastiveEmbedder(
        early_stopping=True, validation_split="classes", random_state=0, n_threads=1
    ),
    "linear map, projection head": ContrastiveEmbedder(
        hidden_layer_sizes=(),
        n_components=64,
        projection_head=(256,),
        random_state=0,
        n_threads=1,
    ),
}

# %%
# Retrieval among the unseen digits
# ---------------------------------
# Without ``X_reference``, each metric ranks the rows it is given leave one
# out: every unseen row is a query against the other unseen rows.

embeddings = {"raw pixels": X_unseen}
for name, embedder in embedders.items():
    embeddings[name] = embedder.fit(X_seen, y_seen).transform(X_unseen)

scores = {
    name: (
        mean_average_precision_at_r(Z, y_unseen),
        precision_at_k(Z, y_unseen, k=1),
    )
    for name, Z in embeddings.items()
}
print(f"{'representation':<36}{'MAP@R':>7}{'P@1':>7}")
for name, (map_at_r, p_at_1) in scores.items():
    print(f"{name:<36}{map_at_r:>7.3f}{p_at_1:>7.3f}")

stopped = embedders["early stopping on held-out classes"]
kept = stopped.validation_scores_.index(stopped.best_validation_score_) + 1
print(f"early stopping ran {stopped.n_iter_} epochs and kept epoch {kept}")

# %%
# What to look at
# ---------------
# First, whether each embedding ranks the new digits better or worse than
# the raw pixels: a learned embedding is worth using on new classes only if
# it beats them. Then the embedders: with its defaults the network trains
# every epoch towards separating the digits 0-4, and can tighten each of them
# until it keeps little of what tells *other* digits apart; early stopping on
# held-out classes judges every epoch on digits it never trained on and keeps
# the best one (the right panel shows that score per epoch, and at which
# epoch it peaked). The linear map trained through a projection head leaves
# the tightening to the head, which ``transform`` does not use: its
# embedding keeps more of the pixels' structure, at a cost on the training
# digits themselves (see the user guide page).
#
# With only five training digits, the split holds out the minimum of two
# whole digits, far more than ``validation_fraction`` of the rows; on data
# with many classes it stays close to that fraction. The benchmarks page
# (section "New classes at test time") has figures over several seeds and on
# a data set with many classes.

fig, (ax_scores, ax_curve) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
names = list(scores)
positions = np.arange(len(names))
for offset, (label, column) in zip(
    (-0.2, 0.2), (("MAP@R", 0), ("precision@1", 1)), strict=True
):
    values = [scores[name][column] for name in names]
    bars = ax_scores.bar(positions + offset, values, width=0.4, label=label)
    ax_scores.bar_label(bars, fmt="%.2f", fontsize=8)
ax_scores.set(
    xticks=positions,
    xticklabels=[textwrap.fill(name, 14, break_long_words=False) for name in names],
    ylim=(0, 1.2),
    ylabel="score",
    title="Rows of the unseen digits 5-9",
)
ax_scores.legend(loc="upper center", ncols=2)

# Retrieval among the held-out training digits, after every epoch.
epochs = np.arange(1, stopped.n_iter_ + 1)
ax_curve.plot(epochs, stopped.validation_scores_, marker="o")
ax_curve.axvline(kept, color="gray", linestyle="--", label=f"kept (epoch {kept})")
ax_curve.legend(loc="upper right")
ax_curve.set(
    xlabel="epoch",
    ylabel="validation MAP@R (held-out digits)",
    title="What early stopping monitors",
)
plt.show()
