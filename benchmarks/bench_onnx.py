"""ONNX export: agreement with ``transform``, speed in onnxruntime, file size.

The default embedder is fitted on the standardised digits; its network is
exported with ``sklearn_contrastive.onnx.to_onnx``. Reported:

* the largest absolute difference between onnxruntime's embeddings and
  ``transform``'s on the 1,797 digits;
* rows per second of ``transform`` (torch) and of onnxruntime's
  ``InferenceSession.run`` on the same batch of ``--batch`` rows, each the
  median of ``--repeats`` calls after one warm-up, run alternately (the two
  share the machine's load), with torch and onnxruntime on the same number of
  threads (``--threads``, each setting in turn);
* the sizes of the exported ``.onnx`` file, of the network's float32
  weights, of the fitted estimator's joblib pickle, and of the ONNX graph of
  ``make_pipeline(StandardScaler(), ContrastiveEmbedder(), KNeighborsClassifier())``
  (which holds the k-NN's training embeddings).

    pip install "sklearn-contrastive[onnx]"
    python benchmarks/bench_onnx.py [--repeats 5] [--batch 4096] [--threads 1 2]

Writes ``benchmarks/results/onnx.md`` (and ``onnx.json``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).parent))
from _harness import machine_description, markdown_table, write_outputs  # noqa: E402

from sklearn_contrastive import ContrastiveEmbedder  # noqa: E402


def rows_per_second(run, X: np.ndarray) -> float:
    """``len(X)`` over the seconds of one call ``run(X)``."""
    start = time.perf_counter()
    run(X)
    return len(X) / (time.perf_counter() - start)


def throughput(embedder, serialized: bytes, X, threads: int, repeats: int) -> dict:
    """Rows/s of torch's ``transform`` and of onnxruntime on ``threads``
    threads each, one warm-up call each, then ``repeats`` calls alternately."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        serialized, options, providers=["CPUExecutionProvider"]
    )
    embedder.set_params(n_threads=threads)

    def run_onnx(X):
        return session.run(None, {"X": X})

    embedder.transform(X)
    run_onnx(X)
    torch_rates, onnx_rates = [], []
    for _ in range(repeats):
        torch_rates.append(rows_per_second(embedder.transform, X))
        onnx_rates.append(rows_per_second(run_onnx, X))
    return {
        "threads": threads,
        "torch_rows_per_s": torch_rates,
        "onnxruntime_rows_per_s": onnx_rates,
    }


def sizes(embedder, model, pipe_model) -> dict:
    """Bytes of the .onnx file, the float32 weights, the pickle, the pipeline."""
    import onnx

    with tempfile.TemporaryDirectory() as folder:
        onnx.save(model, Path(folder) / "embedder.onnx")
        joblib.dump(embedder, Path(folder) / "embedder.joblib")
        onnx.save(pipe_model, Path(folder) / "pipeline.onnx")
        files = {path.name: path.stat().st_size for path in Path(folder).iterdir()}
    weights = sum(
        p.numel() * p.element_size() for p in embedder.net_.module_.parameters()
    )
    return {
        "embedder.onnx": files["embedder.onnx"],
        "float32 weights": weights,
        "embedder.joblib (pickle)": files["embedder.joblib"],
        "pipeline.onnx (scaler, embedder, 5-NN)": files["pipeline.onnx"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    import onnxruntime
    import skl2onnx

    from sklearn_contrastive.onnx import register_converter, to_onnx

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    params = {"random_state": 0}
    if args.max_epochs is not None:
        params["max_epochs"] = args.max_epochs
    embedder = ContrastiveEmbedder(**params).fit(X, y)
    model = to_onnx(embedder)
    serialized = model.SerializeToString()
    session = onnxruntime.InferenceSession(
        serialized, providers=["CPUExecutionProvider"]
    )
    difference = float(
        np.abs(session.run(None, {"X": X})[0] - embedder.transform(X)).max()
    )

    register_converter()
    pipe = make_pipeline(
        StandardScaler(), ContrastiveEmbedder(**params), KNeighborsClassifier()
    ).fit(X, y)
    pipe_model = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})

    # The digits repeated to --batch rows: transform runs them in one batch.
    rows = np.resize(X, (args.batch, X.shape[1]))
    speeds = [
        throughput(embedder, serialized, rows, threads, args.repeats)
        for threads in args.threads
    ]
    file_sizes = sizes(embedder, model, pipe_model)

    machine = machine_description()
    speed_rows = []
    for record in speeds:
        torch_rate = statistics.median(record["torch_rows_per_s"])
        onnx_rate = statistics.median(record["onnxruntime_rows_per_s"])
        speed_rows.append(
            [
                record["threads"],
                f"{torch_rate:,.0f}",
                f"{onnx_rate:,.0f}",
                f"{onnx_rate / torch_rate:.2f}x",
            ]
        )
    tables = (
        f"{machine}, onnxruntime {onnxruntime.__version__}; digits, the default "
        f"ContrastiveEmbedder; max |onnxruntime - transform| = {difference:.2e}\n\n"
        + markdown_table(
            [
                "threads",
                f"transform rows/s ({args.batch} rows)",
                "onnxruntime rows/s",
                "onnxruntime / transform",
            ],
            speed_rows,
        )
        + f"\nmedians of {args.repeats} calls each, alternately\n\n"
        + markdown_table(
            ["file", "bytes"],
            [[name, f"{size:,}"] for name, size in file_sizes.items()],
        )
    )
    print(tables)
    write_outputs(
        args.out,
        "onnx",
        tables,
        {
            "machine": machine,
            "args": vars(args),
            "max_abs_difference": difference,
            "throughput": speeds,
            "sizes": file_sizes,
        },
    )


if __name__ == "__main__":
    main()
