"""What each skorch override of ``ContrastiveNet`` buys, in fit time.

``sklearn_contrastive._net.ContrastiveNet`` changes skorch in three places,
each through an override point, and each docstring gives what it measured
to buy. This script measures them, the first in two
ways (four rows per data set): for each, fits of the default estimator (same
seed) alternate with fits where it is switched back to skorch's own
behaviour, inside one process, and the paired ratio ``skorch's / ours`` of
the two fits that ran back to back is reported (median and quartiles; above
1 means the override saves time).

* ``lean step``: ``train_step`` / ``train_step_single`` (no closure or
  ``on_grad_computed`` notification for our single-evaluation optimizers;
  training mode set once per fit, not once per batch), against
  ``NeuralNet.train_step`` / ``NeuralNet.train_step_single``;
* ``plain step alone``: only the closure-free ``train_step`` switched off
  (the per-batch training-mode reset still skipped);
* ``EpochLoss``: the ``train_loss`` / ``valid_loss`` callbacks, against
  skorch's ``PassthroughScoring`` (skorch's ``_default_callbacks``);
* ``EpochHistory``: the history's integer indexing, against skorch's
  ``History``.

    python benchmarks/bench_overrides.py [--datasets wine digits] [--repeats 41]

Writes ``overrides.md`` (the table) and ``overrides.json`` to ``--out``
(``benchmarks/results``). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNet

sys.path.insert(0, str(Path(__file__).parent))
from _harness import (  # noqa: E402
    machine_description,
    markdown_table,
    raw_results,
    write_outputs,
)
from datasets import DATASETS  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder  # noqa: E402
from sklearn_contrastive._net import ContrastiveNet  # noqa: E402

_OUR_ON_EPOCH_BEGIN = ContrastiveNet.on_epoch_begin


def _skorch_closure_step(self, net, **kwargs):
    _OUR_ON_EPOCH_BEGIN(self, net, **kwargs)
    self.plain_step_ = False  # skorch's closure step for every batch


#: Override name -> {ContrastiveNet attribute: skorch's replacement}.
OVERRIDES = {
    "lean step": {
        "train_step": NeuralNet.train_step,
        "train_step_single": NeuralNet.train_step_single,
    },
    "plain step alone": {"on_epoch_begin": _skorch_closure_step},
    "EpochLoss": {"_default_callbacks": vars(NeuralNet)["_default_callbacks"]},
    "EpochHistory": {"initialize_history": NeuralNet.initialize_history},
}


def _fit_seconds(X, y, max_epochs: int) -> float:
    start = time.perf_counter()
    ContrastiveEmbedder(max_epochs=max_epochs, random_state=0).fit(X, y)
    return time.perf_counter() - start


def measure(X, y, override: str, repeats: int, max_epochs: int) -> dict:
    """Paired ratios skorch's / ours over ``repeats`` back-to-back pairs."""
    replacements = OVERRIDES[override]
    ours = {name: ContrastiveNet.__dict__[name] for name in replacements}
    times = {"ours": [], "skorch": []}
    for repeat in range(repeats):
        # Alternate which side goes first, so a drift of the machine cancels.
        for side in ("ours", "skorch") if repeat % 2 else ("skorch", "ours"):
            if side == "skorch":
                for name, replacement in replacements.items():
                    setattr(ContrastiveNet, name, replacement)
            try:
                times[side].append(_fit_seconds(X, y, max_epochs))
            finally:
                for name, method in ours.items():
                    setattr(ContrastiveNet, name, method)
    pairs = list(zip(times["skorch"], times["ours"], strict=True))
    ratios = [s / o for s, o in pairs]
    saved = [(s - o) / max_epochs for s, o in pairs]
    return {
        "override": override,
        "repeats": repeats,
        "fit_s": statistics.median(times["ours"]),
        "ratio": statistics.median(ratios),
        "ratio_q1": float(np.percentile(ratios, 25)),
        "ratio_q3": float(np.percentile(ratios, 75)),
        "saved_ms_per_epoch": 1e3 * statistics.median(saved),
    }


def overrides_table(records: list[dict]) -> str:
    header = [
        "data",
        "override",
        "pairs of fits",
        "our fit s (median)",
        "skorch's / ours (median, quartiles)",
        "saved ms an epoch (median)",
    ]
    rows = [
        [
            r["dataset"],
            r["override"],
            str(r["repeats"]),
            f"{r['fit_s']:.3f}",
            f"{r['ratio']:.3f} ({r['ratio_q1']:.3f}-{r['ratio_q3']:.3f})",
            f"{r['saved_ms_per_epoch']:.2f}",
        ]
        for r in records
    ]
    return markdown_table(header, rows)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["wine", "digits"])
    parser.add_argument("--overrides", nargs="+", default=list(OVERRIDES))
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument("--max-epochs", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    records = []
    for dataset in args.datasets:
        X, _, y, _ = DATASETS[dataset](seed=0)
        for _ in range(2):  # warm-up: torch's lazy imports, allocator
            _fit_seconds(X, y, args.max_epochs)
        for override in args.overrides:
            record = measure(X, y, override, args.repeats, args.max_epochs)
            records.append({"dataset": dataset, **record})
            print(overrides_table(records[-1:]).splitlines()[-1], flush=True)
    machine = machine_description()
    table = overrides_table(records)
    write_outputs(
        args.out,
        "overrides",
        f"{machine}\n\n{table}\n",
        raw_results(argv, machine, args, records),
    )
    print(table)
    return records


if __name__ == "__main__":
    main()
