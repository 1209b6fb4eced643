"""Model files: size, save and load time of each way to persist a fitted model.

A default ``ContrastiveEmbedder`` fitted on digits (25 epochs) is written as
the safe file (``save``, with and without the optimizer's state), with
joblib, pickle and skops; each is read back ``--repeats`` times in this
process, and the loaded model's ``transform`` compared with the original's
bit for bit.

    python benchmarks/bench_persistence.py [--repeats 5]

Writes ``benchmarks/results/persistence.md`` (and ``persistence.json``).
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _harness import machine_description, markdown_table, write_outputs  # noqa: E402


def _formats():
    """``{name: (dump(model, path), load(path))}`` for every available format."""
    from sklearn_contrastive import ContrastiveEmbedder

    formats = {
        "save (safe file)": (lambda m, p: m.save(p), ContrastiveEmbedder.load),
        "save, include_optimizer=False": (
            lambda m, p: m.save(p, include_optimizer=False),
            ContrastiveEmbedder.load,
        ),
        "joblib": (joblib.dump, joblib.load),
        "pickle": (
            lambda m, p: p.write_bytes(pickle.dumps(m)),
            lambda p: pickle.loads(p.read_bytes()),
        ),
    }
    try:
        import skops.io as sio
    except ImportError:
        return formats

    def skops_load(path):
        return sio.load(path, trusted=sio.get_untrusted_types(file=path))

    formats["skops.io"] = (sio.dump, skops_load)
    return formats


def measure(model, X, directory: Path, repeats: int) -> list[dict]:
    """One record per format: file size, save and load seconds (medians)."""
    expected = model.transform(X)
    records = []
    for name, (dump, load) in _formats().items():
        path = directory / name.replace(" ", "_").replace(",", "").replace("=", "")
        saves, loads = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            dump(model, path)
            saves.append(time.perf_counter() - start)
            start = time.perf_counter()
            loaded = load(path)
            loads.append(time.perf_counter() - start)
        records.append(
            {
                "format": name,
                "bytes": path.stat().st_size,
                "save_s": statistics.median(saves),
                "load_s": statistics.median(loads),
                "identical": bool(np.array_equal(loaded.transform(X), expected)),
            }
        )
    return records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits

    from sklearn_contrastive import ContrastiveEmbedder

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    model = ContrastiveEmbedder(random_state=0).fit(X, y)
    with tempfile.TemporaryDirectory() as directory:
        records = measure(model, X, Path(directory), args.repeats)
    machine = machine_description()
    table = f"{machine}; medians of {args.repeats} saves and loads\n\n" + (
        markdown_table(
            ["format", "kB", "save ms", "load ms", "transform bit-identical"],
            [
                [
                    r["format"],
                    f"{r['bytes'] / 1000:.0f}",
                    f"{r['save_s'] * 1000:.1f}",
                    f"{r['load_s'] * 1000:.1f}",
                    "yes" if r["identical"] else "no",
                ]
                for r in records
            ],
        )
    )
    print(table)
    write_outputs(args.out, "persistence", table, {"machine": machine, **vars(args)})


if __name__ == "__main__":
    main()
