"""The displays of sklearn_contrastive.plotting, drawn with the Agg backend.

The data a display holds is checked against a direct computation (distances
recomputed with scipy's ``pdist``, PCA refitted); the drawing against the
artists it leaves on the axes.
"""

import re
import subprocess
import sys
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive.plotting import (
    EmbeddingDisplay,
    PairDistanceDisplay,
    TrainingCurveDisplay,
)

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _embedder(**params):
    params = {
        "n_components": 4,
        "hidden_layer_sizes": (16,),
        "max_epochs": 3,
        "n_threads": 1,
        "random_state": 0,
        **params,
    }
    return ContrastiveEmbedder(**params)


@pytest.fixture(scope="module")
def fitted(iris):
    return _embedder(margin=0.7).fit(*iris)


@pytest.fixture(scope="module")
def fitted_early_stopping(iris):
    return _embedder(early_stopping=True, validation_fraction=0.3, max_epochs=5).fit(
        *iris
    )


@pytest.fixture(scope="module")
def classifier_pipeline(iris):
    """A classifier on the embedding: the displays draw ``pipe[:2]``."""
    steps = (StandardScaler(), _embedder(margin=0.7), KNeighborsClassifier())
    return make_pipeline(*steps).fit(*iris)


def _pair_oracle(embeddings, y):
    """Sorted distances of all similar and all dissimilar pairs ``i < j``."""
    distances = pdist(np.asarray(embeddings, dtype=np.float64))
    same = pdist(np.asarray(y)[:, None], metric="hamming") == 0
    return np.sort(distances[same]), np.sort(distances[~same])


def _legend_texts(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


# -- matplotlib is optional


def test_import_does_not_import_matplotlib():
    code = (
        "import sys, sklearn_contrastive, sklearn_contrastive.plotting; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "draw",
    [
        lambda: PairDistanceDisplay([0.1], [1.0]).plot(),
        lambda: PairDistanceDisplay.from_embeddings([[0.0], [1.0], [2.0]], [0, 0, 1]),
        lambda: EmbeddingDisplay([[0, 0], [1, 1]], [0, 1]).plot(),
        lambda: EmbeddingDisplay.from_embeddings([[0, 0], [1, 1]], [0, 1]),
        lambda: TrainingCurveDisplay([{"epoch": 1, "train_loss": 1.0}]).plot(),
    ],
)
def test_missing_matplotlib_raises_import_error(monkeypatch, draw):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    msg = "requires matplotlib: pip install 'sklearn-contrastive[plot]'"
    with pytest.raises(ImportError, match=re.escape(msg)):
        draw()


# -- PairDistanceDisplay: which pairs, and their distances


def test_pair_distances_all_pairs_when_few():
    """n(n-1)/2 <= max_pairs: every pair i < j once, as pdist computes them."""
    rng = np.random.RandomState(0)
    embeddings, y = rng.normal(size=(15, 3)), rng.randint(3, size=15)
    display = PairDistanceDisplay.from_embeddings(embeddings, y, max_pairs=105)
    similar, dissimilar = _pair_oracle(embeddings, y)
    np.testing.assert_allclose(np.sort(display.similar_distances), similar)
    np.testing.assert_allclose(np.sort(display.dissimilar_distances), dissimilar)


def test_pair_distances_sampled_are_true_pair_distances():
    """n(n-1)/2 > max_pairs: exactly max_pairs pairs, each a real pair i != j of
    the right kind (the distances of random points identify their pair)."""
    rng = np.random.RandomState(0)
    embeddings = rng.normal(size=(60, 4)).astype(np.float32)
    y = rng.randint(3, size=60)
    display = PairDistanceDisplay.from_embeddings(
        embeddings, y, max_pairs=300, random_state=0
    )
    similar, dissimilar = _pair_oracle(embeddings, y)
    assert len(display.similar_distances) + len(display.dissimilar_distances) == 300
    for drawn, oracle in [
        (display.similar_distances, similar),
        (display.dissimilar_distances, dissimilar),
    ]:
        nearest = np.abs(np.asarray(drawn)[:, None] - oracle[None]).min(axis=1)
        assert nearest.max() < 1e-5
    assert np.min(display.similar_distances) > 0  # never a row with itself


def test_pair_sampling_is_reproducible_and_uniform():
    rng = np.random.RandomState(0)
    embeddings = rng.normal(size=(400, 2))
    y = np.repeat([0, 1], 200)  # 79,800 pairs, 39,800 of them similar

    def draw(seed, max_pairs=2000):
        display = PairDistanceDisplay.from_embeddings(
            embeddings, y, max_pairs=max_pairs, random_state=seed
        )
        return display.similar_distances, display.dissimilar_distances

    first, again, other = draw(0), draw(0), draw(1)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])

    # Uniform over pairs: the share of similar pairs matches the data's.
    similar, dissimilar = draw(np.random.RandomState(2), max_pairs=20_000)
    expected = 39_800 / 79_800
    assert len(similar) / 20_000 == pytest.approx(expected, abs=0.015)


def test_pair_sampling_never_builds_an_n_by_n_array():
    """20,000 rows: an n x n array of bools alone would take 400 MB."""
    rng = np.random.RandomState(0)
    embeddings = rng.normal(size=(20_000, 2)).astype(np.float32)
    y = rng.randint(10, size=20_000)
    tracemalloc.start()
    try:
        display = PairDistanceDisplay.from_embeddings(
            embeddings, y, max_pairs=1000, random_state=0
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(display.similar_distances) + len(display.dissimilar_distances) == 1000
    assert peak < 20e6


def test_active_fraction_and_legend():
    display = PairDistanceDisplay([0.1, 0.2], [0.3, 0.8, 1.0, 1.5], margin=1.0)
    assert display.active_fraction_ == 0.5  # 1.0 itself is not inside
    display.plot()
    texts = _legend_texts(display.ax_)
    assert texts[0] == "similar pairs (n=2)"
    assert texts[1] == "dissimilar pairs (n=4)"
    assert texts[2] == "margin = 1\n50.0% of dissimilar pairs inside"
    assert PairDistanceDisplay([0.1], [0.3]).active_fraction_ is None


def test_active_fraction_from_embeddings_matches_oracle():
    rng = np.random.RandomState(0)
    embeddings, y = rng.normal(size=(30, 2)), rng.randint(2, size=30)
    display = PairDistanceDisplay.from_embeddings(embeddings, y, margin=1.5)
    _, dissimilar = _pair_oracle(embeddings, y)
    assert display.active_fraction_ == pytest.approx(np.mean(dissimilar < 1.5))


def test_margin_line_drawn_at_margin():
    display = PairDistanceDisplay([0.1, 0.2], [0.9, 1.1], margin=0.75).plot()
    np.testing.assert_array_equal(display.margin_line_.get_xdata(), [0.75, 0.75])
    assert display.margin_line_ in display.ax_.get_lines()

    no_margin = PairDistanceDisplay([0.1, 0.2], [0.9, 1.1]).plot()
    assert no_margin.margin_line_ is None
    assert no_margin.ax_.get_lines() == []
    assert len(_legend_texts(no_margin.ax_)) == 2


def test_histograms_share_bins_and_are_densities():
    rng = np.random.RandomState(0)
    similar, dissimilar = rng.uniform(0, 1, 200), rng.uniform(0.5, 2, 500)
    display = PairDistanceDisplay(similar, dissimilar).plot(
        bins=20, hist_kwargs={"histtype": "bar"}
    )
    np.testing.assert_allclose(
        display.bin_edges_,
        np.histogram_bin_edges(np.concatenate([similar, dissimilar]), bins=20),
    )
    for patches in (display.similar_patches_, display.dissimilar_patches_):
        assert [p.get_x() for p in patches] == pytest.approx(display.bin_edges_[:-1])
        area = sum(p.get_height() * p.get_width() for p in patches)
        assert area == pytest.approx(1.0)
    ax = display.ax_
    assert ax.get_xlabel() == "Euclidean distance between embeddings"
    assert ax.get_ylabel() == "Density"
    assert ax.get_xlim()[0] == 0


def test_pair_display_honours_ax_and_name():
    fig, ax = plt.subplots()
    display = PairDistanceDisplay.from_embeddings(
        [[0.0], [0.1], [1.0], [1.2]], [0, 0, 1, 1], ax=ax, name="after training"
    )
    assert display.ax_ is ax
    assert display.figure_ is fig
    assert ax.get_title() == "after training"
    assert len(fig.axes) == 1


def test_pair_display_from_estimator_reads_margin(iris, fitted):
    X, y = iris
    display = PairDistanceDisplay.from_estimator(fitted, X, y, random_state=0)
    assert display.margin == 0.7
    np.testing.assert_array_equal(display.margin_line_.get_xdata(), [0.7, 0.7])
    assert display.ax_.get_title() == "ContrastiveEmbedder"
    similar, dissimilar = _pair_oracle(fitted.transform(X), y)
    np.testing.assert_allclose(np.sort(display.similar_distances), similar, rtol=1e-5)
    np.testing.assert_allclose(
        np.sort(display.dissimilar_distances), dissimilar, rtol=1e-5
    )

    explicit = PairDistanceDisplay.from_estimator(fitted, X, y, margin=1.2)
    assert explicit.margin == 1.2


def test_pair_display_from_pipeline_and_estimator_without_margin(iris, fitted):
    X, y = iris
    scaler = StandardScaler().fit(X)
    pipe = make_pipeline(scaler, fitted)
    display = PairDistanceDisplay.from_estimator(pipe, X, y, max_pairs=500)
    assert display.margin == 0.7
    assert display.ax_.get_title() == "ContrastiveEmbedder"

    pca = PCA(n_components=2).fit(X)
    display = PairDistanceDisplay.from_estimator(pca, X, y, max_pairs=500)
    assert display.margin is None
    assert display.active_fraction_ is None
    assert display.margin_line_ is None


@pytest.mark.parametrize(
    "params, error, msg",
    [
        ({"max_pairs": 0}, ValueError, "max_pairs must be at least 1; got 0."),
        ({"max_pairs": 1.5}, TypeError, "max_pairs must be an int; got 1.5."),
        ({"max_pairs": True}, TypeError, "max_pairs must be an int; got True."),
        (
            {"margin": -1.0},
            ValueError,
            "margin must be a positive number or None; got -1.0.",
        ),
        (
            {"margin": "1"},
            TypeError,
            "margin must be a positive number or None; got '1'.",
        ),
    ],
)
def test_pair_display_parameter_errors(params, error, msg):
    with pytest.raises(error, match=re.escape(msg)):
        PairDistanceDisplay.from_embeddings([[0.0], [1.0], [2.0]], [0, 0, 1], **params)


def test_pair_display_label_errors():
    msg = "PairDistanceDisplay needs at least 2 classes to form dissimilar pairs; "
    with pytest.raises(ValueError, match=re.escape(msg + "got 1 class ('a').")):
        PairDistanceDisplay.from_embeddings([[0.0], [1.0]], ["a", "a"])

    msg = (
        "PairDistanceDisplay needs a class with at least 2 rows to form similar "
        "pairs; each of the 3 classes of y has 1 row."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        PairDistanceDisplay.from_embeddings([[0.0], [1.0], [2.0]], [0, 1, 2])

    # One similar pair among ~500,000: 10 random pairs miss it.
    y = np.arange(1000)
    y[1] = 0
    msg = (
        "PairDistanceDisplay drew no similar pair among max_pairs=10 random pairs "
        "of 1000 rows; raise max_pairs."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        PairDistanceDisplay.from_embeddings(
            np.zeros((1000, 2)), y, max_pairs=10, random_state=0
        )

    with pytest.raises(ValueError, match="y must be 1-D class labels"):
        PairDistanceDisplay.from_embeddings([[0.0], [1.0]], [[0], [1]])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        PairDistanceDisplay.from_embeddings([[0.0], [1.0]], [0, 1, 1])


# -- EmbeddingDisplay


def test_embedding_display_2d_is_drawn_as_is():
    rng = np.random.RandomState(0)
    embeddings, y = rng.normal(size=(20, 2)), rng.randint(3, size=20)
    display = EmbeddingDisplay.from_embeddings(embeddings, y)
    np.testing.assert_array_equal(display.embedding_2d, embeddings)
    assert display.ax_.get_xlabel() == "component 1"
    assert display.ax_.get_ylabel() == "component 2"


def test_embedding_display_projects_wider_embeddings_with_pca():
    rng = np.random.RandomState(0)
    embeddings, y = rng.normal(size=(40, 5)), rng.randint(3, size=40)
    display = EmbeddingDisplay.from_embeddings(embeddings, y)
    pca = PCA(n_components=2).fit(embeddings)
    np.testing.assert_allclose(display.embedding_2d, pca.transform(embeddings))
    ratios = pca.explained_variance_ratio_
    assert display.ax_.get_xlabel() == f"PC1 ({ratios[0]:.0%} of variance)"
    assert display.ax_.get_ylabel() == f"PC2 ({ratios[1]:.0%} of variance)"


def test_embedding_display_legend_and_points_per_class():
    embeddings = np.array([[0, 0], [1, 0], [5, 5], [6, 5], [7, 5]], dtype=float)
    y = np.array(["dog", "dog", "cat", "cat", "cat"])
    display = EmbeddingDisplay.from_embeddings(embeddings, y, name="pets")
    assert _legend_texts(display.ax_) == ["cat", "dog"]
    assert display.ax_.get_legend().get_title().get_text() == "class"
    assert display.ax_.get_title() == "pets"
    np.testing.assert_array_equal(display.scatters_[0].get_offsets(), embeddings[2:])
    np.testing.assert_array_equal(display.scatters_[1].get_offsets(), embeddings[:2])
    colors = [tuple(s.get_facecolor()[0]) for s in display.scatters_]
    assert len(set(colors)) == 2


def test_embedding_display_from_estimator_and_ax(iris, fitted):
    X, y = iris
    fig, ax = plt.subplots()
    display = EmbeddingDisplay.from_estimator(fitted, X, y, ax=ax)
    assert display.ax_ is ax
    assert display.figure_ is fig
    assert display.ax_.get_title() == "ContrastiveEmbedder"
    expected = PCA(n_components=2).fit_transform(fitted.transform(X))
    np.testing.assert_allclose(display.embedding_2d, expected, rtol=1e-4, atol=1e-5)
    assert _legend_texts(ax) == ["0", "1", "2"]


def test_embedding_display_errors():
    msg = (
        "EmbeddingDisplay needs embeddings with at least 2 components to draw in "
        "2-D; got 1. Use PairDistanceDisplay for a 1-D embedding."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        EmbeddingDisplay.from_embeddings([[0.0], [1.0]], [0, 1])

    msg = (
        "EmbeddingDisplay draws 2-D points: embedding_2d must have shape "
        "(n_samples, 2); got (2, 3)."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        EmbeddingDisplay(np.zeros((2, 3)), [0, 1]).plot()


# -- TrainingCurveDisplay


def test_training_curves_without_validation(fitted):
    display = TrainingCurveDisplay.from_estimator(fitted)
    assert list(display.lines_) == ["train_loss"]
    assert display.ax2_ is None
    assert display.best_marker_ is None
    epochs = [epoch["epoch"] for epoch in fitted.history_]
    np.testing.assert_array_equal(display.lines_["train_loss"].get_xdata(), epochs)
    np.testing.assert_allclose(
        display.lines_["train_loss"].get_ydata(), fitted.loss_curve_
    )
    assert display.ax_.get_xlabel() == "epoch"
    assert display.ax_.get_ylabel() == "contrastive loss"
    assert _legend_texts(display.ax_) == ["train loss"]


def test_training_curves_with_early_stopping_on_pairs():
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    X = (y[:, None] + rng.normal(0, 0.5, size=(120, 4))).astype(np.float32)
    pairs = rng.integers(0, 120, size=(500, 2))
    similar = y[pairs[:, 0]] == y[pairs[:, 1]]
    est = ContrastiveEmbedder(
        n_components=2,
        hidden_layer_sizes=(8,),
        max_epochs=30,
        lr=0.1,
        early_stopping=True,
        n_iter_no_change=2,
        random_state=0,
    ).fit(X, pairs=pairs, similar=similar)
    display = TrainingCurveDisplay.from_estimator(est)
    assert list(display.lines_) == ["train_loss", "valid_pair_loss"]
    assert display.ax2_ is None
    np.testing.assert_allclose(
        display.lines_["valid_pair_loss"].get_ydata(), est.validation_scores_
    )
    # The kept epoch is starred on the pair loss, at the kept score.
    assert display.best_marker_.get_ydata()[0] == est.best_validation_score_
    (kept,) = [
        e["epoch"]
        for e in est.history_
        if e["valid_pair_loss"] == est.best_validation_score_
    ]
    assert display.best_marker_.get_xdata()[0] == kept
    assert _legend_texts(display.ax_)[:2] == ["train loss", "validation pair loss"]
    plt.close(display.figure_)


def test_training_curves_with_validation(fitted_early_stopping):
    est = fitted_early_stopping
    display = TrainingCurveDisplay.from_estimator(est)
    assert list(display.lines_) == ["train_loss", "valid_loss", "valid_map_at_r"]
    assert display.ax2_ is not None
    assert display.ax2_.get_shared_x_axes().joined(display.ax_, display.ax2_)
    assert display.ax2_.get_ylabel() == "validation MAP@R"
    np.testing.assert_allclose(
        display.lines_["valid_map_at_r"].get_ydata(), est.validation_scores_
    )
    np.testing.assert_allclose(
        display.lines_["valid_loss"].get_ydata(),
        [epoch["valid_loss"] for epoch in est.history_],
    )
    # The marker sits on the epoch whose weights were kept.
    (kept,) = [
        e for e in est.history_ if e["valid_map_at_r"] == est.best_validation_score_
    ]
    assert display.best_marker_.get_xdata()[0] == kept["epoch"]
    assert display.best_marker_.get_ydata()[0] == est.best_validation_score_
    texts = _legend_texts(display.ax2_)
    assert texts[:3] == ["train loss", "validation loss", "validation MAP@R"]
    assert texts[3] == (
        f"best epoch {kept['epoch']}: MAP@R {est.best_validation_score_:.3f}"
    )


def test_training_curves_from_pipeline_dataframe_and_ax(iris, fitted_early_stopping):
    X, _ = iris
    pipe = make_pipeline(StandardScaler().fit(X), fitted_early_stopping)
    fig, ax = plt.subplots()
    display = TrainingCurveDisplay.from_estimator(pipe, ax=ax, name="digits")
    assert display.ax_ is ax
    assert display.figure_ is fig
    assert ax.get_title() == "digits"

    history = pd.DataFrame(fitted_early_stopping.history_)
    from_frame = TrainingCurveDisplay(history).plot()
    assert list(from_frame.lines_) == ["train_loss", "valid_loss", "valid_map_at_r"]


def test_training_curves_best_epoch_defaults_to_highest_score():
    history = [
        {"epoch": 1, "train_loss": 0.3, "valid_map_at_r": 0.5},
        {"epoch": 2, "train_loss": 0.2, "valid_map_at_r": 0.8},
        {"epoch": 3, "train_loss": 0.1, "valid_map_at_r": 0.7},
    ]
    display = TrainingCurveDisplay(history).plot()
    assert display.best_marker_.get_xdata()[0] == 2
    assert "valid_loss" not in display.lines_

    marked = TrainingCurveDisplay(history, best_epoch=3).plot()
    assert marked.best_marker_.get_xdata()[0] == 3

    msg = "best_epoch=7 is not an epoch of the history (epochs 1 to 3)."
    with pytest.raises(ValueError, match=re.escape(msg)):
        TrainingCurveDisplay(history, best_epoch=7).plot()


def test_training_curves_errors(fitted):
    with pytest.raises(NotFittedError):
        TrainingCurveDisplay.from_estimator(_embedder())
    with pytest.raises(NotFittedError):
        TrainingCurveDisplay.from_estimator(
            make_pipeline(StandardScaler(), _embedder())
        )

    msg = (
        "TrainingCurveDisplay needs an estimator with a history_ attribute, such as "
        "a fitted ContrastiveEmbedder; got PCA."
    )
    with pytest.raises(TypeError, match=re.escape(msg)):
        TrainingCurveDisplay.from_estimator(PCA().fit(np.eye(3)))

    msg = "TrainingCurveDisplay needs a history with at least 1 epoch; got none."
    with pytest.raises(ValueError, match=re.escape(msg)):
        TrainingCurveDisplay([]).plot()

    msg = (
        "TrainingCurveDisplay needs the keys 'epoch' and 'train_loss' in every "
        "epoch of the history; 'train_loss' is missing."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        TrainingCurveDisplay([{"epoch": 1, "valid_loss": 0.1}]).plot()


# -- pipelines that end with a classifier


def test_displays_of_a_pipeline_ending_with_a_classifier(iris, classifier_pipeline):
    X, y = iris
    embeddings = classifier_pipeline[:2].transform(X)

    display = EmbeddingDisplay.from_estimator(classifier_pipeline, X, y)
    expected = PCA(n_components=2).fit_transform(embeddings)
    np.testing.assert_allclose(display.embedding_2d, expected, rtol=1e-4, atol=1e-5)
    assert display.ax_.get_title() == "ContrastiveEmbedder"

    display = PairDistanceDisplay.from_estimator(classifier_pipeline, X, y)
    similar, dissimilar = _pair_oracle(embeddings, y)
    np.testing.assert_allclose(np.sort(display.similar_distances), similar, rtol=1e-5)
    np.testing.assert_allclose(
        np.sort(display.dissimilar_distances), dissimilar, rtol=1e-5
    )
    assert display.margin == 0.7  # the embedder's, not the classifier's
    assert display.ax_.get_title() == "ContrastiveEmbedder"

    display = TrainingCurveDisplay.from_estimator(classifier_pipeline)
    assert display.history is classifier_pipeline[1].history_


@pytest.mark.parametrize(
    "draw",
    [
        lambda pipe, X, y: EmbeddingDisplay.from_estimator(pipe, X, y),
        lambda pipe, X, y: PairDistanceDisplay.from_estimator(pipe, X, y),
        lambda pipe, X, y: TrainingCurveDisplay.from_estimator(pipe),
    ],
    ids=["embedding", "pair_distances", "training_curve"],
)
def test_displays_refuse_a_classifier_pipeline_without_embedder(
    pipeline_without_embedder, draw
):
    pipe, X, y, message = pipeline_without_embedder
    with pytest.raises(TypeError, match=re.escape("Display.from_estimator " + message)):
        draw(pipe, X, y)


@pytest.mark.parametrize(
    "labels", [["Adelie", "Chinstrap", "Gentoo"], list(range(30))], ids=["3", "30"]
)
def test_embedding_legend_fits_its_figure_and_no_two_classes_look_alike(labels):
    rng = np.random.default_rng(0)
    y = np.asarray(labels)[rng.integers(len(labels), size=600)]
    display = EmbeddingDisplay(rng.normal(size=(600, 2)), y).plot()
    figure = display.figure_
    figure.canvas.draw()
    legend = display.ax_.get_legend()
    box, page = legend.get_window_extent(), figure.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1
    assert page.y0 <= box.y0 and box.y1 <= page.y1
    assert [t.get_text() for t in legend.get_texts()] == [str(c) for c in np.unique(y)]
    looks = {
        (tuple(np.round(s.get_facecolor()[0], 3)), s.get_paths()[0].vertices.shape)
        for s in display.scatters_
    }
    assert len(looks) == len(labels)
