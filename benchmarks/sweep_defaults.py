"""How the defaults of max_epochs and batch_size were chosen.

Fits ContrastiveEmbedder on digits and the hard synthetic set for a grid of
batch sizes and epoch budgets and prints 5-NN test accuracy and fit time.

    python benchmarks/sweep_defaults.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sklearn.neighbors import KNeighborsClassifier

sys.path.insert(0, str(Path(__file__).parent))
from datasets import DATASETS  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder  # noqa: E402


def main(batch_sizes=(128, 256, 512), epochs=(25, 50, 100), seeds=(0, 1, 2)):
    print("| data | batch_size | max_epochs | seed | 5-NN acc | fit s |")
    print("|---|---|---|---|---|---|")
    for name, load in DATASETS.items():
        X_train, X_test, y_train, y_test = load()
        # The hard set costs ~10x digits per epoch: one seed there.
        data_seeds = seeds if name == "digits" else seeds[:1]
        for batch_size in batch_sizes:
            for max_epochs in epochs:
                for seed in data_seeds:
                    est = ContrastiveEmbedder(
                        batch_size=batch_size, max_epochs=max_epochs, random_state=seed
                    )
                    start = time.perf_counter()
                    est.fit(X_train, y_train)
                    fit_time = time.perf_counter() - start
                    knn = KNeighborsClassifier(5).fit(est.transform(X_train), y_train)
                    acc = knn.score(est.transform(X_test), y_test)
                    print(
                        f"| {name} | {batch_size} | {max_epochs} | {seed} "
                        f"| {acc:.3f} | {fit_time:.1f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
