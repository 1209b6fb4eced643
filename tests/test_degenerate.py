"""Degenerate fits and inputs that must not pass in silence (issue 16).

Each case used to end in a model that looked fitted, or in an error from deep
inside NumPy that never named the argument: embeddings collapsed to a point
with dropout on, a loss that diverged to 1e20 without becoming inf, labels
with ``None`` or a mix of numbers and strings, ``similar`` with missing
values, empty ``pairs``, classes of one row each, and a margin that unit
vectors can never reach. Each now warns or raises with what was received and
the fix.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.semi_supervised import SelfTrainingClassifier

from sklearn_contrastive import ContrastiveEmbedder
from sklearn_contrastive._targets import SAMPLE_ROWS, TrainingTarget


def _labels(n_samples=200, n_classes=3, seed=0):
    return np.random.default_rng(seed).integers(0, n_classes, n_samples)


def _messages(record):
    return [str(warning.message) for warning in record]


# -- collapse, seen as transform embeds the rows (item 3)


@pytest.mark.parametrize(
    "X",
    [
        np.ones((200, 5)),
        np.random.default_rng(0).normal(size=(200, 5)) * 1e-30,
    ],
    ids=["constant", "scaled-1e-30"],
)
def test_collapse_warns_with_dropout_on(fast_params, X):
    """Every row gets the same embedding. Dropout (on by default) kept the
    training-mode distances that the pair diagnostics record apart, so the
    check read no collapse; it now embeds a sample of the training rows as
    ``transform`` does."""
    est = ContrastiveEmbedder(**fast_params, random_state=0)
    assert est.dropout > 0
    with pytest.warns(
        ConvergenceWarning,
        match="collapsed to a point: dissimilar training pairs lie .* as transform "
        "embeds them.*StandardScaler",
    ):
        est.fit(X, _labels())
    embeddings = est.transform(X)
    assert np.ptp(embeddings, axis=0).max() < 1e-3
    # The training-mode distances were not collapsed.
    assert est.history_[-1]["dissimilar_distance"] > 0.01 * est.margin


def test_collapse_check_samples_a_bounded_number_of_pairs():
    """The eval-mode check embeds at most SAMPLE_ROWS rows (never an n x n
    matrix), chosen without randomness, and pairs only rows that are not two
    rows of one class."""
    y = np.arange(10_000) % 4
    target = TrainingTarget.from_fit(len(y), y)
    first, second = target.dissimilar_sample()
    assert len(np.unique(np.r_[first, second])) <= SAMPLE_ROWS
    assert 0 < len(first) <= SAMPLE_ROWS * (SAMPLE_ROWS - 1) // 2
    assert (y[first] != y[second]).all()
    again = TrainingTarget.from_fit(len(y), y).dissimilar_sample()
    np.testing.assert_array_equal(first, again[0])

    pairs = np.array([[0, 1], [1, 2], [2, 3], [3, 0]])
    similar = np.array([True, False, True, False])
    target = TrainingTarget.from_fit(4, pairs=pairs, similar=similar)
    first, second = target.dissimilar_sample()
    np.testing.assert_array_equal(np.c_[first, second], pairs[~similar])


# -- divergence to huge but finite losses (item 4)


def test_divergence_to_a_finite_loss_warns_with_advice(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, normalize=False, lr=1e3, random_state=0)
    with pytest.warns(ConvergenceWarning) as record:
        est.fit(X, y)
    assert np.isfinite(est.loss_curve_).all()
    assert max(est.loss_curve_) > 1e6
    messages = _messages(record)
    diverged = [m for m in messages if "training diverged" in m]
    assert len(diverged) == 1
    assert re.search(
        r"the training loss grew from \S+ at the first batch to \S+ in epoch \d+",
        diverged[0],
    )
    advice = ("Lower lr (got lr=1000.0)", "normalize=True", "GradientNormClipping")
    assert all(part in diverged[0] for part in advice)
    # Its distances mean nothing: no advice to raise the margin to them.
    assert not any("No dissimilar pair came within" in m for m in messages)


@pytest.mark.parametrize(
    "params",
    [{}, {"normalize": False}, {"normalize": False, "lr": 1e-2}, {"lr": 1e-2}],
)
def test_healthy_fits_do_not_warn_of_divergence(iris, fast_params, params):
    X, y = iris
    est = ContrastiveEmbedder(**{**fast_params, "max_epochs": 10}, **params)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        est.set_params(random_state=0).fit(X, y)
    assert not any("diverged" in m for m in _messages(record))


# -- errors that name the argument (item 6)


_X = np.random.default_rng(0).normal(size=(20, 3))


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (
            np.array([0, 1, None, 1] * 5, dtype=object),
            "y holds 5 missing labels (None or NA; the first at row 2) among 20",
        ),
        (
            np.array(["a", "b", None, "b"] * 5, dtype=object),  # numpy's '<' error
            "y holds 5 missing labels (None or NA; the first at row 2) among 20",
        ),
        (
            np.array([0, "a", 1, "b"] * 5, dtype=object),
            "y mixes numbers and strings as class labels: got 10 numbers (e.g. 0) "
            "and 10 strings (e.g. 'a'). Give every class label one type",
        ),
    ],
    ids=["none", "none-among-strings", "numbers-and-strings"],
)
def test_labels_that_are_not_classes_are_refused_by_name(fast_params, y, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ContrastiveEmbedder(**fast_params).fit(_X, y)


def test_missing_labels_point_to_unlabeled_label(fast_params):
    y = np.array([0, 1, None, 1] * 5, dtype=object)
    with pytest.raises(ValueError, match=re.escape("unlabeled_label=-1")):
        ContrastiveEmbedder(**fast_params, unlabeled_label=-1).fit(_X, y)
    y[y == None] = -1  # noqa: E711 (elementwise)
    ContrastiveEmbedder(**fast_params, unlabeled_label=-1).fit(_X, y)


def test_object_labels_of_one_type_are_classes(fast_params):
    # Numbers only (a pandas object column): scikit-learn calls them "unknown".
    est = ContrastiveEmbedder(**fast_params)
    est.fit(_X, np.array([0, 1, 2, 1] * 5, dtype=object))
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    # Strings next to a numeric marker of unlabelled rows.
    y = np.array(["a", "b", -1, "b"] * 5, dtype=object)
    est = ContrastiveEmbedder(**fast_params, unlabeled_label=-1).fit(_X, y)
    np.testing.assert_array_equal(est.classes_, ["a", "b"])


_PAIRS = np.array([[0, 1], [2, 3], [4, 5], [6, 7]])


@pytest.mark.parametrize(
    ("similar", "message"),
    [
        (
            pd.array([True, False, None, True], dtype="boolean"),
            "similar holds 1 missing values (None or NA; the first at pair 2); "
            "every pair needs True (similar) or False (dissimilar)",
        ),
        (
            pd.Series([True, None, False, True], dtype="boolean"),
            "similar holds 1 missing values (None or NA; the first at pair 1)",
        ),
        (
            np.array([True, False, None, True], dtype=object),
            "similar holds 1 missing values (None or NA; the first at pair 2)",
        ),
    ],
    ids=["pandas-boolean-NA", "series-NA", "object-None"],
)
def test_missing_similar_flags_are_refused_by_name(fast_params, similar, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ContrastiveEmbedder(**fast_params).fit(_X, pairs=_PAIRS, similar=similar)


def test_similar_as_objects_holding_bools_is_accepted(fast_params):
    similar = np.array([True, False, False, True], dtype=object)
    ContrastiveEmbedder(**fast_params).fit(_X, pairs=_PAIRS, similar=similar)


@pytest.mark.parametrize(
    ("pairs", "similar", "message"),
    [
        ([], [], "pairs is empty (got shape (0,)); training on explicit pairs"),
        ([[]], [], "pairs is empty (got shape (1, 0))"),
        (
            [0, 1],
            [True],
            "pairs must hold integer row numbers of X, shape (n_pairs, 2); got "
            "shape (2,). Give one row per pair",
        ),
    ],
    ids=["empty-list", "empty-row", "one-dimensional"],
)
def test_empty_or_flat_pairs_are_refused_by_name(fast_params, pairs, similar, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ContrastiveEmbedder(**fast_params).fit(_X, pairs=pairs, similar=similar)


# -- degenerate set-ups (item 7)


def test_classes_of_one_row_each_are_refused(fast_params):
    """No class has two rows, so no pair is similar: the loss would only push
    rows apart and ``score`` would be NaN. Refused, as explicit pairs without
    a similar one are."""
    message = (
        "ContrastiveEmbedder needs a class with at least 2 rows to form similar "
        "pairs; got 20 rows of 20 classes, one row each."
    )
    est = ContrastiveEmbedder(**fast_params)
    with pytest.raises(ValueError, match=re.escape(message)):
        est.fit(_X, np.arange(20))
    with pytest.raises(ValueError, match=re.escape(message)):
        est.partial_fit(_X, np.arange(20))
    with pytest.raises(ValueError, match="one row each in this partial_fit call"):
        est.partial_fit(_X, np.arange(20) % 2).partial_fit(_X, np.arange(20))


def test_some_classes_of_one_row_and_unlabelled_rows_still_train(fast_params):
    y = np.arange(20)
    y[:5] = 0  # one class of 5 rows, 15 of one row
    ContrastiveEmbedder(**fast_params).fit(_X, y)
    # Labelled rows of one row per class, next to unlabelled rows whose views
    # are similar pairs.
    y = np.r_[np.arange(10), np.full(10, -1)]
    ContrastiveEmbedder(**fast_params, unlabeled_label=-1).fit(_X, y)


def test_margin_above_two_with_normalize_warns(fast_params):
    y = np.arange(20) % 2
    message = (
        "margin=3.0 can never be reached with normalize=True: the embeddings are "
        "unit vectors, at most 2 apart"
    )
    est = ContrastiveEmbedder(**fast_params, margin=3.0)
    with pytest.warns(UserWarning, match=re.escape(message)) as record:
        est.fit(_X, y)
    assert record[0].filename == __file__  # pointed at the call of fit
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        est.set_params(margin=2.0).fit(_X, y)
        est.set_params(margin=3.0, normalize=False).fit(_X, y)


def test_semi_supervised_embedder_before_a_classifier(fast_params):
    """The composition the pipelines page recommends: ahead of a plain
    classifier, the ``-1`` of the unlabelled rows is learnt as a class; a
    :class:`~sklearn.semi_supervised.SelfTrainingClassifier` reads it as
    unlabelled, as the embedder does."""
    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    X = np.c_[3.0 * y + rng.normal(0, 0.3, 200), rng.normal(size=(200, 3))]
    y_partial = np.where(rng.random(200) < 0.2, y, -1)
    embedder = ContrastiveEmbedder(**fast_params, unlabeled_label=-1, random_state=0)

    naive = make_pipeline(embedder, KNeighborsClassifier()).fit(X, y_partial)
    assert (naive.predict(X) == -1).mean() > 0.3

    pipe = make_pipeline(embedder, SelfTrainingClassifier(KNeighborsClassifier()))
    predictions = pipe.fit(X, y_partial).predict(X)
    assert set(predictions) <= {0, 1}
    assert (predictions == y).mean() > 0.9
