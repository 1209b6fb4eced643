"""Same seed, same output, across changes of the code: golden embeddings.

Each case fits on digits with a fixed ``random_state`` and compares the
embeddings of the first rows and the per-epoch training losses with those
stored in ``tests/data/golden_embeddings.npz``. On the platform that wrote the
file (same torch version and CPU capability) they must be bit-identical: a
refactoring that changes no arithmetic changes no bit. Elsewhere, float32
kernels may round differently, so they must agree to a tolerance.

Regenerate the file only for a deliberate change of the arithmetic::

    python tests/test_golden.py
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from sklearn_contrastive import ContrastiveEmbedder

GOLDEN = Path(__file__).parent / "data" / "golden_embeddings.npz"
#: Rows of digits whose embeddings are stored.
N_ROWS = 200
BASE = dict(n_components=8, max_epochs=3, n_threads=1, random_state=0)


class _Linear(nn.Module):
    def __init__(self, n_features_in, n_components):
        super().__init__()
        self.layer = nn.Linear(n_features_in, n_components)

    def forward(self, X):
        return self.layer(X)


def _digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def _fit_labels(X, y):
    return ContrastiveEmbedder(**BASE).fit(X, y)


def _fit_hard_mining(X, y):
    return ContrastiveEmbedder(
        **BASE, pair_mining="hard", hidden_layer_sizes=(32,)
    ).fit(X, y)


def _fit_early_stopping(X, y):
    params = {**BASE, "max_epochs": 6}
    return ContrastiveEmbedder(**params, early_stopping=True, n_iter_no_change=1).fit(
        X, y
    )


def _fit_partial_labels(X, y):
    y = y.copy()
    y[::2] = -1
    return ContrastiveEmbedder(**BASE, unlabeled_label=-1).fit(X, y)


def _fit_no_labels(X, y):
    return ContrastiveEmbedder(**BASE).fit(X)


def _fit_pairs(X, y):
    rng = np.random.default_rng(0)
    pairs = rng.integers(len(X), size=(3000, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    similar = y[pairs[:, 0]] == y[pairs[:, 1]]
    est = ContrastiveEmbedder(**BASE, early_stopping=True, batch_size=128)
    return est.fit(X, pairs=pairs, similar=similar)


def _fit_warm_start(X, y):
    est = ContrastiveEmbedder(**BASE, warm_start=True).fit(X, y)
    return est.fit(X, y)


def _fit_partial_fit(X, y):
    est = ContrastiveEmbedder(**BASE)
    for part in np.array_split(np.arange(len(X)), 3):
        est.partial_fit(X[part], y[part])
    return est


def _fit_module_class(X, y):
    return ContrastiveEmbedder(**BASE, module=_Linear, normalize=False).fit(X, y)


CASES = {
    "labels": _fit_labels,
    "hard_mining": _fit_hard_mining,
    "early_stopping": _fit_early_stopping,
    "partial_labels": _fit_partial_labels,
    "no_labels": _fit_no_labels,
    "pairs": _fit_pairs,
    "warm_start": _fit_warm_start,
    "partial_fit": _fit_partial_fit,
    "module_class": _fit_module_class,
}


def _platform():
    return f"torch {torch.__version__}, cpu {torch.backends.cpu.get_cpu_capability()}"


def _outputs(name):
    X, y = _digits()
    est = CASES[name](X, y)
    return est.transform(X[:N_ROWS]), np.asarray(est.loss_curve_, dtype=np.float64)


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_seed_gives_the_stored_embeddings(name):
    golden = np.load(GOLDEN)
    embeddings, losses = _outputs(name)
    expected_embeddings = golden[f"{name}/embeddings"]
    expected_losses = golden[f"{name}/losses"]
    if str(golden["platform"]) == _platform():
        np.testing.assert_array_equal(embeddings, expected_embeddings)
        np.testing.assert_array_equal(losses, expected_losses)
    else:
        np.testing.assert_allclose(embeddings, expected_embeddings, atol=1e-3)
        np.testing.assert_allclose(losses, expected_losses, rtol=1e-3)


if __name__ == "__main__":
    arrays = {"platform": np.array(_platform())}
    for case in sorted(CASES):
        arrays[f"{case}/embeddings"], arrays[f"{case}/losses"] = _outputs(case)
    np.savez_compressed(GOLDEN, **arrays)
    print(f"wrote {GOLDEN} ({_platform()})")
