"""Sparse input (TF-IDF): a fit's memory, and a sparse first layer's speed.

No text corpus ships with scikit-learn (20 newsgroups is a download), so the
documents are synthetic: words drawn from a Zipf-Mandelbrot law (frequency
of the word of rank r proportional to ``1 / (r + 2.7) ** 1.07``), 30 % of
each document's words from its class's own ranking of the vocabulary (20
classes), lengths log-normal; ``TfidfVectorizer(max_features=n_terms)``
turns them into the matrix (float64 values, int32 indices, as a pipeline
gets it). Three shapes (``--shapes``):

* ``issue``: 2,000 documents x 18,951 terms (the shape of issue 19);
* ``wide``: 20,000 documents x 50,000 terms, ~100 terms a document;
* ``narrow``: 2,000 documents x 2,000 terms, ~5 % of them in a document.

1. **Memory**, one fresh process per shape and variant
   (``_harness.run_capped``): imports, then a warm-up fit on 300 x 20 dense
   rows (torch's one-off allocations), then the *baseline*: ``RssAnon``
   (anonymous resident memory, ``/proc/self/status``). The job then loads
   the matrix (``scipy.sparse.load_npz``; the ``dense`` variant densifies it
   to float32 and drops the sparse one), fits ``ContrastiveEmbedder(
   random_state=0, max_epochs=2)`` (``--params`` to change) and transforms
   every row, ``RssAnon`` polled every 10 ms in a thread. The peak over the
   baseline includes the matrix; it is compared with the *goal* of issue 19,
   twice the sparse matrix (data + indices + indptr) plus the model (its
   parameters x 4: the weights, their gradients and Adam's two moments).
   The dense variant runs where the dense matrix is below ``--dense-limit``
   MiB.
2. **A sparse first layer**, in this process: the default network trained on
   the same batches (256 random rows, their labels; one seed for the
   dropout masks of each step) in three variants, alternated step by step:
   the batch densified (scipy's ``toarray``) into ``nn.Linear``, which is
   what a fit does, against the batch as a torch sparse tensor (CSR, or
   COO), which the default ``MLP`` multiplies by its first layer's weights
   with ``torch.sparse.addmm`` (forward and backward), as ``transform``
   does. Also, in a fresh process per variant, the peak ``RssAnon`` of
   those training steps over the value before the network is built (the
   model, its gradients and Adam's state included). Reported: the median ms
   per training step over ``--steps`` steps (two warm-up steps left out),
   the largest difference of the embeddings of 512 rows after those steps,
   and ``transform`` rows/s (the densified batches as the package reads
   them, ``embed_rows``'s 32 MiB, against sparse batches of 4,096 rows;
   median of 3 alternated passes).
3. **transform by density**: the same rows/s on uniformly random 8,192 x
   2,000 matrices of each ``--densities`` (the untrained default network),
   which sets ``_sources.SPARSE_BATCH_DENSITY``.

    python benchmarks/bench_sparse.py [--shapes issue wide narrow]
        [--steps 20] [--dense-limit 1024] [--params '{"max_epochs": 2}']
        [--densities 0.01 0.05 0.1 0.2 0.5]
        [--out benchmarks/results]

Writes ``sparse.md`` and ``sparse.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _harness  # noqa: E402
from bench_out_of_core import AnonPeak, anon_bytes  # noqa: E402

MIB = 2**20
SHAPES = {
    "issue": {"n_docs": 2_000, "n_terms": 18_951, "words": 70},
    "wide": {"n_docs": 20_000, "n_terms": 50_000, "words": 120},
    "narrow": {"n_docs": 2_000, "n_terms": 2_000, "words": 250},
}
#: Words to draw from, beyond the ``n_terms`` that TfidfVectorizer keeps.
VOCABULARY = 200_000
WARMUP_ROWS = 300
BATCH_ROWS = 256


def zipf_documents(
    n_docs: int,
    words: int,
    *,
    vocabulary: int = VOCABULARY,
    n_classes: int = 20,
    topic_share: float = 0.3,
    seed: int = 0,
) -> tuple[list[str], np.ndarray]:
    """``(documents, labels)``: ``n_docs`` strings of about ``words`` words
    (``"w<rank>"``), see the module notes."""
    rng = np.random.default_rng(seed)
    p = 1.0 / (np.arange(1, vocabulary + 1) + 2.7) ** 1.07
    p /= p.sum()
    y = rng.integers(n_classes, size=n_docs)
    topics = np.stack([rng.permutation(vocabulary) for _ in range(n_classes)])
    lengths = np.maximum(5, rng.lognormal(np.log(words), 0.6, n_docs).astype(int))
    documents = []
    for label, length in zip(y, lengths, strict=True):
        n_topic = rng.binomial(length, topic_share)
        common = rng.choice(vocabulary, size=length - n_topic, p=p)
        topic = topics[label][rng.choice(vocabulary, size=n_topic, p=p)]
        documents.append(" ".join(f"w{i}" for i in np.r_[common, topic]))
    return documents, y


def tfidf_matrix(n_docs: int, n_terms: int, words: int, seed: int = 0):
    """``(X, y)``: the CSR TF-IDF matrix of :func:`zipf_documents`."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    documents, y = zipf_documents(n_docs, words, seed=seed)
    return TfidfVectorizer(max_features=n_terms).fit_transform(documents), y


def sparse_bytes(X) -> int:
    """Bytes of a CSR / CSC matrix: values, indices and index pointers."""
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def model_bytes(module) -> int:
    """What training holds per parameter: the weight, its gradient and
    Adam's two moments (4 x the parameters' bytes)."""
    return 4 * sum(p.numel() * p.element_size() for p in module.parameters())


# -- 1. memory ---------------------------------------------------------------------


def memory_job(kind: str, matrix_path: str, labels_path: str, params: dict) -> dict:
    """Step 1 for one variant (``"sparse"`` or ``"dense"``), in a fresh process."""
    import scipy.sparse

    from sklearn_contrastive import ContrastiveEmbedder

    y = np.load(labels_path)
    rng = np.random.default_rng(0)
    warm = rng.random((WARMUP_ROWS, 20), dtype=np.float32)
    ContrastiveEmbedder(max_epochs=1, random_state=0).fit(warm, y[:WARMUP_ROWS])
    gc.collect()
    baseline = anon_bytes()
    X = scipy.sparse.load_npz(matrix_path)
    shape, nnz, sparse_size = X.shape, X.nnz, sparse_bytes(X)
    if kind == "dense":
        X = X.astype(np.float32).toarray()
    loaded = anon_bytes() - baseline
    embedder = ContrastiveEmbedder(**params)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # TF-IDF columns differ in scale by design.
        warnings.filterwarnings("ignore", message="The columns of X")
        with AnonPeak(0.01) as fit_peak:
            embedder.fit(X, y)
    fit_s = time.perf_counter() - start
    after_fit = anon_bytes() - baseline
    start = time.perf_counter()
    with AnonPeak(0.01) as transform_peak:
        embeddings = embedder.transform(X)
    transform_s = time.perf_counter() - start
    model = model_bytes(embedder.net_.module_)
    return {
        "kind": kind,
        "shape": list(shape),
        "nnz": int(nnz),
        "sparse_bytes": sparse_size,
        "dense_bytes": shape[0] * shape[1] * 4,
        "model_bytes": model,
        "loaded_bytes": loaded,
        "fit_peak_bytes": fit_peak.peak - baseline,
        "after_fit_bytes": after_fit,
        "transform_peak_bytes": transform_peak.peak - baseline,
        "ratio": (fit_peak.peak - baseline) / (sparse_size + model),
        "fit_s": fit_s,
        "epochs": len(embedder.history_),
        "transform_s": transform_s,
        "output_bytes": embeddings.nbytes,
    }


def memory_table(records: list[dict]) -> str:
    header = [
        "shape",
        "X as",
        "X MiB",
        "model MiB (x4)",
        "fit peak MiB",
        "peak / (sparse + model)",
        "after fit MiB",
        "transform peak MiB",
        "fit s",
    ]
    rows = []
    for r in records:
        if "error" in r:
            rows.append([r["shape_name"], r["kind"], r["error"], *[""] * 6])
            continue
        goal = "met" if r["ratio"] <= 2 else "missed"
        n, d = r["shape"]
        x_bytes = r["sparse_bytes"] if r["kind"] == "sparse" else r["dense_bytes"]
        rows.append(
            [
                f"{r['shape_name']}: {n:,} x {d:,}, {r['nnz'] / n:.0f} terms/doc",
                r["kind"],
                f"{x_bytes / MIB:.1f}",
                f"{r['model_bytes'] / MIB:.1f}",
                f"{r['fit_peak_bytes'] / MIB:.0f}",
                f"{r['ratio']:.2f} ({goal})",
                f"{r['after_fit_bytes'] / MIB:.0f}",
                f"{r['transform_peak_bytes'] / MIB:.0f}",
                f"{r['fit_s']:.1f}",
            ]
        )
    return _harness.markdown_table(header, rows)


# -- 2. a sparse first layer ---------------------------------------------------


def torch_batch(rows, layout: str):
    """A CSR batch of scipy rows as a float32 torch tensor of ``layout``."""
    import torch

    rows = rows.astype(np.float32)
    if layout == "dense":
        return torch.from_numpy(rows.toarray())
    if layout == "csr":
        return torch.sparse_csr_tensor(
            torch.from_numpy(rows.indptr.astype(np.int64)),
            torch.from_numpy(rows.indices.astype(np.int64)),
            torch.from_numpy(rows.data),
            size=rows.shape,
            check_invariants=False,  # scipy's sorted CSR rows are valid
        )
    coo = rows.tocoo()
    return torch.sparse_coo_tensor(
        torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64)),
        torch.from_numpy(coo.data),
        size=rows.shape,
        is_coalesced=True,  # CSR order: row-major, one entry per term
        check_invariants=False,
    )


LAYOUTS = ("dense", "csr", "coo")


def _defaults() -> dict:
    from sklearn_contrastive import ContrastiveEmbedder

    return ContrastiveEmbedder().get_params()


def default_network(n_features: int, seed: int = 0):
    """``(module, criterion)`` as a default fit builds them."""
    import torch

    from sklearn_contrastive.losses import ContrastiveLoss
    from sklearn_contrastive.networks import MLP

    defaults = _defaults()
    torch.manual_seed(seed)
    module = MLP(
        n_features,
        hidden_layer_sizes=defaults["hidden_layer_sizes"],
        n_components=defaults["n_components"],
        dropout=defaults["dropout"],
    )
    return module, ContrastiveLoss(margin=defaults["margin"])


def default_optimizer(module):
    """A default fit's optimizer (fused Adam, its ``lr`` and weight decay)."""
    import torch

    defaults = _defaults()
    return torch.optim.Adam(
        module.parameters(),
        lr=defaults["lr"],
        weight_decay=defaults["weight_decay"],
        fused=True,
    )


def train_step(module, optimizer, criterion, X, y, rows, layout: str) -> None:
    """One step on rows ``rows`` of CSR ``X``, the batch built as ``layout``."""
    import torch

    batch = torch_batch(X[rows], layout)
    optimizer.zero_grad()
    criterion(module(batch), torch.from_numpy(y[rows])).backward()
    optimizer.step()


def batches(n_rows: int, steps: int, seed: int = 0):
    """``steps`` batches of random rows, as the timing and memory jobs draw them."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        yield rng.choice(n_rows, min(BATCH_ROWS, n_rows), replace=False)


def layer_timings(X, y, steps: int, seed: int = 0) -> dict:
    """Step 2 on one matrix: ms a step, embedding differences, rows/s."""
    import torch

    warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
    X = X.tocsr()
    X.sort_indices()
    base, criterion = default_network(X.shape[1], seed)
    nets = {}
    for layout in LAYOUTS:
        module = copy.deepcopy(base)  # the same initial weights
        nets[layout] = (module, default_optimizer(module))
    step_s = {layout: [] for layout in LAYOUTS}
    for step, rows in enumerate(batches(X.shape[0], steps + 2, seed)):
        order = LAYOUTS if step % 2 == 0 else LAYOUTS[::-1]
        for layout in order:
            module, optimizer = nets[layout]
            torch.manual_seed(seed + step)  # the same dropout masks
            start = time.perf_counter()
            train_step(module, optimizer, criterion, X, y, rows, layout)
            if step >= 2:
                step_s[layout].append(time.perf_counter() - start)
    probe = X[: min(512, X.shape[0])]
    with torch.inference_mode():
        embeddings = {
            layout: nets[layout][0].eval()(torch_batch(probe, layout))
            for layout in LAYOUTS
        }
    rates = transform_rates({layout: nets[layout][0] for layout in LAYOUTS}, X)
    dense = embeddings["dense"]
    return {
        layout: {
            "ms_per_step": 1e3 * statistics.median(step_s[layout]),
            "max_embedding_difference": float((embeddings[layout] - dense).abs().max()),
            "transform_rows_per_s": rates[layout],
        }
        for layout in LAYOUTS
    }


def transform_rates(modules: dict, X, n_rows: int = 8192) -> dict:
    """Rows/s of each ``{layout: module}`` in eval mode over the first
    ``n_rows`` rows of CSR ``X``: densified batches of 32 MiB (as
    ``embed_rows`` reads them), sparse ones of 4,096 rows; the median of 3
    passes, the layouts alternated."""
    import torch

    n_rows = min(X.shape[0], n_rows)
    # embed_rows' densified batches: 4 chunks of 8 MiB of float32 rows.
    dense_rows = min(4096, 4 * max(1, 8 * MIB // (4 * X.shape[1])))
    seconds = {layout: [] for layout in modules}
    for _ in range(3):
        for layout, module in modules.items():
            step = dense_rows if layout == "dense" else 4096
            start = time.perf_counter()
            with torch.inference_mode():
                for first in range(0, n_rows, step):
                    module(torch_batch(X[first : min(first + step, n_rows)], layout))
            seconds[layout].append(time.perf_counter() - start)
    return {layout: n_rows / statistics.median(s) for layout, s in seconds.items()}


def density_sweep(densities, n_columns: int = 2_000, n_rows: int = 8192) -> list:
    """Step 3: transform rows/s, densified against CSR batches, of uniformly
    random matrices of each density (the default MLP, untrained)."""
    import scipy.sparse

    warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
    module, _ = default_network(n_columns)
    module.eval()
    records = []
    for density in densities:
        X = scipy.sparse.random(
            n_rows, n_columns, density, format="csr", dtype=np.float32, rng=0
        )
        rates = transform_rates({"dense": module, "csr": module}, X)
        records.append({"density": density, "n_columns": n_columns, **rates})
    return records


def density_table(records: list) -> str:
    header = [
        "density",
        "columns",
        "densified rows/s",
        "CSR rows/s",
        "CSR vs densified",
    ]
    rows = [
        [
            f"{100 * r['density']:g} %",
            f"{r['n_columns']:,}",
            f"{r['dense']:,.0f}",
            f"{r['csr']:,.0f}",
            f"{r['csr'] / r['dense']:.2f}x",
        ]
        for r in records
    ]
    return _harness.markdown_table(header, rows)


def step_memory_job(layout: str, matrix_path: str, labels_path: str, steps: int):
    """Peak ``RssAnon`` of ``steps`` training steps with ``layout`` batches,
    over the value before the network is built; in a fresh process."""
    import scipy.sparse

    warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
    X = scipy.sparse.load_npz(matrix_path).tocsr()
    X.sort_indices()
    y = np.load(labels_path)
    # Warm-up on a narrow network: torch's one-off allocations.
    small = scipy.sparse.random(BATCH_ROWS, 20, 0.5, format="csr", rng=0)
    module, criterion = default_network(20)
    labels, rows = np.arange(BATCH_ROWS) % 4, np.arange(BATCH_ROWS)
    train_step(
        module, default_optimizer(module), criterion, small, labels, rows, layout
    )
    gc.collect()
    with AnonPeak(0.01) as peak:
        module, criterion = default_network(X.shape[1])
        optimizer = default_optimizer(module)
        for rows in batches(X.shape[0], steps):
            train_step(module, optimizer, criterion, X, y, rows, layout)
    return peak.peak - peak.before


def layer_table(results: dict) -> str:
    header = [
        "shape",
        "batch as",
        "ms / training step",
        "vs densified",
        "max embedding difference",
        "training steps peak MiB",
        "transform rows/s",
        "vs densified",
    ]
    rows = []
    for name, (shape, nnz, timings) in results.items():
        dense = timings["dense"]
        for layout, t in timings.items():
            rows.append(
                [
                    f"{name}: {shape[0]:,} x {shape[1]:,}, "
                    f"{100 * nnz / shape[0] / shape[1]:.2f} % dense",
                    {"dense": "densified", "csr": "sparse CSR", "coo": "sparse COO"}[
                        layout
                    ],
                    f"{t['ms_per_step']:.1f}",
                    f"{dense['ms_per_step'] / t['ms_per_step']:.2f}x",
                    f"{t['max_embedding_difference']:.1e}",
                    "failed"
                    if t.get("steps_peak_bytes") is None
                    else f"{t['steps_peak_bytes'] / MIB:.0f}",
                    f"{t['transform_rows_per_s']:,.0f}",
                    f"{t['transform_rows_per_s'] / dense['transform_rows_per_s']:.2f}x",
                ]
            )
    return _harness.markdown_table(header, rows)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=SHAPES)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--dense-limit", type=float, default=1024, help="MiB of dense X (default 1024)"
    )
    parser.add_argument(
        "--densities",
        nargs="*",
        type=float,
        default=[0.01, 0.05, 0.1, 0.2, 0.5],
        help="of random matrices, for step 3's transform rates",
    )
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-layer", action="store_true")
    parser.add_argument("--time-cap", type=float, default=1800.0)
    _harness.add_params_argument(parser)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    params = {"random_state": 0, "max_epochs": 2, **(args.params or {})}
    machine = _harness.machine_description()
    print(f"# {machine}")
    print(f"# ContrastiveEmbedder({params})")
    memory, layers, markdown = [], {}, ""
    with tempfile.TemporaryDirectory(prefix="bench_sparse_") as directory:
        for name in args.shapes:
            import scipy.sparse

            X, y = tfidf_matrix(**SHAPES[name])
            matrix_path = Path(directory) / "X.npz"
            labels_path = Path(directory) / "y.npy"
            scipy.sparse.save_npz(matrix_path, X, compressed=False)
            np.save(labels_path, y)
            kinds = ["sparse"]
            if X.shape[0] * X.shape[1] * 4 <= args.dense_limit * MIB:
                kinds.append("dense")
            for kind in kinds if not args.skip_memory else []:
                record = _harness.run_capped(
                    memory_job,
                    kind,
                    str(matrix_path),
                    str(labels_path),
                    params,
                    time_cap=args.time_cap,
                )
                result = record.get("result") or {
                    "kind": kind,
                    "error": _harness.status_label(record),
                }
                memory.append({"shape_name": name, **result})
                print(memory_table(memory[-1:]).splitlines()[-1], flush=True)
            if not args.skip_layer:
                timings = layer_timings(X, y, args.steps)
                for layout in LAYOUTS:
                    record = _harness.run_capped(
                        step_memory_job,
                        layout,
                        str(matrix_path),
                        str(labels_path),
                        args.steps,
                        time_cap=args.time_cap,
                    )
                    timings[layout]["steps_peak_bytes"] = record.get("result")
                layers[name] = (X.shape, X.nnz, timings)
                print(layer_table({name: layers[name]}), flush=True)
    sweep = density_sweep(args.densities) if args.densities else []
    if memory:
        markdown += "Memory (RssAnon over the baseline):\n\n" + memory_table(memory)
    if layers:
        markdown += "\nA sparse first layer:\n\n" + layer_table(layers)
    if sweep:
        markdown += "\ntransform by density:\n\n" + density_table(sweep)
    print("\n" + markdown)
    layer_records = {"layers": {k: v[2] for k, v in layers.items()}}
    raw = _harness.raw_results(
        argv, machine, args, [*memory, layer_records, {"densities": sweep}]
    )
    _harness.write_outputs(args.out, "sparse", markdown, raw)
    return {"memory": memory, "layers": layers, "densities": sweep}


if __name__ == "__main__":
    main()
