"""Data-parallel fits with torch.distributed (gloo on the CPU, loopback only).

The two-process test launches ``torchrun`` with ``sklearn_contrastive.train``
on 127.0.0.1 and a free port, bounded by a timeout; the others run in a
process group of one process held in this process (a file store, no port).
"""

import json
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.distributed import ShardedLoader, _World, fit_distributed

PARAMS = {
    "n_components": 4,
    "hidden_layer_sizes": (16,),
    "max_epochs": 3,
    # 21 rows of each of 3 classes: odd global batches (31 + 32 rows in two
    # processes) and a short last batch of 33, so that the epoch's mean loss
    # must weigh each batch by its global size.
    "batch_size": 63,
    # Dropout masks are drawn per process: without it, the same arithmetic.
    "dropout": 0.0,
    "random_state": 0,
}


def _data():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 200)
    X = (rng.normal(size=(600, 8)) + 0.5 * y[:, None]).astype(np.float32)
    return X, y


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def world_of_one(tmp_path):
    """A gloo process group of this process alone."""
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    yield
    dist.destroy_process_group()


def test_two_processes_give_the_embeddings_of_one_with_the_global_batch(tmp_path):
    X, y = _data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        "-m",
        "sklearn_contrastive.train",
        "--X",
        str(tmp_path / "X.npy"),
        "--y",
        str(tmp_path / "y.npy"),
        "--params",
        json.dumps(PARAMS),
        "--output",
        str(tmp_path / "model.pkl"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "model.pkl", "rb") as file:
        distributed = pickle.load(file)
    single = ContrastiveEmbedder(**PARAMS).fit(X, y)
    # An ordinary estimator: no process group here.
    assert isinstance(distributed, ContrastiveEmbedder)
    assert not dist.is_initialized()
    # Each process embeds half of every batch: float32 rounding apart.
    np.testing.assert_allclose(
        distributed.transform(X), single.transform(X), rtol=0, atol=1e-5
    )
    np.testing.assert_allclose(distributed.loss_curve_, single.loss_curve_, rtol=1e-5)
    assert distributed.n_iter_ == single.n_iter_


def test_a_world_of_one_is_the_ordinary_fit_bit_for_bit(world_of_one):
    X, y = _data()
    params = {**PARAMS, "dropout": 0.2}
    fitted = fit_distributed(ContrastiveEmbedder(**params), X, y)
    single = ContrastiveEmbedder(**params).fit(X, y)
    np.testing.assert_array_equal(fitted.transform(X), single.transform(X))
    assert fitted.net_.world_ is None
    pickle.loads(pickle.dumps(fitted)).transform(X[:5])


def test_weighted_rows_go_through_the_shards(world_of_one):
    """Weighted batches carry a dict target (labels, weights) through the
    sharded loader and the gathered loss: the single-process weighted fit."""
    X, y = _data()
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    # Unlabelled rows: batches of two sizes, which the epoch's mean must weigh.
    y = np.where(np.arange(len(y)) % 3 == 0, -1, y)
    params = {**PARAMS, "unlabeled_label": -1}
    fitted = fit_distributed(ContrastiveEmbedder(**params), X, y, sample_weight=weights)
    single = ContrastiveEmbedder(**params).fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(fitted.transform(X), single.transform(X))
    assert fitted.loss_curve_ == single.loss_curve_


def test_fit_distributed_needs_a_process_group():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        fit_distributed(ContrastiveEmbedder(random_state=0), *_data())


def test_fit_distributed_needs_an_int_random_state(world_of_one):
    with pytest.raises(ValueError, match="random_state set to an int.*got None"):
        fit_distributed(ContrastiveEmbedder(), *_data())


def test_fit_distributed_refuses_explicit_pairs(world_of_one):
    X, _ = _data()
    with pytest.raises(TypeError, match="explicit pairs are not supported"):
        fit_distributed(
            ContrastiveEmbedder(random_state=0),
            X,
            pairs=np.array([[0, 1]]),
            similar=np.array([True]),
        )


@pytest.mark.parametrize("n_rows, size", [(250, 2), (250, 3), (7, 7), (64, 5)])
def test_shards_cover_each_row_of_a_batch_once_in_rank_order(n_rows, size):
    rows = [
        list(range(n_rows))[_World(rank, size).shard(n_rows)] for rank in range(size)
    ]
    assert sum(rows, []) == list(range(n_rows))
    assert max(map(len, rows)) - min(map(len, rows)) <= 1


def test_a_world_larger_than_the_batch_is_refused():
    class _Batches:
        def __init__(self, dataset, **kwargs):
            pass

        def __len__(self):
            return 1

        def __iter__(self):
            yield torch.zeros(4, 2), torch.arange(4)

    loader = ShardedLoader(None, base=_Batches, world=_World(0, 8))
    with pytest.raises(ValueError, match="batch of 4 rows cannot be shared by 8"):
        list(loader)


@pytest.mark.slow
def test_the_example_script_runs_under_torchrun():
    script = Path(__file__).parents[1] / "examples" / "distributed_fit.py"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    command += ["--master_addr=127.0.0.1", f"--master_port={_free_port()}"]
    done = subprocess.run(
        [*command, str(script)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    accuracy = float(done.stdout.split("5-NN accuracy")[1])
    assert accuracy > 0.9


_AGREEMENT_SCRIPT = """
import json, sys
import numpy as np
import torch.distributed as dist
from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.distributed import fit_distributed

dist.init_process_group("gloo")
rank = dist.get_rank()
rng = np.random.default_rng(0)
y = np.repeat(np.arange(4), 150)
X = (rng.normal(size=(600, 8)) + 0.5 * y[:, None]).astype(np.float32)
params = dict(n_components=4, hidden_layer_sizes=(16,), batch_size=64,
              random_state=0, max_epochs=30, early_stopping=True,
              n_iter_no_change=2)
report = {}
estimator = ContrastiveEmbedder(**params)
fit_distributed(estimator, X, y)  # every process's copy is fitted
report["history"] = [
    [epoch["train_loss"], epoch.get("valid_map_at_r")] for epoch in estimator.history_
]
report["n_iter"] = estimator.n_iter_
for name, X_rank, extra, fit_params in [
    ("features", X[:, : 8 - rank], {}, {}),
    ("weights", X, {"max_epochs": 1}, {"sample_weight": np.full(600, 1.0 + rank)}),
    # Last: no collective may follow a fit that a rank left part-way.
    ("diverging", X, {"lr": 1e12, "optimizer": "sgd", "normalize": False}, {}),
]:
    try:
        estimator = ContrastiveEmbedder(**{**params, **extra})
        fit_distributed(estimator, X_rank, y, **fit_params)
        report[name] = "no error"
    except Exception as error:
        report[name] = f"{type(error).__name__}: {error}"
with open(sys.argv[1] + f".{rank}.json", "w") as file:
    json.dump(report, file)
dist.barrier()  # no process leaves while another still talks to it
dist.destroy_process_group()
"""


def test_processes_agree_on_history_early_stopping_and_errors(tmp_path):
    script = tmp_path / "agreement.py"
    script.write_text(_AGREEMENT_SCRIPT)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    command += ["--master_addr=127.0.0.1", f"--master_port={_free_port()}"]
    command += [str(script), str(tmp_path / "report")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [
        json.loads((tmp_path / f"report.{rank}.json").read_text()) for rank in (0, 1)
    ]
    # Same weights and batches in both: the same history, the same stop.
    assert reports[0]["history"] == reports[1]["history"]
    assert reports[0]["n_iter"] == reports[1]["n_iter"] < 30
    for report in reports:
        assert report["features"].startswith("ValueError: The processes disagree")
        assert "shape of X" in report["features"]
        assert report["weights"].startswith("ValueError: The processes disagree")
        assert "sample_weight" in report["weights"]
    # A diverging loss stops both processes with the same error.
    assert reports[0]["diverging"] == reports[1]["diverging"] != "no error"
