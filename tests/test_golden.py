"""Same seed, same output, across changes of the code: golden embeddings.

Each case fits on digits with a fixed ``random_state`` and compares the
embeddings of the first rows and the per-epoch training losses with those
stored in ``tests/data/golden_embeddings.npz``, one set per platform (torch
version and CPU capability: float32 kernels round differently with AVX2 and
AVX-512). On a platform with a stored set they must be bit-identical: a
refactoring that changes no arithmetic changes no bit. On another platform
they must agree with a stored set to a tolerance; the explicit-pairs fit,
whose pairs drift most under other rounding, differs by ~0.02 between AVX2
and AVX-512.

Store this platform's set (keeping the others), from code whose arithmetic
is the reference::

    python tests/test_golden.py

After a deliberate change of the arithmetic, the other platforms' sets are
out of date: ``python tests/test_golden.py --drop-others`` keeps this
platform's only (other platforms then compare to it within the tolerance),
and a run on each other platform adds its set back.
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


def _stored_sets(golden) -> dict[str, str]:
    """Platform -> key prefix of its set (files before sets: one, no prefix)."""
    if "platform" in golden:
        return {str(golden["platform"]): ""}
    return {
        str(golden[key]): key[: -len("platform")]
        for key in golden
        if key.endswith("/platform")
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_seed_gives_the_stored_embeddings(name):
    golden = np.load(GOLDEN)
    sets = _stored_sets(golden)
    embeddings, losses = _outputs(name)
    if _platform() in sets:
        prefix = sets[_platform()]
        np.testing.assert_array_equal(embeddings, golden[f"{prefix}{name}/embeddings"])
        np.testing.assert_array_equal(losses, golden[f"{prefix}{name}/losses"])
        return
    # Another platform: close to the nearest stored set.
    errors = {
        platform: np.abs(embeddings - golden[f"{prefix}{name}/embeddings"]).max()
        for platform, prefix in sets.items()
    }
    nearest = min(errors, key=errors.get)
    prefix = sets[nearest]
    np.testing.assert_allclose(
        embeddings, golden[f"{prefix}{name}/embeddings"], atol=5e-2
    )
    np.testing.assert_allclose(losses, golden[f"{prefix}{name}/losses"], rtol=2e-2)


if __name__ == "__main__":
    import sys

    arrays = {}
    if GOLDEN.exists() and "--drop-others" not in sys.argv[1:]:
        with np.load(GOLDEN) as golden:
            for platform, prefix in _stored_sets(golden).items():
                if platform != _platform():
                    stored = {k: golden[k] for k in golden if k.startswith(prefix)}
                    arrays.update(
                        {
                            f"{platform}/" + k[len(prefix) :]: v
                            for k, v in stored.items()
                        }
                    )
                    arrays[f"{platform}/platform"] = np.array(platform)
    arrays[f"{_platform()}/platform"] = np.array(_platform())
    for case in sorted(CASES):
        embeddings, losses = _outputs(case)
        arrays[f"{_platform()}/{case}/embeddings"] = embeddings
        arrays[f"{_platform()}/{case}/losses"] = losses
    np.savez_compressed(GOLDEN, **arrays)
    print(f"wrote {GOLDEN}: sets for {sorted(_stored_sets(np.load(GOLDEN)))}")
