"""Fit time of ContrastiveEmbedder against a bare PyTorch loop.

Both sides do exactly the same arithmetic: the same MLP, the same Adam
settings, the same class-balanced batches (same sampler, same number of
steps) and the same in-batch contrastive loss, which the bare loop computes
with the library's functions (``torch.pdist``, ``all_pairs``,
``contrastive_loss``). The ratio is then what the estimator adds on top:
input validation, label encoding, skorch's training loop and callbacks, the
loss guard and the per-epoch pair diagnostics. Runs alternate inside one
process and the ratio of the medians is reported; next to it, the median
(and range) of the per-repeat ratios of the two fits that ran back to back,
which a load that comes and goes on a shared machine moves less.

A data set runs at least ``--repeats`` pairs of fits and goes on until the
estimator's fits add up to ``--min-seconds``: a fit of wine takes ~0.1 s, and
15 of them (under 2 s) are at the mercy of one slow spell of a shared machine.

    python benchmarks/bench_vs_torch.py [--repeats 9] [--min-seconds 20]
        [--datasets digits wine]

Writes the table to ``benchmarks/results/speed.md`` (and ``speed.json``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _harness import machine_description, markdown_table, write_outputs  # noqa: E402
from datasets import DATASETS  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder  # noqa: E402
from sklearn_contrastive.losses import contrastive_loss  # noqa: E402
from sklearn_contrastive.networks import MLP  # noqa: E402
from sklearn_contrastive.pairs import ClassBalancedBatchSampler, all_pairs  # noqa: E402


def fit_bare_loop(X, y, est: ContrastiveEmbedder, seed: int) -> torch.nn.Module:
    """The hand-written loop a PyTorch user would write for the same job."""
    torch.manual_seed(seed)
    module = MLP(
        X.shape[1], est.hidden_layer_sizes, est.n_components, est.normalize, est.dropout
    )
    optimizer = torch.optim.Adam(
        module.parameters(), lr=est.lr, weight_decay=est.weight_decay
    )
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    rng = np.random.default_rng(seed)
    module.train()
    # One sampler per fit, iterated once per epoch, as skorch does with a loader.
    sampler = ClassBalancedBatchSampler(y, est.batch_size, random_state=rng)
    for _ in range(est.max_epochs):
        for rows in sampler:
            rows = torch.from_numpy(rows)
            optimizer.zero_grad()
            distances = torch.pdist(module(X_t[rows]))
            loss = contrastive_loss(distances, all_pairs(y_t[rows]), est.margin)
            loss.backward()
            optimizer.step()
    return module


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"needs at least 1 repeat; got {value}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=_positive_int, default=9)
    parser.add_argument("--min-seconds", type=float, default=20.0)
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    machine = f"{machine_description()}; torch uses {torch.get_num_threads()} threads"
    print(machine)
    header = [
        "data",
        "rows",
        "epochs",
        "repeats",
        "estimator s (median)",
        "bare loop s (median)",
        "ratio",
        "paired ratio (median, range)",
    ]
    rows, raw = (
        [],
        {
            "machine": machine,
            "min_repeats": args.repeats,
            "min_seconds": args.min_seconds,
            "runs": [],
        },
    )
    for name in args.datasets:
        X, _, y, _ = DATASETS[name]()
        y = y.astype(np.int64)
        est = ContrastiveEmbedder(random_state=0)
        if args.max_epochs:
            est.set_params(max_epochs=args.max_epochs)
        # Warm-up: the first optimizer step in a process imports torch._dynamo.
        ContrastiveEmbedder(max_epochs=1, random_state=0).fit(X, y)
        fit_bare_loop(X, y, ContrastiveEmbedder(max_epochs=1), 0)
        estimator_times, bare_times = [], []
        repeat = 0
        while repeat < args.repeats or sum(estimator_times) < args.min_seconds:
            # Which side goes first alternates, so that neither always runs
            # right after the other (warm caches, allocator state).
            order = ("estimator", "bare") if repeat % 2 == 0 else ("bare", "estimator")
            for side in order:
                start = time.perf_counter()
                if side == "estimator":
                    est.set_params(random_state=repeat).fit(X, y)
                else:
                    fit_bare_loop(X, y, est, repeat)
                elapsed = time.perf_counter() - start
                (estimator_times if side == "estimator" else bare_times).append(elapsed)
            repeat += 1
        est_median = statistics.median(estimator_times)
        bare_median = statistics.median(bare_times)
        paired = [e / b for e, b in zip(estimator_times, bare_times, strict=True)]
        paired_text = f"{min(paired):.2f}-{max(paired):.2f}"
        rows.append(
            [
                name,
                str(len(X)),
                str(est.max_epochs),
                str(repeat),
                f"{est_median:.2f}",
                f"{bare_median:.2f}",
                f"{est_median / bare_median:.2f}",
                f"{statistics.median(paired):.2f} ({paired_text})",
            ]
        )
        raw["runs"].append(
            {
                "data": name,
                "repeats": repeat,
                "estimator_s": estimator_times,
                "bare_s": bare_times,
            }
        )
        print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(header, rows)
    print(table)
    write_outputs(args.out, "speed", f"{machine}\n\n{table}", raw)


if __name__ == "__main__":
    main()
