"""New classes at test time: open-set retrieval, with the closed-set scores beside it.

The protocol of metric learning's benchmarks (Musgrave, Belongie & Lim, 2020,
"A Metric Learning Reality Check"): a method is fitted on the rows of some
classes and then ranks the rows of *other* classes, never seen in fit, among
themselves (each unseen row a query against all the other unseen rows). For
each protocol of ``datasets.OPEN_SET`` and each seed:

* **open set**: the method is fitted on all rows of the seen classes; MAP@R
  and precision@1 of the embedded rows of the unseen classes (all of them),
  leave one out;
* **closed set**, so that no open-set gain hides a loss: a second fit of the
  same method on 70 % of the rows of *all* classes (stratified by the seed),
  then the 5-NN accuracy of the other 30 % (neighbours among the embedded
  70 %) and the KMeans adjusted Rand index on the embedded 30 %.

Each fit's rows fix the scaling (the protocol's scaler is fitted on them).
Protocols: ``digits`` (pixels / 16; fit on digits 0-4, rank 5-9) and
``many_classes`` (``datasets.many_classes``: 40 classes, 12 informative of 100
features, 40 of them loud noise; standardised; fit on 20 classes, rank the
other 20). Methods are those of ``bench_quality.py`` (raw features, PCA, NCA,
supervised UMAP with the ``bench`` extra, ContrastiveEmbedder with its
defaults); ``--params`` passes settings to ContrastiveEmbedder as JSON (as in
``bench_quality.py``), to measure variants. Each job runs in a fresh process
under a time and a memory cap; medians over the seeds, with the range.

    python benchmarks/bench_open_set.py [--datasets digits many_classes]
        [--methods raw nca contrastive] [--seeds 0 1 2] [--params '{"max_epochs": 5}']
        [--time-cap 600] [--out benchmarks/results]

Writes ``open_set.md`` and ``open_set.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _harness  # noqa: E402
from bench_quality import METHODS, make_method, run_jobs, with_range  # noqa: E402
from datasets import OPEN_SET  # noqa: E402

#: The scores of a job, in table order: (key, column heading).
SCORES = (
    ("map_at_r", "open MAP@R"),
    ("precision_at_1", "open P@1"),
    ("accuracy", "closed 5-NN"),
    ("ari", "closed ARI"),
)


def _fit_and_embed(dataset, method, seed, params, X_fit, y_fit, *others):
    """Scale, fit ``method`` on ``(X_fit, y_fit)``; the embeddings of
    ``X_fit`` and of each of ``others``, and the fit time."""
    from sklearn.base import clone

    scaler = clone(OPEN_SET[dataset]()[3]).fit(X_fit)
    X_fit, *others = (scaler.transform(X).astype(np.float32) for X in (X_fit, *others))
    model, n_components = make_method(method, X_fit.shape[1], seed, params)
    start = time.perf_counter()
    model.fit(X_fit, y_fit)
    fit_s = time.perf_counter() - start
    # UMAP's transform of its own training rows only approximates the
    # embedding it learned for them; embedding_ is that embedding.
    Z_fit = model.embedding_ if method == "umap" else model.transform(X_fit)
    return fit_s, n_components, Z_fit, *(model.transform(X) for X in others)


def open_set_job(dataset: str, method: str, seed: int, params=None) -> dict:
    """Both fits of one method on one protocol, and their scores."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier

    from sklearn_contrastive.metrics import (
        mean_average_precision_at_r,
        precision_at_k,
    )

    X, y, seen, _ = OPEN_SET[dataset]()
    is_seen = np.isin(y, seen)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    fit = functools.partial(_fit_and_embed, dataset, method, seed, params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_s, n_components, _, Z_unseen = fit(X[is_seen], y[is_seen], X[~is_seen])
        _, _, Z_train, Z_test = fit(X_train, y_train, X_test)
    y_unseen = y[~is_seen]
    knn = KNeighborsClassifier(n_neighbors=5).fit(Z_train, y_train)
    n_classes = len(np.unique(y))
    clusters = KMeans(n_clusters=n_classes, n_init=10, random_state=seed)
    return {
        "map_at_r": float(mean_average_precision_at_r(Z_unseen, y_unseen)),
        "precision_at_1": float(precision_at_k(Z_unseen, y_unseen, k=1)),
        "accuracy": float(knn.score(Z_test, y_test)),
        "ari": float(adjusted_rand_score(y_test, clusters.fit_predict(Z_test))),
        "fit_s": fit_s,
        "n_components": n_components,
        "n_seen": int(is_seen.sum()),
        "n_unseen": int((~is_seen).sum()),
        "n_features": X.shape[1],
        "classes": f"{len(seen)} seen / {n_classes - len(seen)} unseen",
        "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught}),
    }


def run_open_set(
    datasets, methods, seeds, *, params=None, isolate=True, log=None, **caps
) -> list[dict]:
    """Every (protocol, method, seed) job, one at a time; one record each
    (``bench_quality.run_jobs``; ``caps`` and ``isolate`` as there)."""
    return run_jobs(
        open_set_job,
        _progress_line,
        datasets,
        methods,
        seeds,
        job_kwargs={"params": params},
        isolate=isolate,
        log=log,
        **caps,
    )


def _progress_line(record: dict) -> str:
    line = (
        f"{record['dataset']} / {METHODS[record['method']]} / seed {record['seed']}: "
    )
    if record["status"] != "ok":
        return line + _harness.status_label(record)
    result = record["result"]
    return line + ", ".join(
        [f"{title} {result[key]:.3f}" for key, title in SCORES]
        + [f"fit {result['fit_s']:.2f} s"]
    )


def _cell(values: list[float]) -> str:
    return with_range(_harness.summarise(values))


def open_set_table(records: list[dict]) -> str:
    """One row per (protocol, method), in the order run: medians [min, max]."""
    header = [
        "protocol",
        "method",
        *(title for _, title in SCORES),
        "open fit s",
        "seeds",
    ]
    rows = []
    groups = dict.fromkeys((r["dataset"], r["method"]) for r in records)
    for dataset, method in groups:
        group = [r for r in records if (r["dataset"], r["method"]) == (dataset, method)]
        ok = [r["result"] for r in group if r["status"] == "ok"]
        failed = [
            f"seed {r['seed']}: {_harness.status_label(r)}"
            for r in group
            if r["status"] != "ok"
        ]
        seeds = "; ".join([f"{len(ok)}/{len(group)}", *failed])
        if not ok:
            rows.append([dataset, METHODS[method], *["-"] * (len(SCORES) + 1), seeds])
            continue
        scores = [_cell([result[key] for result in ok]) for key, _ in SCORES]
        fit_s = _harness.summarise([result["fit_s"] for result in ok])["median"]
        rows.append([dataset, METHODS[method], *scores, f"{fit_s:.2f}", seeds])
    return _harness.markdown_table(header, rows)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=list(OPEN_SET), choices=list(OPEN_SET)
    )
    parser.add_argument(
        "--methods", nargs="+", default=list(METHODS), choices=list(METHODS)
    )
    _harness.add_params_argument(parser)
    _harness.add_job_arguments(parser, out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    machine = _harness.machine_description()
    print(f"# {machine}", flush=True)
    records = run_open_set(
        args.datasets,
        args.methods,
        args.seeds,
        params=args.params,
        **_harness.job_caps(args),
    )
    settings = f"ContrastiveEmbedder settings: {args.params or 'defaults'}"
    markdown = f"{machine}; seeds {args.seeds}; {settings}\n\n{open_set_table(records)}"
    print(markdown)
    raw = _harness.raw_results(argv, machine, args, records)
    _harness.write_outputs(args.out, "open_set", markdown, raw)
    return records


if __name__ == "__main__":
    main()
