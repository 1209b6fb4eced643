"""The benchmark scripts' code on tiny sizes: tables, caps, medians, plots.

No timing is asserted: the figures come from the benchmark commands. The
jobs that must run in a capped process use standard-library functions or the
harness's own ``hold_memory``, so that the child starts in a fraction of a
second; the quality and scale jobs themselves run in this process.
"""

import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _harness  # noqa: E402
import bench_batch_size  # noqa: E402
import bench_distributed  # noqa: E402
import bench_gpu  # noqa: E402
import bench_onnx  # noqa: E402
import bench_open_set  # noqa: E402
import bench_out_of_core  # noqa: E402
import bench_overrides  # noqa: E402
import bench_persistence  # noqa: E402
import bench_quality  # noqa: E402
import bench_scale  # noqa: E402
import bench_sparse  # noqa: E402
import bench_startup  # noqa: E402
import bench_vs_torch  # noqa: E402
import column_scales  # noqa: E402
import datasets  # noqa: E402
import open_set_screen  # noqa: E402
import training_control  # noqa: E402


def _silent(line):
    pass


# -- the harness ----------------------------------------------------------------


def test_run_capped_returns_the_result():
    record = _harness.run_capped(math.sqrt, 4.0, time_cap=60)
    assert record["status"] == "ok"
    assert record["result"] == 2.0
    assert _harness.status_label(record) == "ok"
    assert record["peak_rss_gib"] > 0


def test_job_past_the_time_cap_is_reported_as_timeout():
    record = _harness.run_capped(time.sleep, 30, time_cap=1)
    assert record["status"] == "timeout"
    assert _harness.status_label(record) == "timeout (> 1 s)"
    # Killed at the cap, not left to finish its 30 s.
    assert record["wall_s"] < 30


def test_job_past_the_memory_cap_is_reported_as_memory_cap():
    record = _harness.run_capped(
        _harness.hold_memory, 1.0, 30, time_cap=60, memory_cap_gib=0.25
    )
    assert record["status"] == "memory cap"
    assert _harness.status_label(record) == "memory cap (> 0.25 GiB)"
    assert record["peak_rss_gib"] > 0.25


def test_job_that_raises_is_reported_with_its_error():
    record = _harness.run_capped(math.sqrt, -1.0, time_cap=60)
    assert record["status"] == "error"
    assert _harness.status_label(record) == "error (ValueError: math domain error)"
    assert "Traceback" in record["traceback"]


def test_thread_environment_is_restored(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    with _harness.thread_environment(1):
        assert {os.environ[v] for v in _harness.THREAD_VARIABLES} == {"1"}
    assert os.environ["OMP_NUM_THREADS"] == "7"
    assert "NUMBA_NUM_THREADS" not in os.environ


def test_summarise_gives_median_and_range():
    assert _harness.summarise([0.9, 0.5, 0.7]) == {
        "median": 0.7,
        "min": 0.5,
        "max": 0.9,
    }
    assert _harness.summarise([1.0, 4.0])["median"] == 2.5


def test_markdown_table_refuses_a_ragged_row():
    with pytest.raises(ValueError, match="has 1 cells, expected 2"):
        _harness.markdown_table(["a", "b"], [["x"]])


# -- data -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, n_rows, n_features", [("wine", 178, 13), ("breast_cancer", 569, 30)]
)
def test_bundled_loaders_split_70_30_in_float32(name, n_rows, n_features):
    X_train, X_test, y_train, y_test = datasets.DATASETS[name](0)
    assert X_train.dtype == X_test.dtype == np.float32
    assert len(X_train) + len(X_test) == n_rows
    assert len(X_test) == math.ceil(0.3 * n_rows)
    assert X_train.shape[1] == n_features
    # Standardised on the training part; stratified.
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-5)
    assert set(y_train) == set(y_test)


def test_gaussian_classes_does_not_depend_on_the_chunk_size():
    X, y = datasets.gaussian_classes(1_000, 5, n_classes=3)
    X_chunked, y_chunked = datasets.gaussian_classes(1_000, 5, n_classes=3, chunk=70)
    assert X.dtype == np.float32 and X.shape == (1_000, 5)
    np.testing.assert_array_equal(X, X_chunked)
    np.testing.assert_array_equal(y, y_chunked)
    assert set(y) == {0, 1, 2}


# -- bench_quality ----------------------------------------------------------------


@pytest.fixture(scope="module")
def quality_records():
    """Real jobs on wine (124 training rows), two seeds, in this process."""
    methods = ["raw", "pca", "contrastive"]
    records = bench_quality.run_quality(
        ["wine"], methods, [0, 1], params={"max_epochs": 1}, isolate=False, log=_silent
    )
    return records


def test_quality_job_records_scores(quality_records):
    assert len(quality_records) == 6
    for record in quality_records:
        result = record["result"]
        assert 0 <= result["accuracy"] <= 1
        assert -1 <= result["ari"] <= 1
        assert result["n_train"] == 124 and result["n_test"] == 54
        assert result["n_classes"] == 3
    widths = {r["method"]: r["result"]["n_components"] for r in quality_records}
    # PCA keeps all 13 features of wine; ContrastiveEmbedder its default 32.
    assert widths == {"raw": 13, "pca": 13, "contrastive": 32}


def test_quality_table_has_a_row_per_dataset_and_method_with_medians(
    quality_records, monkeypatch
):
    monkeypatch.setitem(bench_quality.REQUIRES, "umap", "no_such_module_for_tests")
    missing = bench_quality.run_quality(
        ["wine"], ["umap"], [0, 1], isolate=False, log=_silent
    )
    assert [r["status"] for r in missing] == ["not installed"] * 2
    table = bench_quality.quality_table(quality_records + missing).splitlines()
    rows = [line.split(" | ") for line in table[2:]]
    assert [row[1] for row in rows] == [
        "raw features",
        "PCA",
        "ContrastiveEmbedder",
        "supervised UMAP",
    ]
    assert all(row[0] == "| wine" for row in rows)
    for row, method in zip(rows[:3], ["raw", "pca", "contrastive"], strict=True):
        accuracies = [
            r["result"]["accuracy"] for r in quality_records if r["method"] == method
        ]
        assert row[3].startswith(f"{statistics.median(accuracies):.3f}")
        assert row[-1] == "2/2 |"
    assert rows[3][3] == "not installed"


def test_quality_cell_reports_failed_seeds_beside_the_medians(quality_records):
    ok = [r for r in quality_records if r["method"] == "pca"]
    timeout = {**ok[0], "seed": 2, "status": "timeout", "time_cap": 300.0}
    del timeout["result"]
    row = bench_quality.quality_table(ok + [timeout]).splitlines()[2]
    median = statistics.median(r["result"]["accuracy"] for r in ok)
    assert f"| {median:.3f}" in row
    assert row.endswith("| 2/3; seed 2: timeout (> 300 s) |")


def test_quality_main_reports_jobs_over_the_cap_and_writes_outputs(tmp_path):
    """Real capped processes that cannot even import in 0.01 s."""
    pytest.importorskip("matplotlib")
    bench_quality.main(
        ["--datasets", "wine", "digits", "--methods", "raw", "pca"]
        + ["--seeds", "0", "--time-cap", "0.01", "--out", str(tmp_path)]
    )
    table = (tmp_path / "quality.md").read_text().splitlines()
    rows = [line for line in table if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 4
    for row in rows[1:]:
        assert "| timeout (> 0.01 s) |" in row
    records = json.loads((tmp_path / "quality.json").read_text())["records"]
    assert {(r["dataset"], r["method"]) for r in records} == {
        ("wine", "raw"),
        ("wine", "pca"),
        ("digits", "raw"),
        ("digits", "pca"),
    }
    assert (tmp_path / "quality.png").stat().st_size > 0


def test_quality_plot_is_written(quality_records, tmp_path):
    pytest.importorskip("matplotlib")
    bench_quality.plot_quality(quality_records, tmp_path / "quality.png")
    assert (tmp_path / "quality.png").read_bytes().startswith(b"\x89PNG")


# -- bench_scale ------------------------------------------------------------------


def test_scale_job_table_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    result = bench_scale.scale_job(300, n_features=8, max_epochs=1)
    assert result["data_bytes"] == 300 * 8 * 4
    assert result["fit_extra_bytes"] >= 0
    assert result["transform_extra_bytes"] >= result["fit_extra_bytes"]
    assert result["s_per_epoch"] == statistics.median(result["epoch_s"])
    assert len(result["epoch_s"]) == 1 and len(result["transform_s"]) == 3
    assert result["transform_rows_per_s"] == pytest.approx(
        300 / statistics.median(result["transform_s"])
    )
    memory_cap = {"n_rows": 1_000_000, "status": "memory cap", "memory_cap_gib": 16}
    records = [{"n_rows": 300, "status": "ok", "result": result}, memory_cap]
    rows = bench_scale.scale_table(records, n_features=8).splitlines()[2:]
    assert rows[0].startswith("| 300 | 0 |")
    assert rows[1] == "| 1,000,000 | 31 | memory cap (> 16 GiB) | - | - | - | - |"
    bench_scale.plot_scale(records, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").read_bytes().startswith(b"\x89PNG")


# -- bench_vs_torch and bench_startup --------------------------------------------


def test_bare_loop_does_the_estimators_work():
    """Same network and as many steps: the bare loop trains a module with the
    estimator's layers, on as many batches per epoch as the estimator ran."""
    import torch

    from sklearn_contrastive import ContrastiveEmbedder
    from sklearn_contrastive.pairs import ClassBalancedBatchSampler

    X, _, y, _ = datasets.DATASETS["digits"](0)
    y = y.astype(np.int64)
    est = ContrastiveEmbedder(max_epochs=2, random_state=0).fit(X, y)
    module = bench_vs_torch.fit_bare_loop(X, y, est, seed=0)
    assert isinstance(module, torch.nn.Module)
    bare = {name: p.shape for name, p in module.state_dict().items()}
    fitted = {name: p.shape for name, p in est.net_.module_.state_dict().items()}
    assert bare == fitted
    sampler = ClassBalancedBatchSampler(
        y, est.batch_size, random_state=np.random.default_rng(0)
    )
    assert [epoch["train_batch_count"] for epoch in est.history_] == [len(sampler)] * 2


def test_speed_table_is_written(tmp_path):
    bench_vs_torch.main(
        ["--repeats", "1", "--min-seconds", "0", "--max-epochs", "1"]
        + ["--datasets", "wine", "--out", str(tmp_path)]
    )
    table = (tmp_path / "speed.md").read_text().splitlines()
    assert table[2].startswith(
        "| data | rows | epochs | repeats | estimator s (median) |"
    )
    row = table[4].split(" | ")
    assert row[:4] == ["| wine", "124", "1", "1"]
    (run,) = json.loads((tmp_path / "speed.json").read_text())["runs"]
    ratio = statistics.median(run["estimator_s"]) / statistics.median(run["bare_s"])
    assert row[6] == f"{ratio:.2f}"
    paired = run["estimator_s"][0] / run["bare_s"][0]
    assert row[7] == f"{paired:.2f} ({paired:.2f}-{paired:.2f}) |"


def test_speed_needs_a_repeat(capsys):
    with pytest.raises(SystemExit):
        bench_vs_torch.main(["--repeats", "0", "--datasets", "wine"])
    assert "needs at least 1 repeat; got 0" in capsys.readouterr().err


class _SteadyClock:
    """``time`` for bench_vs_torch: every timed fit lasts 0.125 s, so that a
    test of the stopping rule does not depend on the machine's speed."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 0.125  # the time between two readings
        return self.now


def test_speed_repeats_until_the_estimators_fits_add_up_to_min_seconds(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(bench_vs_torch, "time", _SteadyClock())
    bench_vs_torch.main(
        ["--repeats", "1", "--min-seconds", "0.2", "--max-epochs", "1"]
        + ["--datasets", "wine", "--out", str(tmp_path)]
    )
    (run,) = json.loads((tmp_path / "speed.json").read_text())["runs"]
    n_repeats = len(run["estimator_s"])
    assert run["repeats"] == n_repeats
    assert n_repeats == len(run["bare_s"]) > 1
    # It stopped at the first repeat that reached the time, not later.
    assert sum(run["estimator_s"]) >= 0.2 > sum(run["estimator_s"][:-1])
    row = (tmp_path / "speed.md").read_text().splitlines()[4].split(" | ")
    assert row[3] == str(n_repeats)


def test_startup_snippets_run_and_report_medians():
    result = bench_startup.run_snippet(bench_startup._DYNAMO)
    assert (
        list(result) == ["import torch._dynamo"] and result["import torch._dynamo"] >= 0
    )
    assert bench_startup.medians([{"a": 1.0}, {"a": 3.0}, {"a": 2.0}]) == {"a": 2.0}


def test_onnx_benchmark_reports_agreement_speed_and_sizes(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxscript")
    bench_onnx.main(
        ["--repeats", "2", "--batch", "64", "--threads", "1", "--max-epochs", "1"]
        + ["--out", str(tmp_path)]
    )
    raw = json.loads((tmp_path / "onnx.json").read_text())
    assert raw["max_abs_difference"] < 1e-5
    (speed,) = raw["throughput"]
    assert len(speed["torch_rows_per_s"]) == len(speed["onnxruntime_rows_per_s"]) == 2
    assert raw["sizes"]["embedder.onnx"] > raw["sizes"]["float32 weights"] > 0
    assert "| 1 |" in (tmp_path / "onnx.md").read_text()


# -- training_control ------------------------------------------------------------


def test_half_similar_pairs_are_half_similar_pairs_of_distinct_rows():
    y = np.arange(300) % 10
    pairs, similar = training_control.half_similar_pairs(y, 101, seed=0)
    assert pairs.shape == (101, 2)
    np.testing.assert_array_equal(similar, y[pairs[:, 0]] == y[pairs[:, 1]])
    assert similar[:50].all() and not similar[50:].any()
    assert (pairs[:, 0] != pairs[:, 1]).all()
    again, _ = training_control.half_similar_pairs(y, 101, seed=0)
    np.testing.assert_array_equal(again, pairs)


def test_evaluate_fits_on_pairs_when_given_them():
    X_train, X_test, y_train, y_test = datasets.DATASETS["wine"](0)
    pairs, similar = training_control.half_similar_pairs(y_train, 200, seed=0)
    accuracy, epochs, epoch_time, seconds = training_control.evaluate(
        (X_train, X_test, y_train, y_test),
        fit_on={"pairs": pairs, "similar": similar},
        max_epochs=2,
        early_stopping=True,
        random_state=0,
    )
    assert 0 <= accuracy <= 1 and epochs == 2 and epoch_time > 0 and seconds > 0


# -- bench_overrides --------------------------------------------------------------


def test_overrides_are_switched_off_and_restored(tmp_path):
    """Each override runs against skorch's own method and is put back, even
    when a fit fails half-way; the table has a row per data set and override."""
    from sklearn_contrastive._net import ContrastiveNet

    before = dict(vars(ContrastiveNet))
    records = bench_overrides.main(
        ["--datasets", "wine", "--repeats", "2", "--max-epochs", "1"]
        + ["--out", str(tmp_path)]
    )
    assert dict(vars(ContrastiveNet)) == before
    assert [r["override"] for r in records] == list(bench_overrides.OVERRIDES)
    assert all(r["repeats"] == 2 and r["ratio"] > 0 for r in records)
    lines = (tmp_path / "overrides.md").read_text().splitlines()
    rows = [line for line in lines if line.startswith("| wine |")]
    assert [row.split(" | ")[1] for row in rows] == list(bench_overrides.OVERRIDES)

    def failing(self, *args, **kwargs):
        raise RuntimeError("a fit that fails")

    replaced = bench_overrides.OVERRIDES["EpochHistory"]
    X, _, y, _ = datasets.DATASETS["wine"](0)
    try:
        bench_overrides.OVERRIDES["EpochHistory"] = {"initialize_history": failing}
        with pytest.raises(RuntimeError, match="a fit that fails"):
            bench_overrides.measure(X, y, "EpochHistory", repeats=1, max_epochs=1)
    finally:
        bench_overrides.OVERRIDES["EpochHistory"] = replaced
    assert dict(vars(ContrastiveNet)) == before


# -- bench_open_set ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["digits", "many_classes"])
def test_open_set_protocols_keep_the_unseen_classes_apart(name):
    X, y, seen, scaler = datasets.OPEN_SET[name]()
    assert len(X) == len(y) and X.ndim == 2
    classes = np.unique(y)
    assert 0 < len(seen) < len(classes) and np.isin(seen, classes).all()
    assert len(np.unique(y[~np.isin(y, seen)])) >= 5  # several unseen classes
    assert hasattr(scaler, "fit") and hasattr(scaler, "transform")


def test_many_classes_has_40_classes_and_loud_noise():
    X, y = datasets.many_classes(n_samples=2000)
    assert X.shape == (2000, 100) and len(np.unique(y)) == 40
    assert X[:, 60:].std() > 5 * X[:, :60].std()  # the 40 noise columns


def test_open_set_job_scores_the_unseen_classes_only(monkeypatch):
    """The open-set scores come from the unseen rows only: with the rows of
    the unseen classes replaced by copies of one class, retrieval among them
    is perfect whatever the method learnt."""
    X, y, seen, scaler = datasets.OPEN_SET["digits"]()

    def one_unseen_class():
        X2, y2 = X.copy(), y.copy()
        unseen = ~np.isin(y2, seen)
        y2[unseen] = np.where(np.arange(unseen.sum()) % 2 == 0, 5, 6)
        X2[np.flatnonzero(unseen)[::2]] = X2[np.flatnonzero(unseen)[0]]
        X2[np.flatnonzero(unseen)[1::2]] = X2[np.flatnonzero(unseen)[1]]
        return X2, y2, seen, scaler

    monkeypatch.setitem(datasets.OPEN_SET, "digits", one_unseen_class)
    result = bench_open_set.open_set_job("digits", "raw", seed=0)
    assert result["map_at_r"] == 1.0 and result["precision_at_1"] == 1.0
    assert result["classes"] == "5 seen / 2 unseen"
    assert 0 <= result["accuracy"] <= 1 and -1 <= result["ari"] <= 1


def test_open_set_table_and_outputs(tmp_path):
    records = bench_open_set.main(
        ["--datasets", "digits", "--methods", "raw", "contrastive", "--seeds", "0"]
        + ["--params", '{"max_epochs": 1, "n_components": 4}']
        + ["--time-cap", "120", "--out", str(tmp_path)]
    )
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert records[1]["result"]["n_components"] == 4
    table = (tmp_path / "open_set.md").read_text().splitlines()
    rows = [line for line in table if line.startswith("| digits |")]
    assert [row.split(" | ")[1] for row in rows] == [
        "raw features",
        "ContrastiveEmbedder",
    ]
    assert json.loads((tmp_path / "open_set.json").read_text())["records"]


# -- open_set_screen ------------------------------------------------------------


@pytest.mark.parametrize("same_class", [True, False])
def test_corrupted_batches_draw_donors_of_the_row_class(same_class):
    """Rows of class c hold the value c everywhere: class-conditioned
    corruption leaves every batch as it was, random donors do not."""
    import torch
    from skorch.dataset import Dataset

    from sklearn_contrastive._data import ClassBalancedLoader

    y = np.repeat(np.arange(4), 25)
    X = np.repeat(y[:, None], 6, axis=1).astype(np.float32)
    dataset = Dataset(torch.from_numpy(X), torch.from_numpy(y))
    loader = ClassBalancedLoader(dataset, 32, np.random.default_rng(0))
    with open_set_screen.corrupted_batches(0.5, same_class=same_class):
        batches = list(loader)
    unchanged = all(bool((Xb == yb[:, None]).all()) for Xb, yb in batches)
    assert unchanged == same_class
    # The loader is restored on leaving.
    assert all(bool((Xb == yb[:, None]).all()) for Xb, yb in loader)


def test_screen_scores_a_variant():
    scores = open_set_screen.screen("concat:1", seed=0, max_epochs=1)
    assert set(scores) == {"digits open", "many_classes open", "digits closed"}
    assert all(0 <= value <= 1 for pair in scores.values() for value in pair[:1])


# -- column_scales ------------------------------------------------------------------


def test_column_scales_measures_the_ratio_and_both_fits():
    result = column_scales.measure("digits_x1000", max_epochs=1)
    assert result["ratio"] > 100 and result["warned"]
    assert 0 <= result["as_is"] <= 1 and 0 <= result["scaled"] <= 1


# -- bench_batch_size ---------------------------------------------------------------


def test_bench_batch_size_times_the_fit_and_both_forms_of_the_loss(tmp_path):
    # 600 rows a batch: above CONDENSED_UP_TO, so the blocks are timed.
    argv = ["--rows", "1500", "--batch-sizes", "64", "600", "--max-epochs", "1"]
    argv += ["--repeats", "1", "--skip-memory", "--out", str(tmp_path)]
    records = bench_batch_size.main(argv)
    assert [r["batch_size"] for r in records["training"]] == [64, 600]
    assert all(r["train_rows_per_s"] > 0 for r in records["training"])
    assert all(r["block_ms"] > 0 and r["condensed_ms"] > 0 for r in records["loss"])
    assert "| 600 |" in (tmp_path / "batch_size.md").read_text()


def test_bench_batch_size_loss_memory_is_measured_against_a_reset_peak():
    # In this process: the reset peak makes a 600-row loss add a little,
    # far below this test process's own peak.
    added = bench_batch_size.loss_memory_job(600, "blocks")
    assert 0 <= added < 200 * 2**20


# -- bench_gpu ----------------------------------------------------------------------


def test_bench_gpu_measures_on_the_cpu_and_checks_the_copy(capsys):
    records = bench_gpu.main(
        ["--device", "cpu", "--rows", "2000", "--batch-sizes", "64", "256"]
    )
    assert [r["batch_size"] for r in records] == [64, 256]
    for r in records:
        assert r["train_rows_per_s"] > 0 and r["transform_rows_per_s"] > 0
        assert r["peak_mib"] is None and r["max_abs_diff_vs_cpu"] == 0.0
    assert "| 256 |" in capsys.readouterr().out


def test_bench_gpu_refuses_a_missing_device(monkeypatch):
    monkeypatch.setattr(bench_gpu.torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        bench_gpu.main(["--device", "cuda", "--rows", "100"])


# -- bench_out_of_core -------------------------------------------------------------


def test_bench_out_of_core_fits_a_memmap_and_deletes_its_files(tmp_path, capsys):
    result = bench_out_of_core.main(
        ["--rows", "3000", "--features", "8", "--small-rows", "1000"]
        + ["--dir", str(tmp_path), "--access-batches", "2", "--formats", "npy"]
        + ["--params", '{"n_components": 4, "batch_size": 64}']
    )
    (record,) = result["records"]
    assert record["format"] == "npy" and record["rows"] == 3000
    assert record["fit_rows_per_s"] > 0 and record["transform_rows_per_s"] > 0
    assert record["fit_anon_growth_mib"] >= 0
    assert all(rate > 0 for rate in result["access"].values())
    assert list(tmp_path.iterdir()) == []
    assert "| npy | 3,000 x 8 |" in capsys.readouterr().out


# -- bench_sparse -------------------------------------------------------------------


def test_bench_sparse_measures_memory_and_a_sparse_first_layer(tmp_path):
    """The jobs in this process (main spawns one process per job)."""
    X, y = bench_sparse.tfidf_matrix(n_docs=300, n_terms=400, words=30)
    assert X.shape == (300, 400) and X.dtype == np.float64
    matrix, labels = str(tmp_path / "X.npz"), str(tmp_path / "y.npy")
    sp.save_npz(matrix, X)
    np.save(labels, y)
    params = {"max_epochs": 1, "hidden_layer_sizes": (8,), "random_state": 0}
    sparse = bench_sparse.memory_job("sparse", matrix, labels, params)
    assert sparse["shape"] == [300, 400] and sparse["sparse_bytes"] > 0
    assert sparse["model_bytes"] == 4 * 4 * (400 * 8 + 8 + 8 * 32 + 32)
    timings = bench_sparse.layer_timings(X, y, steps=2)
    assert set(timings) == {"dense", "csr", "coo"}
    assert timings["dense"]["max_embedding_difference"] == 0
    assert all(t["max_embedding_difference"] < 1e-5 for t in timings.values())
    timings["csr"]["steps_peak_bytes"] = bench_sparse.step_memory_job(
        "csr", matrix, labels, 2
    )
    record = {"shape_name": "tiny", **sparse}
    assert "| tiny: 300 x 400" in bench_sparse.memory_table([record])
    table = bench_sparse.layer_table({"tiny": (X.shape, X.nnz, timings)})
    assert "sparse CSR" in table and "| failed |" in table  # dense: not measured
    (sweep,) = bench_sparse.density_sweep([0.1], n_columns=50, n_rows=300)
    assert sweep["density"] == 0.1 and sweep["dense"] > 0 and sweep["csr"] > 0
    assert "| 10 % | 50 |" in bench_sparse.density_table([sweep])


@pytest.mark.slow
def test_bench_sparse_runs_each_job_in_a_fresh_process(tmp_path, monkeypatch):
    monkeypatch.setattr(
        bench_sparse, "SHAPES", {"tiny": {"n_docs": 300, "n_terms": 400, "words": 30}}
    )
    result = bench_sparse.main(
        ["--steps", "2", "--out", str(tmp_path), "--params", '{"max_epochs": 1}']
        + ["--densities", "0.2"]
    )
    assert [r["kind"] for r in result["memory"]] == ["sparse", "dense"]
    (_, _, timings) = result["layers"]["tiny"]
    assert all(t["steps_peak_bytes"] is not None for t in timings.values())
    assert "| tiny: 300 x 400" in (tmp_path / "sparse.md").read_text()


# -- bench_distributed --------------------------------------------------------------


@pytest.mark.slow
def test_bench_distributed_times_one_and_two_processes(tmp_path):
    argv = ["--rows", "2000", "--batch-sizes", "128", "--max-epochs", "1"]
    records = bench_distributed.main([*argv, "--out", str(tmp_path)])
    assert [r["nproc"] for r in records] == [1, 2]
    assert all(r["s_per_epoch"] > 0 and r["epochs"] == 1 for r in records)
    assert "| 2 | 128 |" in (tmp_path / "distributed.md").read_text()


# -- bench_persistence --------------------------------------------------------------


def test_every_model_file_format_is_measured_and_loads_bit_identical(tmp_path):
    pytest.importorskip("safetensors")
    from sklearn_contrastive import ContrastiveEmbedder

    X, _, y, _ = datasets.DATASETS["digits"](0)
    model = ContrastiveEmbedder(n_components=4, max_epochs=1, random_state=0)
    records = bench_persistence.measure(model.fit(X, y), X, tmp_path, repeats=1)
    assert {r["format"] for r in records} >= {"save (safe file)", "joblib", "pickle"}
    assert all(r["identical"] and r["bytes"] > 0 for r in records)
