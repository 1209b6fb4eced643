"""Behaviour of ContrastiveEmbedder as a scikit-learn transformer."""

import re

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler
from skorch.callbacks import Callback

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive._labels import encode_labels


@pytest.fixture
def blobs():
    X, y = make_blobs(n_samples=90, centers=3, n_features=5, random_state=0)
    return X, y


def test_toy_geometry_separates_classes():
    """A class set by one feature, buried in a feature of 10x larger noise.

    Raw nearest neighbours mostly see the noise; the embedding must learn to
    ignore it, so that every point's nearest neighbour shares its class and
    similar pairs end up far closer than dissimilar ones.
    """
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=200)
    informative = (2 * y - 1) + 0.1 * rng.normal(size=200)
    noise = 10 * rng.normal(size=200)
    X = np.column_stack([informative, noise])
    raw_1nn = _leave_one_out_1nn(X, y)

    est = ContrastiveEmbedder(
        n_components=2,
        hidden_layer_sizes=(32,),
        batch_size=32,
        max_epochs=30,
        dropout=0.0,  # a noise-free geometric check
        random_state=0,
    )
    Z = est.fit_transform(X, y)

    assert _leave_one_out_1nn(Z, y) == 1.0 > raw_1nn
    distances = np.linalg.norm(Z[:, None] - Z[None], axis=-1)
    same = y[:, None] == y[None]
    off_diagonal = ~np.eye(len(y), dtype=bool)
    assert distances[same & off_diagonal].mean() < 0.25 * distances[~same].mean()


def _leave_one_out_1nn(X, y):
    _, neighbours = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)
    return float(np.mean(y[neighbours[:, 1]] == y))


def test_output_is_float32_of_n_components(blobs, fast_params):
    X, y = blobs
    Z = ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y).transform(X)
    assert Z.dtype == np.float32
    assert Z.shape == (90, 4)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)


def test_normalize_false_gives_unnormalised_embeddings(blobs, fast_params):
    X, y = blobs
    est = ContrastiveEmbedder(
        **fast_params, normalize=False, margin=5.0, random_state=0
    )
    norms = np.linalg.norm(est.fit_transform(X, y), axis=1)
    assert not np.allclose(norms, 1.0)


def test_fit_transform_equals_fit_then_transform(iris, fast_params):
    X, y = iris
    a = ContrastiveEmbedder(**fast_params, random_state=0).fit_transform(X, y)
    b = ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y).transform(X)
    np.testing.assert_array_equal(a, b)


def test_same_seed_is_bit_identical_and_seeds_differ(iris, fast_params):
    X, y = iris
    a = ContrastiveEmbedder(**fast_params, dropout=0.2, random_state=1).fit_transform(
        X, y
    )
    b = ContrastiveEmbedder(**fast_params, dropout=0.2, random_state=1).fit_transform(
        X, y
    )
    c = ContrastiveEmbedder(**fast_params, dropout=0.2, random_state=2).fit_transform(
        X, y
    )
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_state_instance_is_accepted(iris, fast_params):
    X, y = iris
    a = ContrastiveEmbedder(**fast_params, random_state=np.random.RandomState(3))
    b = ContrastiveEmbedder(**fast_params, random_state=np.random.RandomState(3))
    np.testing.assert_array_equal(a.fit_transform(X, y), b.fit_transform(X, y))


def test_global_rngs_are_left_untouched(iris, fast_params):
    """Fitting with an int seed neither reads nor advances the global RNGs."""
    X, y = iris
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()  # noqa: NPY002
    ContrastiveEmbedder(**fast_params, dropout=0.1, random_state=0).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002


def test_learns_on_iris(iris):
    """A real fit improves k-NN over chance by far and matches raw features."""
    X, y = iris
    Z = ContrastiveEmbedder(hidden_layer_sizes=(64,), max_epochs=30, random_state=0)
    Z = Z.fit_transform(X, y)
    assert _leave_one_out_1nn(Z, y) >= 0.93


def test_pipeline_with_knn_and_kmeans(iris, fast_params):
    X, y = iris
    knn = make_pipeline(
        StandardScaler(),
        ContrastiveEmbedder(**fast_params, random_state=0),
        KNeighborsClassifier(),
    )
    assert knn.fit(X, y).score(X, y) > 0.8
    kmeans = make_pipeline(
        ContrastiveEmbedder(n_components=4, max_epochs=20, random_state=0),
        KMeans(n_clusters=3, n_init=3, random_state=0),
    )
    kmeans.fit(X, y)
    assert adjusted_rand_score(y, kmeans[-1].labels_) > 0.6


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_margin(iris, fast_params, n_jobs):
    X, y = iris
    pipe = make_pipeline(
        ContrastiveEmbedder(**fast_params, random_state=0), KNeighborsClassifier()
    )
    search = GridSearchCV(
        pipe, {"contrastiveembedder__margin": [0.5, 1.0, 2.0]}, cv=2, n_jobs=n_jobs
    )
    search.fit(X, y)
    assert search.best_params_["contrastiveembedder__margin"] in (0.5, 1.0, 2.0)
    assert (
        search.best_estimator_[0].net_.criterion_.margin
        == (search.best_params_["contrastiveembedder__margin"])
    )


def test_clone_keeps_params_and_drops_fit(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, margin=0.7, random_state=0).fit(X, y)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "net_")


def test_pandas_in_and_out_with_string_labels(iris, fast_params):
    X, y = iris
    frame = pd.DataFrame(X, columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    est = ContrastiveEmbedder(**fast_params, random_state=0).set_output(
        transform="pandas"
    )
    out = est.fit(frame, labels).transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == [f"contrastiveembedder{i}" for i in range(4)]
    assert list(out.columns) == list(est.get_feature_names_out())
    assert list(est.feature_names_in_) == list(frame.columns)
    assert list(est.classes_) == ["setosa", "versicolor", "virginica"]
    assert out.index.equals(frame.index)


def test_joblib_round_trip_is_bit_identical(iris, fast_params, tmp_path):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)
    joblib.dump(est, tmp_path / "embedder.joblib")
    loaded = joblib.load(tmp_path / "embedder.joblib")
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_transform_in_chunks_matches_one_pass(iris, fast_params, monkeypatch):
    """transform bounds memory by chunking; chunking does not change any row."""
    import sklearn_contrastive._embedder as embedder_module

    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)
    one_pass = est.transform(X)
    monkeypatch.setattr(embedder_module, "_TRANSFORM_BATCH_SIZE", 7)
    np.testing.assert_allclose(est.transform(X), one_pass, atol=1e-6)


def test_transform_leaves_the_fitted_module_unchanged(iris, fast_params):
    """fit leaves the module in eval mode, so transform changes no state."""
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, dropout=0.5, random_state=0).fit(X, y)
    assert not est.net_.module_.training
    direct = est.net_.module_(torch.as_tensor(X, dtype=torch.float32)).detach()
    np.testing.assert_allclose(est.transform(X), direct.numpy(), atol=1e-6)


def test_read_only_input_is_accepted_without_warnings(iris, fast_params):
    import warnings

    X, y = iris
    X = X.astype(np.float32)
    X.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y).transform(X)


def test_duplicated_rows_train_to_finite_embeddings(fast_params):
    X = np.repeat(np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]), 20, axis=0)
    y = np.repeat([0, 1, 1], 20)
    Z = ContrastiveEmbedder(**fast_params, random_state=0).fit_transform(X, y)
    assert np.isfinite(Z).all()


def test_imbalanced_and_class_sorted_labels_still_learn(fast_params):
    """990 rows of one class and 10 of another, sorted by class."""
    X, y = make_blobs(
        n_samples=[990, 10], centers=[[0, 0], [3, 3]], cluster_std=0.5, random_state=0
    )
    order = np.argsort(y, kind="stable")
    Z = ContrastiveEmbedder(**fast_params, random_state=0).fit_transform(
        X[order], y[order]
    )
    assert _leave_one_out_1nn(Z, y[order]) > 0.99


# -- net_params: any other skorch setting


class _CountEpochs(Callback):
    """A user callback written the skorch way: state is set in initialize()."""

    def initialize(self):
        self.epochs_ = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs_ += 1


def test_callbacks_run_on_a_private_copy(iris, fast_params):
    X, y = iris
    counter = _CountEpochs()
    est = ContrastiveEmbedder(
        **fast_params, random_state=0, callbacks=[("count", counter)]
    ).fit(X, y)
    assert dict(est.net_.callbacks_)["count"].epochs_ == fast_params["max_epochs"]
    # The parameter itself is not mutated by fit (scikit-learn's contract).
    assert not hasattr(counter, "epochs_")
    assert clone(est).callbacks[0][1] is not counter


def test_net_params_nested_keys_get_set_and_grid_search(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params,
        optimizer="sgd",
        random_state=0,
        net_params={"optimizer__momentum": 0.5},
    )
    assert est.get_params()["net_params__optimizer__momentum"] == 0.5
    est.set_params(net_params__optimizer__momentum=0.9, margin=0.5)
    assert est.net_params == {"optimizer__momentum": 0.9}
    assert est.margin == 0.5
    est.fit(X, y)
    assert est.net_.optimizer_.defaults["momentum"] == 0.9

    pipe = make_pipeline(est, KNeighborsClassifier())
    search = GridSearchCV(
        pipe,
        {"contrastiveembedder__net_params__optimizer__momentum": [0.0, 0.9]},
        cv=2,
    ).fit(X, y)
    best = search.best_estimator_[0]
    assert best.net_.optimizer_.defaults["momentum"] in (0.0, 0.9)


def test_net_params_train_split_records_validation_loss(iris, fast_params):
    from skorch.dataset import ValidSplit

    X, y = iris
    est = ContrastiveEmbedder(
        **fast_params,
        random_state=0,
        net_params={"train_split": ValidSplit(0.2, stratified=True, random_state=0)},
    ).fit(X, y)
    assert np.isfinite(est.net_.history[-1, "valid_loss"])


# -- bad input gets a clear error


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_X_is_refused(iris, fast_params, value):
    X, y = iris
    X = X.copy()
    X[3, 1] = value
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        ContrastiveEmbedder(**fast_params).fit(X, y)


def test_single_class_is_refused(iris, fast_params):
    X, _ = iris
    msg = (
        "ContrastiveEmbedder needs at least 2 classes to form dissimilar pairs; "
        "got 1 class ('a')."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        ContrastiveEmbedder(**fast_params).fit(X, np.full(len(X), "a"))


@pytest.mark.parametrize(
    "y, expected",
    [
        (np.array([3, 1, 3, 7, 1]), [1, 3, 7]),
        (np.array([3, 1, 3, 7, 1], dtype=np.uint8), [1, 3, 7]),
        (np.array([True, False, True, True, False]), [False, True]),
        (np.array(["c", "a", "c", "g", "a"]), ["a", "c", "g"]),
        (np.array([3.0, 1.0, 3.0, 7.0, 1.0]), [1.0, 3.0, 7.0]),
    ],
)
def test_labels_are_encoded_as_label_encoder_does(y, expected):
    # Integer labels skip type_of_target and LabelEncoder (np.unique gives
    # the same classes); other labels go through them.
    classes, y_encoded = encode_labels(y)
    assert classes.tolist() == expected
    assert classes.dtype == LabelEncoder().fit(y).classes_.dtype
    np.testing.assert_array_equal(y_encoded, LabelEncoder().fit_transform(y))


def test_single_integer_class_is_refused(iris, fast_params):
    X, _ = iris
    msg = (
        "ContrastiveEmbedder needs at least 2 classes to form dissimilar pairs; "
        "got 1 class (4)."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        ContrastiveEmbedder(**fast_params).fit(X, np.full(len(X), 4))


def test_continuous_y_is_refused(iris, fast_params):
    X, _ = iris
    y = np.linspace(0, 1, len(X))
    with pytest.raises(ValueError, match="needs class labels.*'continuous'.*KBins"):
        ContrastiveEmbedder(**fast_params).fit(X, y)


def test_missing_y_trains_without_labels(iris, fast_params):
    # fit(X) is self-supervised (tests/test_targets.py); no silent class.
    X, _ = iris
    embedder = ContrastiveEmbedder(**fast_params).fit(X, None)
    assert embedder.classes_.shape == (0,)


def test_transform_before_fit(iris):
    X, _ = iris
    with pytest.raises(NotFittedError, match="not fitted yet"):
        ContrastiveEmbedder().transform(X)


def test_wrong_number_of_features_at_transform(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but ContrastiveEmbedder"):
        est.transform(X[:, :3])


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"margin": 0}, ValueError, "margin == 0, must be > 0"),
        ({"margin": -1.0}, ValueError, "margin == -1.0, must be > 0"),
        ({"margin": "1"}, TypeError, "margin must be an instance of float"),
        ({"n_components": 0}, ValueError, "n_components == 0, must be >= 1"),
        ({"n_components": 2.5}, TypeError, "n_components must be an instance of int"),
        ({"batch_size": 1}, ValueError, "batch_size == 1, must be >= 2"),
        ({"max_epochs": 0}, ValueError, "max_epochs == 0, must be >= 1"),
        ({"lr": 0.0}, ValueError, "lr == 0.0, must be > 0"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay == -0.1, must be >= 0"),
        ({"dropout": 1.0}, ValueError, r"dropout == 1.0, must be < 1"),
        ({"similar_weight": -1}, ValueError, "similar_weight == -1, must be >= 0"),
        ({"verbose": -1}, ValueError, "verbose == -1, must be >= 0"),
        (
            {"margin": float("nan")},
            ValueError,
            "margin must be a finite number; got nan",
        ),
        ({"lr": float("inf")}, ValueError, "lr must be a finite number; got inf"),
        ({"dropout": float("nan")}, ValueError, "dropout must be a finite number"),
        ({"n_components": True}, TypeError, "n_components must be an int; got True"),
        (
            {"net_params": {"iterator_train__batch_size": 8}},
            ValueError,
            "may not set 'iterator_train__batch_size'.*use batch_size instead",
        ),
        ({"normalize": "yes"}, TypeError, "normalize must be True or False; got 'yes'"),
        (
            {"hidden_layer_sizes": (64, 0)},
            ValueError,
            re.escape("hidden_layer_sizes must be a tuple of positive integers"),
        ),
        ({"hidden_layer_sizes": -64}, ValueError, "an int for one layer.*got -64"),
        ({"hidden_layer_sizes": "64"}, ValueError, "got '64'"),
        ({"optimizer": "lbfgs"}, ValueError, "optimizer must be one of .*got 'lbfgs'"),
        (
            {"device": "tpu"},
            ValueError,
            "device must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got 'tpu'",
        ),
        ({"net_params": [("lr", 1)]}, TypeError, "net_params must be a dict"),
        ({"net_params": {"lr": 0.1}}, ValueError, "may not set 'lr'.*use lr instead"),
        (
            {"net_params": {"module__n_components": 3}},
            ValueError,
            "may not set 'module__n_components'",
        ),
        (
            {"validation_fraction": 1.0},
            ValueError,
            "validation_fraction == 1.0, must be < 1",
        ),
        (
            {"validation_fraction": 0},
            ValueError,
            "validation_fraction == 0, must be > 0",
        ),
        ({"n_iter_no_change": 0}, ValueError, "n_iter_no_change == 0, must be >= 1"),
        ({"n_iter_no_change": 2.0}, TypeError, "n_iter_no_change must be an inst"),
        ({"tol": -1e-3}, ValueError, "tol == -0.001, must be >= 0"),
        ({"tol": float("nan")}, ValueError, "tol must be a finite number; got nan"),
        (
            {"early_stopping": "yes"},
            TypeError,
            "early_stopping must be True or False; got 'yes'",
        ),
        ({"warm_start": 1}, TypeError, "warm_start must be True or False; got 1"),
        (
            {"pair_mining": "semi-hard"},
            ValueError,
            re.escape("pair_mining must be one of ('all', 'hard'); got 'semi-hard'"),
        ),
        (
            {"samples_per_class": 1},
            ValueError,
            "samples_per_class == 1, must be >= 2",
        ),
        (
            {"samples_per_class": 17},
            ValueError,
            "samples_per_class == 17, must be <= 16",
        ),
        ({"samples_per_class": True}, TypeError, "samples_per_class must be an int"),
        ({"n_threads": 0}, ValueError, "n_threads == 0, must be >= 1"),
        ({"n_threads": "2"}, TypeError, "n_threads must be an instance of int"),
        (
            {"module": "mlp"},
            TypeError,
            "module must be None .*; got 'mlp'",
        ),
    ],
)
def test_invalid_parameters_name_the_parameter(iris, fast_params, params, error, match):
    X, y = iris
    with pytest.raises(error, match=match):
        ContrastiveEmbedder(**{**fast_params, **params}).fit(X, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused(iris, fast_params):
    X, y = iris
    with pytest.raises(ValueError, match="sees no CUDA device; use device='cpu'"):
        ContrastiveEmbedder(**fast_params, device="cuda").fit(X, y)


def test_device_auto_falls_back_to_cpu(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, device="auto", random_state=0).fit(X, y)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert est.net_.device == expected


def test_diverging_loss_stops_with_advice_and_no_model(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(
        **{**fast_params, "max_epochs": 50},
        normalize=False,
        optimizer="sgd",
        lr=1e12,
        weight_decay=0.0,
        margin=10.0,
        random_state=0,
    )
    with pytest.raises(FloatingPointError, match="Scale the features.*lower the"):
        est.fit(X * 1e6, y)
    with pytest.raises(NotFittedError):
        est.transform(X)


class _PoisonsAWeight(Callback):
    """Makes one weight NaN after the last loss was read, as a last optimizer
    step can."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == net.max_epochs:
            with torch.no_grad():
                next(net.module_.parameters()).view(-1)[0] = float("nan")


def test_non_finite_weights_after_the_last_step_are_refused(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, callbacks=[_PoisonsAWeight()])
    with pytest.raises(FloatingPointError, match="weights became non-finite"):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.transform(X)


def test_failed_refit_does_not_keep_the_previous_model(iris, fast_params):
    """A refit that fails must not leave the old net_ beside the new classes_."""
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="needs at least 2 classes"):
        est.fit(X, np.zeros(len(X)))
    with pytest.raises(NotFittedError):
        est.transform(X)


def test_verbose_0_prints_nothing_and_verbose_1_prints_the_epoch_table(
    iris, fast_params, capsys
):
    X, y = iris
    ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""
    ContrastiveEmbedder(**fast_params, random_state=0, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "epoch" in out


def test_one_int_is_one_hidden_layer_and_optimizer_names_ignore_case():
    """As MLPClassifier reads hidden_layer_sizes=16, and "Adam" as torch
    spells it; get_params keeps what was given."""
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    base = dict(n_components=2, max_epochs=2, random_state=0)
    as_tuple = ContrastiveEmbedder(
        **base, hidden_layer_sizes=(16,), projection_head=(8,)
    )
    as_int = ContrastiveEmbedder(
        **base, hidden_layer_sizes=16, projection_head=8, optimizer="Adam"
    )
    np.testing.assert_array_equal(
        as_int.fit(X, y).transform(X), as_tuple.fit(X, y).transform(X)
    )
    assert as_int.get_params()["hidden_layer_sizes"] == 16
    assert as_int.get_params()["optimizer"] == "Adam"
    assert type(as_int.net_.optimizer_) is torch.optim.Adam
