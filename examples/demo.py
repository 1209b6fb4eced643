"""Demo: 5-NN accuracy on digits, raw features vs the contrastive embedding.

Runs in a few seconds on 2 CPU cores:

    make demo            # or: python examples/demo.py
"""

import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, NeighborhoodComponentsAnalysis
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)

models = {
    "raw features": make_pipeline(StandardScaler(), KNeighborsClassifier(5)),
    "NCA": make_pipeline(
        StandardScaler(),
        NeighborhoodComponentsAnalysis(random_state=0),
        KNeighborsClassifier(5),
    ),
    "ContrastiveEmbedder": make_pipeline(
        StandardScaler(),
        ContrastiveEmbedder(random_state=0),
        KNeighborsClassifier(5),
    ),
}

print(f"digits: {len(X_train)} training rows, {len(X_test)} test rows, 64 features")
print(f"{'representation':<22}{'5-NN test accuracy':>20}{'fit time (s)':>14}")
for name, model in models.items():
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    print(f"{name:<22}{model.score(X_test, y_test):>20.3f}{fit_time:>14.2f}")
