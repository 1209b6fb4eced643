"""Pair verification on digits: is this pair of images the same digit?

Pairs of scikit-learn's 8x8 digits are labelled "same" or "different". A
:class:`~sklearn_contrastive.PairVerifier` learns an embedding from the
training pairs alone (items linked by "same" pairs form its classes), picks a
distance threshold, and is scored on pairs of held-out images with ROC AUC,
against the Euclidean distance of the raw pixels. A second verifier reuses an
embedder fitted on the digit labels, frozen. The ROC curves are saved to
``docs/images/verification_roc.png`` (or the directory given).

    python examples/pair_verification.py [output_dir]
"""

import sys
from pathlib import Path

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


def main(output_dir=Path("docs/images")):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    rng = np.random.default_rng(0)
    pairs_train, same_train = make_pairs(X_train, y_train, 4000, rng)
    # Held-out pairs: both images unseen in training.
    pairs_test, same_test = make_pairs(X_test, y_test, 2000, rng)
    is_same = same_test == "same"

    verifier = PairVerifier(ContrastiveEmbedder(random_state=0)).fit(
        pairs_train, same_train
    )
    embedder = ContrastiveEmbedder(random_state=0).fit(X_train, y_train)
    frozen = PairVerifier(FrozenEstimator(embedder)).fit(pairs_train, same_train)
    raw_distance = np.linalg.norm(pairs_test[:, :64] - pairs_test[:, 64:], axis=1)

    print(f"{len(pairs_train)} training pairs, {len(pairs_test)} held-out pairs")
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

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    RocCurveDisplay.from_predictions(is_same, -raw_distance, name="raw pixels", ax=ax)
    for name, model in [("trained on pairs", verifier), ("frozen embedder", frozen)]:
        RocCurveDisplay.from_estimator(
            model, pairs_test, same_test, pos_label="same", name=name, ax=ax
        )
    ax.set_title("Held-out digit pairs: same or different?")
    output_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(output_dir / "verification_roc.png", dpi=100, bbox_inches="tight")
    print(f"saved {output_dir / 'verification_roc.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/images"))
