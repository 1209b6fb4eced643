"""Embedding quality against the field: 5-NN accuracy, KMeans ARI and fit time.

For each data set (70/30 stratified split by the seed, standardised on the
training part, see ``datasets.py``) and each method, fit on the training
split, embed both splits and report

* the 5-NN test accuracy (``KNeighborsClassifier(5)`` fitted on the embedded
  training split, scored on the embedded test split);
* the adjusted Rand index of ``KMeans(n_clusters=n_classes, n_init=10)`` on
  the embedded test split against the test labels;
* the fit time, after a warm-up fit on 100 training rows in the same process
  (one-off costs such as torch's lazy import of ``torch._dynamo`` at the
  first optimizer step or numba's compilation are not a fit's cost).

Methods: the raw (standardised) features, PCA, scikit-learn's
NeighborhoodComponentsAnalysis, supervised UMAP (``umap.UMAP().fit(X, y)``,
the optional ``bench`` extra; the training split's embedding is UMAP's
``embedding_``) and ContrastiveEmbedder with its defaults. PCA, NCA and UMAP
use 32 components, or all features when there are fewer; ContrastiveEmbedder
its default ``n_components=32``. The seed sets both the split and the
method's ``random_state``; the table gives medians over the seeds with the
range [min, max] beside them.

Each (data set, method, seed) job runs alone in a fresh process under a time
and a memory cap (``_harness.run_capped``); a job over a cap is reported as
such in the table, never dropped.

    python benchmarks/bench_quality.py [--datasets digits ...] [--methods pca ...]
        [--seeds 0 1 2] [--time-cap 600] [--memory-cap 8] [--out benchmarks/results]
        [--params '{"max_epochs": 5}']

Writes ``quality.md`` (the table), ``quality.json`` (every job) and
``quality.png`` (the plot) to ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _harness  # noqa: E402
from datasets import DATASETS  # noqa: E402

METHODS = {
    "raw": "raw features",
    "pca": "PCA",
    "nca": "NCA",
    "umap": "supervised UMAP",
    "contrastive": "ContrastiveEmbedder",
}
# The module a method needs beyond the package's own dependencies.
REQUIRES = {"umap": "umap"}
MAX_COMPONENTS = 32
WARMUP_ROWS = 100


def make_method(method: str, n_features: int, seed: int, params=None):
    """The unfitted estimator of ``method`` and the width of its embedding;
    ``params`` are ContrastiveEmbedder settings (``--params``), ignored by
    the other methods."""
    n_components = min(MAX_COMPONENTS, n_features)
    if method == "raw":
        from sklearn.preprocessing import FunctionTransformer

        return FunctionTransformer(), n_features
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=n_components, random_state=seed), n_components
    if method == "nca":
        from sklearn.neighbors import NeighborhoodComponentsAnalysis

        nca = NeighborhoodComponentsAnalysis(
            n_components=n_components, random_state=seed
        )
        return nca, n_components
    if method == "umap":
        import umap

        return umap.UMAP(n_components=n_components, random_state=seed), n_components
    if method == "contrastive":
        from sklearn_contrastive import ContrastiveEmbedder

        embedder = ContrastiveEmbedder(random_state=seed).set_params(**(params or {}))
        return embedder, embedder.n_components
    raise ValueError(f"unknown method {method!r}; choose from {list(METHODS)}")


def missing_requirement(method: str) -> str | None:
    """The module ``method`` needs that is not installed, or None."""
    module = REQUIRES.get(method)
    if module is not None and importlib.util.find_spec(module) is None:
        return module
    return None


def quality_job(dataset: str, method: str, seed: int, params=None) -> dict:
    """Fit one method on one split; the job that runs in a capped process."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.neighbors import KNeighborsClassifier

    X_train, X_test, y_train, y_test = DATASETS[dataset](seed)
    n_features = X_train.shape[1]
    n_classes = len(np.unique(y_train))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        warm_up, _ = make_method(method, n_features, seed, params)
        warm_up.fit(X_train[:WARMUP_ROWS], y_train[:WARMUP_ROWS])
        warmup_s = time.perf_counter() - start

        model, n_components = make_method(method, n_features, seed, params)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        # UMAP's transform of its own training rows only approximates the
        # embedding it learned for them; embedding_ is that embedding.
        Z_train = model.embedding_ if method == "umap" else model.transform(X_train)
        Z_test = model.transform(X_test)

        knn = KNeighborsClassifier(n_neighbors=5).fit(Z_train, y_train)
        accuracy = knn.score(Z_test, y_test)
        clusters = KMeans(n_clusters=n_classes, n_init=10, random_state=seed)
        ari = adjusted_rand_score(y_test, clusters.fit_predict(Z_test))
    return {
        "accuracy": float(accuracy),
        "ari": float(ari),
        "fit_s": fit_s,
        "warmup_s": warmup_s,
        "n_components": n_components,
        "n_train": len(X_train),
        "n_test": len(X_test),
        "n_features": n_features,
        "n_classes": n_classes,
        "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught}),
    }


def run_jobs(
    job,
    progress,
    datasets,
    methods,
    seeds,
    *,
    job_kwargs=None,
    isolate=True,
    log=None,
    **caps,
) -> list[dict]:
    """Run ``job(dataset, method, seed, **job_kwargs)`` for every combination,
    one at a time; one record each (shared with ``bench_open_set.py``).

    ``caps`` are ``_harness.run_capped``'s ``time_cap``, ``memory_cap_gib``
    and ``threads``; ``isolate=False`` runs the jobs in this process, without
    caps (for tests). ``log`` receives ``progress(record)`` per job (default:
    printed). A method whose optional module is missing is recorded as "not
    installed".
    """
    log = log or functools.partial(print, flush=True)
    job_kwargs = job_kwargs or {}
    records = []
    for dataset in datasets:
        for method in methods:
            for seed in seeds:
                key = {"dataset": dataset, "method": method, "seed": seed}
                missing = missing_requirement(method)
                if missing is not None:
                    record = {"status": "not installed", "missing": missing}
                elif isolate:
                    record = _harness.run_capped(
                        job, dataset, method, seed, **job_kwargs, **caps
                    )
                else:
                    result = job(dataset, method, seed, **job_kwargs)
                    record = {"status": "ok", "result": result}
                records.append({**key, **record})
                log(progress(records[-1]))
    return records


def run_quality(
    datasets,
    methods,
    seeds,
    *,
    time_cap=600.0,
    memory_cap_gib=8.0,
    threads=None,
    params=None,
    isolate=True,
    log=None,
) -> list[dict]:
    """Run every (data set, method, seed) job, one at a time; one record each.

    ``isolate=False`` runs the jobs in this process, without caps (for tests).
    ``log`` receives a progress line per job (default: printed).
    """
    return run_jobs(
        quality_job,
        _progress_line,
        datasets,
        methods,
        seeds,
        job_kwargs={"params": params},
        isolate=isolate,
        log=log,
        time_cap=time_cap,
        memory_cap_gib=memory_cap_gib,
        threads=threads,
    )


def _progress_line(record: dict) -> str:
    method = METHODS[record["method"]]
    line = f"{record['dataset']} / {method} / seed {record['seed']}: "
    if record["status"] != "ok":
        return line + _harness.status_label(record)
    result = record["result"]
    line += (
        f"5-NN {result['accuracy']:.3f}, ARI {result['ari']:.3f}, "
        f"fit {result['fit_s']:.2f} s"
    )
    if "wall_s" in record:
        line += (
            f" (job {record['wall_s']:.1f} s, peak {record['peak_rss_gib']:.2f} GiB)"
        )
    return line


def _in_order(values) -> list:
    return list(dict.fromkeys(values))


def _cells(records: list[dict]) -> dict:
    """Medians over the seeds of one (data set, method), with the failures."""
    ok = [record["result"] for record in records if record["status"] == "ok"]
    failures = [
        (record["seed"], _harness.status_label(record))
        for record in records
        if record["status"] != "ok"
    ]
    cells = {"n_ok": len(ok), "n_seeds": len(records), "failures": failures}
    if ok:
        for key in ("accuracy", "ari", "fit_s"):
            cells[key] = _harness.summarise([result[key] for result in ok])
        cells["n_components"] = ok[0]["n_components"]
    return cells


def with_range(summary: dict) -> str:
    """``_harness.summarise``'s median, with ``[min, max]`` when they differ."""
    text = f"{summary['median']:.3f}"
    if summary["min"] != summary["max"]:
        text += f" [{summary['min']:.3f}, {summary['max']:.3f}]"
    return text


def _seconds(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def quality_table(records: list[dict]) -> str:
    """The markdown table: one row per (data set, method), in the order run."""
    header = ["data set", "method", "dims", "5-NN accuracy", "ARI", "fit s", "seeds"]
    rows = []
    for dataset in _in_order(r["dataset"] for r in records):
        for method in _in_order(r["method"] for r in records):
            group = [
                r for r in records if r["dataset"] == dataset and r["method"] == method
            ]
            if not group:
                continue
            cells = _cells(group)
            seeds = f"{cells['n_ok']}/{cells['n_seeds']}"
            if cells["n_ok"] == 0:
                labels = _in_order(label for _, label in cells["failures"])
                rows.append([dataset, METHODS[method], "-", "; ".join(labels)])
                rows[-1] += ["-", "-", seeds]
                continue
            seeds += "".join(
                f"; seed {seed}: {label}" for seed, label in cells["failures"]
            )
            rows.append(
                [
                    dataset,
                    METHODS[method],
                    str(cells["n_components"]),
                    with_range(cells["accuracy"]),
                    with_range(cells["ari"]),
                    _seconds(cells["fit_s"]["median"]),
                    seeds,
                ]
            )
    return _harness.markdown_table(header, rows)


def dataset_lines(records: list[dict]) -> str:
    """One line per data set: rows, features and classes, from a finished job."""
    lines = {}
    for record in records:
        if record["status"] == "ok" and record["dataset"] not in lines:
            r = record["result"]
            lines[record["dataset"]] = (
                f"- {record['dataset']}: {r['n_train']:,} training / "
                f"{r['n_test']:,} test rows, {r['n_features']} features, "
                f"{r['n_classes']} classes"
            )
    return "\n".join(lines.values()) + "\n"


def plot_quality(records: list[dict], path: Path) -> None:
    """Grouped bars: 5-NN accuracy and ARI per data set and method.

    Bars are medians over the seeds, whiskers the range; a method with no
    finished seed gets its status written where its bar would be.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    datasets = _in_order(r["dataset"] for r in records)
    methods = _in_order(r["method"] for r in records)
    width = 0.8 / len(methods)
    fig = Figure(
        figsize=(max(6.0, 1.8 * len(datasets) + 2.0), 6.0), layout="constrained"
    )
    axes = fig.subplots(2, 1, sharex=True)
    for ax, key, ylabel in zip(
        axes,
        ("accuracy", "ari"),
        ("5-NN test accuracy", "KMeans ARI (test)"),
        strict=True,
    ):
        for j, method in enumerate(methods):
            color = f"C{j}"
            for i, dataset in enumerate(datasets):
                group = [
                    r
                    for r in records
                    if r["dataset"] == dataset and r["method"] == method
                ]
                x = i + (j - (len(methods) - 1) / 2) * width
                if not group:
                    continue
                cells = _cells(group)
                if cells["n_ok"] == 0:
                    ax.text(
                        x,
                        0.02,
                        cells["failures"][0][1].split(" (")[0],
                        rotation=90,
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        color=color,
                    )
                    continue
                summary = cells[key]
                ax.bar(
                    x,
                    summary["median"],
                    width,
                    color=color,
                    yerr=[
                        [summary["median"] - summary["min"]],
                        [summary["max"] - summary["median"]],
                    ],
                    capsize=2,
                )
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(range(len(datasets)), datasets)
    handles = [
        Patch(color=f"C{j}", label=METHODS[method]) for j, method in enumerate(methods)
    ]
    fig.legend(handles=handles, loc="outside upper center", ncols=3, fontsize=8)
    fig.savefig(path, dpi=120)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS)
    )
    parser.add_argument(
        "--methods", nargs="+", default=list(METHODS), choices=list(METHODS)
    )
    _harness.add_job_arguments(parser, out=Path(__file__).parent / "results")
    _harness.add_params_argument(parser)
    args = parser.parse_args(argv)

    machine = _harness.machine_description()
    print(f"# {machine}", flush=True)
    records = run_quality(
        args.datasets,
        args.methods,
        args.seeds,
        params=args.params,
        **_harness.job_caps(args),
    )
    caps = (
        f"caps per job: {args.time_cap:g} s, {args.memory_cap:g} GiB; "
        f"seeds {' '.join(map(str, args.seeds))}; "
        f"ContrastiveEmbedder settings: {args.params or 'defaults'}"
    )
    markdown = (
        f"{machine}; {caps}\n\n{dataset_lines(records)}\n{quality_table(records)}"
    )
    print(markdown)
    raw = _harness.raw_results(argv, machine, args, records)
    _harness.write_outputs(args.out, "quality", markdown, raw)
    plot_quality(records, args.out / "quality.png")
    return records


if __name__ == "__main__":
    main()
