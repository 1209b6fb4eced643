"""One-off costs of a fit, and whether torch.compile would pay on this machine.

``startup``: in fresh processes (as a script's first fit, or each
``GridSearchCV`` worker's, would be), the time to import the package, the
first digits fit, the second one, and ``import torch._dynamo`` alone, which
the first optimizer triggers (torch's ``Optimizer.add_param_group`` and
``step`` import it lazily; no public switch avoids it).

``search``: in fresh processes, a grid search as a script's first one (the
search of ``bench_threads.py``: digits training split, 4 margins x 2 folds
plus the refit), then the same search again, with ``n_jobs=1`` and with
``n_jobs=2``: the first ``n_jobs=2`` search starts joblib's workers, each of
which imports torch, scikit-learn and this package and pays its first fit's
one-off costs; the second reuses them.

``compile``: the bare training loop of ``bench_vs_torch.py`` over one epoch
of synthetic data, eager against ``torch.compile`` of the network, both
including their first step (where compilation happens).

    python benchmarks/bench_startup.py [--repeats 3]

Writes ``benchmarks/results/startup.md`` (and ``startup.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _harness import machine_description, markdown_table, write_outputs  # noqa: E402

_STARTUP = """
import json, time
t0 = time.perf_counter()
import numpy as np
from sklearn.datasets import load_digits
from sklearn_contrastive import ContrastiveEmbedder
t1 = time.perf_counter()
X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
ContrastiveEmbedder(random_state=0).fit(X, y)
t2 = time.perf_counter()
ContrastiveEmbedder(random_state=0).fit(X, y)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first fit": t2 - t1, "second fit": t3 - t2}))
"""

_SEARCH = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn_contrastive import ContrastiveEmbedder
t1 = time.perf_counter()
X, y = load_digits(return_X_y=True)
X, _, y, _ = train_test_split(
    (X / 16).astype(np.float32), y, test_size=0.3, random_state=0, stratify=y
)
n_jobs = int(sys.argv[1])
times = {}
for run in ("first search", "second search"):
    search = GridSearchCV(
        ContrastiveEmbedder(max_epochs=10, random_state=0),
        {"margin": [0.25, 0.5, 1.0, 2.0]}, cv=2, n_jobs=n_jobs,
    )
    start = time.perf_counter()
    search.fit(X, y)
    times[f"n_jobs={n_jobs}, {run}"] = time.perf_counter() - start
print(json.dumps(times))
"""

_DYNAMO = """
import json, time
import torch
t0 = time.perf_counter()
import torch._dynamo
print(json.dumps({"import torch._dynamo": time.perf_counter() - t0}))
"""

_COMPILE = """
import json, sys, time
import numpy as np, torch
from sklearn_contrastive.losses import contrastive_loss
from sklearn_contrastive.networks import MLP
from sklearn_contrastive.pairs import all_pairs
rng = np.random.default_rng(0)
X = torch.from_numpy(rng.normal(size=(256 * 200, 50)).astype(np.float32))
y = torch.from_numpy(rng.integers(0, 10, len(X)))
torch.manual_seed(0)
module = MLP(50, (256, 128), 32, True, 0.2)
optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
forward = torch.compile(module) if sys.argv[1] == "compile" else module
start = time.perf_counter()
for s in range(0, len(X), 256):
    optimizer.zero_grad()
    loss = contrastive_loss(torch.pdist(forward(X[s:s + 256])), all_pairs(y[s:s + 256]))
    loss.backward()
    optimizer.step()
print(json.dumps({sys.argv[1]: time.perf_counter() - start}))
"""


def run_snippet(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line."""
    output = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def medians(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    runs = {"startup": [], "dynamo": [], "search": [], "eager": [], "compile": []}
    for _ in range(args.repeats):
        runs["startup"].append(run_snippet(_STARTUP))
        runs["dynamo"].append(run_snippet(_DYNAMO))
        runs["search"].append(run_snippet(_SEARCH, "1") | run_snippet(_SEARCH, "2"))
        runs["eager"].append(run_snippet(_COMPILE, "eager"))
        runs["compile"].append(run_snippet(_COMPILE, "compile"))
    startup = medians(runs["startup"]) | medians(runs["dynamo"])
    search = medians(runs["search"])
    loop = medians(runs["eager"]) | medians(runs["compile"])
    machine = machine_description()
    tables = (
        f"{machine}; medians of {args.repeats} fresh processes\n\n"
        + markdown_table(
            ["step (fresh process, digits)", "seconds"],
            [[key, f"{value:.2f}"] for key, value in startup.items()],
        )
        + "\n"
        + markdown_table(
            ["grid search (fresh process, digits, 4 x 2 fits + refit)", "seconds"],
            [[key, f"{value:.2f}"] for key, value in search.items()],
        )
        + "\n"
        + markdown_table(
            ["bare loop, 200 steps of 256 rows x 50 features", "seconds"],
            [[key, f"{value:.2f}"] for key, value in loop.items()],
        )
    )
    print(tables)
    write_outputs(args.out, "startup", tables, {"machine": machine, **runs})


if __name__ == "__main__":
    main()
