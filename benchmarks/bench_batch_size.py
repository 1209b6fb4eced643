"""Cost per row against the batch size: the fit, and the all-pairs loss alone.

1. Training: for each batch size ``B`` (default 256 to 16,384), fit
   ``ContrastiveEmbedder(max_epochs=2, batch_size=B, random_state=0)`` on
   ``--rows`` rows x ``--features`` features of 10 Gaussian classes
   (``datasets.gaussian_classes``, default 100,000 x 50), all in this process,
   one size after the other. Training rows/s is rows over the median epoch's
   duration (``history_[i]["dur"]``), ms per step that duration over its
   batches; the last column is rows/s relative to the first batch size.
2. The loss alone: ``ContrastiveLoss`` (the condensed form up to 512 rows,
   blocks above) forward and backward on ``B`` unit vectors of 32
   components (the default ``n_components``) and 10 classes, median of
   ``--repeats`` runs, next to the condensed form the loss used before
   (:func:`torch.pdist` over every pair, then
   :func:`~sklearn_contrastive.losses.contrastive_loss`; run up to
   ``--condensed-up-to`` rows), and the peak memory each adds: a fresh
   process per size (``benchmarks/_harness.run_capped``) whose peak resident
   set after one loss, over its resident set before it (the peak reset).

    python benchmarks/bench_batch_size.py [--rows 100000] [--features 50]
        [--batch-sizes 256 1024 2048 4096 16384] [--condensed-up-to 4096]
        [--threads N] [--skip-memory] [--out benchmarks/results]

Writes ``batch_size.md`` and ``batch_size.json`` to ``--out``. Run it on an
otherwise idle machine: the rows are compared side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import _harness  # noqa: E402
from datasets import gaussian_classes  # noqa: E402

MIB = 2**20
N_COMPONENTS = 32
N_CLASSES = 10


def training_rate(X, y, batch_size: int, max_epochs: int = 2) -> dict:
    """Rows/s and ms per step of the fit at ``batch_size`` (median epoch)."""
    from sklearn_contrastive import ContrastiveEmbedder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        embedder = ContrastiveEmbedder(
            max_epochs=max_epochs, batch_size=batch_size, random_state=0
        ).fit(X, y)
    epoch_s = statistics.median(epoch["dur"] for epoch in embedder.history_)
    steps = embedder.history_[-1]["train_batch_count"]
    return {
        "batch_size": batch_size,
        "train_rows_per_s": len(X) / epoch_s,
        "ms_per_step": 1e3 * epoch_s / steps,
    }


def _loss_inputs(batch_size: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.nn.functional.normalize(
        torch.randn(batch_size, N_COMPONENTS, generator=generator), dim=1
    )
    labels = torch.randint(0, N_CLASSES, (batch_size,), generator=generator)
    return embeddings, labels


def _condensed_loss(embeddings, labels):
    """The former formulation: every pair's distance from torch.pdist."""
    from sklearn_contrastive.losses import contrastive_loss
    from sklearn_contrastive.pairs import all_pairs

    return contrastive_loss(torch.pdist(embeddings), all_pairs(labels))


def _loss_function(form: str):
    from sklearn_contrastive.losses import ContrastiveLoss

    if form == "condensed":
        return _condensed_loss
    criterion = ContrastiveLoss()
    criterion.record_statistics = False  # as in training, on most batches
    return criterion


def loss_time(batch_size: int, form: str, repeats: int) -> float:
    """Median seconds of one forward and backward pass of the loss."""
    loss = _loss_function(form)
    embeddings, labels = _loss_inputs(batch_size)
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        leaf = embeddings.clone().requires_grad_(True)
        start = time.perf_counter()
        loss(leaf, labels).backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def _status_bytes(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (Linux), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def loss_memory_job(batch_size: int, form: str) -> int:
    """Bytes one forward and backward pass adds to the resident set at its peak.

    Linux: writing ``5`` to ``/proc/self/clear_refs`` resets the peak
    (``VmHWM``) to the current resident set, so the import's own peak does
    not hide the loss's.
    """
    loss = _loss_function(form)
    embeddings, labels = _loss_inputs(batch_size)
    # A small batch first: one-off allocations (thread pools, kernels).
    small = _loss_inputs(64)
    loss(small[0].requires_grad_(True), small[1]).backward()
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_bytes("VmRSS")
    loss(embeddings.requires_grad_(True), labels).backward()
    return _status_bytes("VmHWM") - before


def loss_memory(batch_size: int, form: str, threads) -> float | None:
    record = _harness.run_capped(
        loss_memory_job, batch_size, form, time_cap=600, threads=threads
    )
    return record["result"] / MIB if record["status"] == "ok" else None


def _cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def training_table(records: list[dict]) -> str:
    first = records[0]["train_rows_per_s"]
    rows = [
        [
            f"{r['batch_size']:,}",
            f"{r['ms_per_step']:.1f}",
            f"{r['train_rows_per_s']:,.0f}",
            f"{r['train_rows_per_s'] / first:.2f}",
        ]
        for r in records
    ]
    header = ["batch_size", "ms per step", "training rows/s", "rows/s vs first"]
    return _harness.markdown_table(header, rows)


def loss_table(records: list[dict]) -> str:
    rows = [
        [
            f"{r['batch_size']:,}",
            _cell(r["block_ms"], ".1f"),
            _cell(r["condensed_ms"], ".1f"),
            _cell(r["block_mib"], ",.0f"),
            _cell(r["condensed_mib"], ",.0f"),
        ]
        for r in records
    ]
    header = [
        "batch_size",
        "ContrastiveLoss ms",
        "condensed pdist ms",
        "ContrastiveLoss peak MiB",
        "condensed pdist peak MiB",
    ]
    return _harness.markdown_table(header, rows)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument(
        "--batch-sizes", nargs="+", type=int, default=[256, 1024, 2048, 4096, 16384]
    )
    parser.add_argument("--max-epochs", type=int, default=2)
    parser.add_argument("--condensed-up-to", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--skip-memory", action="store_true", help="no loss memory processes"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    machine = _harness.machine_description()
    X, y = gaussian_classes(args.rows, args.features)
    training_rate(X[:1000], y[:1000], 256, max_epochs=1)  # warm-up: one-off costs
    training = []
    for batch_size in args.batch_sizes:
        training.append(training_rate(X, y, batch_size, args.max_epochs))
        print(training_table(training).splitlines()[-1], flush=True)
    losses = []
    for batch_size in args.batch_sizes:
        condensed = batch_size <= args.condensed_up_to
        losses.append(
            {
                "batch_size": batch_size,
                "block_ms": 1e3 * loss_time(batch_size, "blocks", args.repeats),
                "condensed_ms": (
                    1e3 * loss_time(batch_size, "condensed", args.repeats)
                    if condensed
                    else None
                ),
                "block_mib": (
                    None
                    if args.skip_memory
                    else loss_memory(batch_size, "blocks", args.threads)
                ),
                "condensed_mib": (
                    loss_memory(batch_size, "condensed", args.threads)
                    if condensed and not args.skip_memory
                    else None
                ),
            }
        )
        print(loss_table(losses).splitlines()[-1], flush=True)
    markdown = (
        f"{machine}\n\nTraining, {args.rows:,} rows x {args.features} features, "
        f"median of {args.max_epochs} epochs:\n\n{training_table(training)}\n\n"
        f"The loss alone, forward and backward, B x {N_COMPONENTS} unit vectors, "
        f"{N_CLASSES} classes, median of {args.repeats}:\n\n{loss_table(losses)}\n"
    )
    print(markdown)
    records = {"training": training, "loss": losses}
    _harness.write_outputs(
        args.out,
        "batch_size",
        markdown,
        _harness.raw_results(argv, machine, args, [records]),
    )
    return records


if __name__ == "__main__":
    main()
