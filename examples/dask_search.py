"""A margin search on a Dask cluster, checked against the same search in process.

Not a gallery example (it starts processes): run it by hand,

    pip install "sklearn-contrastive[dask]"
    python examples/dask_search.py                        # a LocalCluster
    python examples/dask_search.py tcp://scheduler:8786   # a running cluster

A ``LocalCluster`` of 2 worker processes x 1 thread on 127.0.0.1 when no
scheduler address is given. Each worker's nanny sets ``OMP_NUM_THREADS=1``,
so every fit uses one torch thread (user guide, "Scaling out"). The search
on the cluster gives the ``cv_results_`` of ``n_jobs=1`` bit for bit.
"""

import sys
import time

import joblib
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder


def search():
    return GridSearchCV(
        make_pipeline(StandardScaler(), ContrastiveEmbedder(random_state=0)),
        {"contrastiveembedder__margin": [0.25, 0.5, 1.0, 2.0]},
        cv=3,
        n_jobs=-1,
    )


def main(address=None):
    X, y = load_digits(return_X_y=True)
    start = time.perf_counter()
    in_process = search().set_params(n_jobs=1).fit(X, y)
    print(f"n_jobs=1: {time.perf_counter() - start:.1f} s")

    if address is None:
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        )
    else:
        cluster = address
    with Client(cluster) as client:
        print(f"workers: {len(client.scheduler_info()['workers'])}")
        start = time.perf_counter()
        with joblib.parallel_backend("dask"):
            on_cluster = search().fit(X, y)
        print(f"on the cluster: {time.perf_counter() - start:.1f} s")
    if address is None:
        cluster.close()

    scores = on_cluster.cv_results_["mean_test_score"]
    for params, score in zip(on_cluster.cv_results_["params"], scores, strict=True):
        print(f"margin={params['contrastiveembedder__margin']:<5} MAP@R {score:.4f}")
    same = np.array_equal(scores, in_process.cv_results_["mean_test_score"])
    print(f"best: {on_cluster.best_params_}; same scores as n_jobs=1: {same}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
