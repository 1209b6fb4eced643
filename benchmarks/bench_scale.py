"""How ContrastiveEmbedder scales with the number of rows: time, memory, throughput.

For each size (default 10k, 100k and 1M rows x 50 features: 10 Gaussian
classes in float32, ``datasets.gaussian_classes``), in a fresh process:

1. import, generate the data, and fit once on 100 rows for one epoch (the
   warm-up pays one-off costs such as torch's lazy import of
   ``torch._dynamo``); the peak resident memory so far (``ru_maxrss``) is the
   *baseline*;
2. fit ``ContrastiveEmbedder(max_epochs=2, random_state=0)`` on all rows:
   seconds per epoch are the median of ``history_[i]["dur"]``, and the peak
   resident memory minus the baseline is the memory the fit added, shown next
   to the size of the data, ``n * d * 4`` bytes;
3. transform all rows once to warm up, then three times: throughput is rows
   divided by the median time (the default network, 50 -> 256 -> 128 -> 32).

    python benchmarks/bench_scale.py [--sizes 10000 100000 1000000]
        [--max-epochs 2] [--time-cap 1800] [--memory-cap 16] [--out benchmarks/results]

Writes ``scale.md``, ``scale.json`` and ``scale.png`` (time per epoch and
added memory against rows, log-log, with lines of slope 1) to ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _harness  # noqa: E402
from datasets import gaussian_classes  # noqa: E402

MIB = 2**20
WARMUP_ROWS = 100


def scale_job(
    n_rows: int, n_features: int = 50, max_epochs: int = 2, transform_repeats: int = 3
) -> dict:
    """Time and memory of one fit and of transform; run it in a fresh process."""
    from sklearn_contrastive import ContrastiveEmbedder

    X, y = gaussian_classes(n_rows, n_features)
    ContrastiveEmbedder(max_epochs=1, random_state=0).fit(
        X[:WARMUP_ROWS], y[:WARMUP_ROWS]
    )
    baseline = _harness.own_peak_rss_bytes()

    start = time.perf_counter()
    embedder = ContrastiveEmbedder(max_epochs=max_epochs, random_state=0).fit(X, y)
    fit_s = time.perf_counter() - start
    after_fit = _harness.own_peak_rss_bytes()

    embedder.transform(X)
    transform_s = []
    for _ in range(transform_repeats):
        start = time.perf_counter()
        embedder.transform(X)
        transform_s.append(time.perf_counter() - start)
    after_transform = _harness.own_peak_rss_bytes()

    epoch_s = [epoch["dur"] for epoch in embedder.history_]
    return {
        "n_rows": n_rows,
        "n_features": n_features,
        "data_bytes": X.nbytes,
        "baseline_rss_bytes": baseline,
        "fit_extra_bytes": after_fit - baseline,
        "transform_extra_bytes": after_transform - baseline,
        "epoch_s": epoch_s,
        "s_per_epoch": statistics.median(epoch_s),
        "fit_s": fit_s,
        "batches_per_epoch": embedder.history_[-1]["train_batch_count"],
        "transform_s": transform_s,
        "transform_rows_per_s": n_rows / statistics.median(transform_s),
    }


def run_scale(
    sizes,
    *,
    n_features=50,
    max_epochs=2,
    time_cap=1800.0,
    memory_cap_gib=16.0,
    threads=None,
    log=None,
) -> list[dict]:
    """One capped process per size, one at a time; a record each.

    ``log`` receives a progress line per size (default: printed).
    """
    log = log or functools.partial(print, flush=True)
    records = []
    for n_rows in sizes:
        record = _harness.run_capped(
            scale_job,
            n_rows,
            n_features,
            max_epochs,
            time_cap=time_cap,
            memory_cap_gib=memory_cap_gib,
            threads=threads,
        )
        records.append({"n_rows": n_rows, **record})
        if record["status"] == "ok":
            result = record["result"]
            log(
                f"{n_rows:,} rows: {result['s_per_epoch']:.2f} s/epoch, "
                f"+{result['fit_extra_bytes'] / MIB:.0f} MiB, "
                f"{result['transform_rows_per_s']:,.0f} rows/s"
            )
        else:
            log(f"{n_rows:,} rows: {_harness.status_label(record)}")
    return records


def scale_table(records: list[dict], n_features: int) -> str:
    """The markdown table: one row per size; a failed size says why."""
    header = [
        "rows",
        "data MiB (n·d·4)",
        "baseline RSS MiB",
        "fit: peak - baseline MiB",
        "transform: peak - baseline MiB",
        "s / epoch",
        "transform rows/s",
    ]
    rows = []
    for record in records:
        if record["status"] != "ok":
            size = record["n_rows"] * n_features * 4 / MIB
            label = _harness.status_label(record)
            rows.append([f"{record['n_rows']:,}", f"{size:.0f}", label] + ["-"] * 4)
            continue
        r = record["result"]
        rows.append(
            [
                f"{r['n_rows']:,}",
                f"{r['data_bytes'] / MIB:.0f}",
                f"{r['baseline_rss_bytes'] / MIB:.0f}",
                f"{r['fit_extra_bytes'] / MIB:.0f}",
                f"{r['transform_extra_bytes'] / MIB:.0f}",
                f"{r['s_per_epoch']:.2f}",
                f"{r['transform_rows_per_s']:,.0f}",
            ]
        )
    return _harness.markdown_table(header, rows)


def plot_scale(records: list[dict], path: Path) -> None:
    """Time per epoch and added memory against rows, log-log.

    The dotted lines have slope 1 through the smallest size: growth linear in
    n follows them. The data size ``n * d * 4`` is drawn for comparison.
    """
    from matplotlib.figure import Figure

    results = [record["result"] for record in records if record["status"] == "ok"]
    fig = Figure(figsize=(9.0, 3.8), layout="constrained")
    time_ax, memory_ax = fig.subplots(1, 2)
    if results:
        n = [r["n_rows"] for r in results]
        seconds = [r["s_per_epoch"] for r in results]
        time_ax.plot(n, seconds, "o-", label="ContrastiveEmbedder")
        time_ax.plot(
            n, [seconds[0] * k / n[0] for k in n], ":", c="gray", label="slope 1"
        )
        extra = [max(r["fit_extra_bytes"], 1) / MIB for r in results]
        data = [r["data_bytes"] / MIB for r in results]
        memory_ax.plot(n, extra, "o-", label="fit: peak RSS - baseline")
        memory_ax.plot(n, data, "s--", label="data (n·d·4 bytes)")
        memory_ax.plot(
            n, [extra[0] * k / n[0] for k in n], ":", c="gray", label="slope 1"
        )
    time_ax.set(xscale="log", yscale="log", xlabel="rows", ylabel="seconds / epoch")
    memory_ax.set(xscale="log", yscale="log", xlabel="rows", ylabel="MiB")
    for ax in (time_ax, memory_ax):
        ax.grid(which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000]
    )
    parser.add_argument("--n-features", type=int, default=50)
    parser.add_argument("--max-epochs", type=int, default=2)
    parser.add_argument(
        "--time-cap", type=float, default=1800.0, help="seconds per size (1800)"
    )
    parser.add_argument(
        "--memory-cap", type=float, default=16.0, help="GiB per size (16)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="threads per job (default: cores)"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    machine = _harness.machine_description()
    print(f"# {machine}", flush=True)
    records = run_scale(
        args.sizes,
        n_features=args.n_features,
        max_epochs=args.max_epochs,
        time_cap=args.time_cap,
        memory_cap_gib=args.memory_cap,
        threads=args.threads,
    )
    markdown = (
        f"{machine}; {args.n_features} features, max_epochs={args.max_epochs}, "
        f"caps per size: {args.time_cap:g} s, {args.memory_cap:g} GiB\n\n"
        + scale_table(records, args.n_features)
    )
    print(markdown)
    raw = _harness.raw_results(argv, machine, args, records)
    _harness.write_outputs(args.out, "scale", markdown, raw)
    plot_scale(records, args.out / "scale.png")
    return records


if __name__ == "__main__":
    main()
