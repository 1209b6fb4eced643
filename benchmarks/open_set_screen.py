"""Screen of training variants for new classes that need code, not settings.

``bench_open_set.py --params`` measures any variant that is a setting of
``ContrastiveEmbedder``. The variants here are not, and were measured once
to decide whether to build them (issue 15); none was:

* ``skip``: a linear path beside the default MLP, ``Linear(X) + MLP(X)``
  (a custom ``module``);
* ``class_corruption`` / ``random_corruption``: SCARF-style corruption of
  the *labelled* training rows as an augmentation, 30 % of each row's
  features replaced by the same features of another row of the same class
  (Cui et al. 2024's class-conditioned corruption) or of any training row;
  done by wrapping the class-balanced loader's batches in this script;
* ``concat:<alpha>``: one fit of the linear map through a projection head
  (the user guide's setting for new classes), embedded as the concatenation
  ``[network(X), alpha * head(network(X))]`` of the network's output and the
  head's, to see whether one output can serve new and known classes;
  ``head``: the head's output alone (what the loss saw).

Scores: open-set MAP@R / precision@1 on digits (fit on 0-4, rank 5-9) and
on ``many_classes`` (fit on 20 classes, rank 20 others), as in
``bench_open_set.py``; closed-set 5-NN accuracy / KMeans ARI on the digits
split of ``bench_quality.py``. One process, no caps.

    python benchmarks/open_set_screen.py [--variants skip class_corruption ...]
        [--seeds 0] [--max-epochs N]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from datasets import DATASETS, OPEN_SET  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder, _data  # noqa: E402
from sklearn_contrastive.networks import MLP  # noqa: E402

#: The user guide's settings for new classes, which ``concat`` embeds.
NEW_CLASS_SETTINGS = {
    "hidden_layer_sizes": (),
    "n_components": 64,
    "projection_head": (256,),
}


class LinearPlusMLP(nn.Module):
    """``Linear(X) + MLP(X)``: the default MLP with a linear path beside it."""

    def __init__(self, n_features_in: int, n_components: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_components)
        # The default MLP, dropout included, without its normalisation.
        self.mlp = MLP(
            n_features_in, n_components=n_components, normalize=False, dropout=0.2
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.linear(X) + self.mlp(X)


@contextlib.contextmanager
def corrupted_batches(rate: float, same_class: bool):
    """Replace ``rate`` of the features of every training row of a batch by
    those of another training row (of its class when ``same_class``)."""
    loader = _data.ClassBalancedLoader
    original = loader.__iter__

    def __iter__(self):
        rows = torch.from_numpy(self.rows)
        labels = self.y[rows].long()
        order = rows[torch.argsort(labels, stable=True)]
        counts = torch.bincount(labels)
        starts = torch.cumsum(counts, 0) - counts
        generator = torch.Generator().manual_seed(len(self.rows))
        for Xb, yb in original(self):
            shape = Xb.shape
            mask = torch.rand(shape, generator=generator) < rate
            draw = torch.rand(shape, generator=generator)
            if same_class:
                c = yb.long()[:, None]
                donors = order[starts[c] + (draw * counts[c]).long()]
            else:
                donors = order[(draw * len(order)).long()]
            replaced = self.X[donors, torch.arange(shape[1])[None, :]]
            yield torch.where(mask, replaced, Xb), yb

    loader.__iter__ = __iter__
    try:
        yield
    finally:
        loader.__iter__ = original


def _variant(name: str, seed: int, max_epochs):
    """``(estimator, context, alpha)`` of a variant; ``alpha`` for concat."""
    params = {"random_state": seed, "n_threads": 1}
    if max_epochs is not None:
        params["max_epochs"] = max_epochs
    if name == "skip":
        return ContrastiveEmbedder(module=LinearPlusMLP, **params), None, None
    if name in ("class_corruption", "random_corruption"):
        context = corrupted_batches(0.3, same_class=name == "class_corruption")
        return ContrastiveEmbedder(**params), context, None
    if name == "head" or name.startswith("concat:"):
        alpha = math.inf if name == "head" else float(name.split(":")[1])
        return ContrastiveEmbedder(**NEW_CLASS_SETTINGS, **params), None, alpha
    raise ValueError(f"unknown variant {name!r}")


def _embed(model, X, alpha):
    X = X.astype(np.float32)
    Z = model.transform(X)
    if alpha is None:
        return Z
    with torch.no_grad():
        head = model.net_.module_.eval()(torch.from_numpy(X)).numpy()
    return head if math.isinf(alpha) else np.hstack([Z, alpha * head])


def _fit(name, seed, max_epochs, X, y):
    model, context, alpha = _variant(name, seed, max_epochs)
    with context or contextlib.nullcontext():
        model.fit(X.astype(np.float32), y)
    return model, alpha


def screen(name: str, seed: int = 0, max_epochs=None) -> dict:
    """The scores of one variant on one seed."""
    from sklearn.base import clone
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.neighbors import KNeighborsClassifier

    from sklearn_contrastive.metrics import mean_average_precision_at_r, precision_at_k

    scores = {}
    for protocol in ("digits", "many_classes"):
        X, y, seen, scaler = OPEN_SET[protocol]()
        is_seen = np.isin(y, seen)
        scaler = clone(scaler).fit(X[is_seen])
        model, alpha = _fit(
            name, seed, max_epochs, scaler.transform(X[is_seen]), y[is_seen]
        )
        Z = _embed(model, scaler.transform(X[~is_seen]), alpha)
        scores[f"{protocol} open"] = (
            mean_average_precision_at_r(Z, y[~is_seen]),
            precision_at_k(Z, y[~is_seen], k=1),
        )
    X_train, X_test, y_train, y_test = DATASETS["digits"](seed)
    model, alpha = _fit(name, seed, max_epochs, X_train, y_train)
    Z_train, Z_test = (_embed(model, X, alpha) for X in (X_train, X_test))
    knn = KNeighborsClassifier(n_neighbors=5).fit(Z_train, y_train)
    clusters = KMeans(n_clusters=10, n_init=10, random_state=seed)
    scores["digits closed"] = (
        knn.score(Z_test, y_test),
        adjusted_rand_score(y_test, clusters.fit_predict(Z_test)),
    )
    return scores


VARIANTS = (
    "skip",
    "class_corruption",
    "random_corruption",
    "concat:0.5",
    "concat:1",
    "concat:2",
    "head",
)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--max-epochs", type=int, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    columns = ("digits open", "digits closed", "many_classes open")
    print("| variant | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    results = {}
    for name in args.variants:
        runs = [screen(name, seed, args.max_epochs) for seed in args.seeds]
        results[name] = {
            column: tuple(statistics.median(r[column][i] for r in runs) for i in (0, 1))
            for column in columns
        }
        cells = [f"{a:.3f} / {b:.3f}" for a, b in results[name].values()]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return results


if __name__ == "__main__":
    main()
