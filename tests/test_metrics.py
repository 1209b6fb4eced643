"""Retrieval metrics and scorers against brute-force oracles.

The oracles rank every reference row for every query over the full distance
matrix, ties by row number, exactly as the module documents; data with small
integer coordinates make exact ties common.
"""

import re

import numpy as np
import pytest
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_val_score,
    cross_validate,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contrastive import ContrastiveEmbedder, metrics
from sklearn_contrastive.metrics import (
    knn_accuracy,
    make_retrieval_scorer,
    mean_average_precision_at_r,
    precision_at_k,
    r_precision,
    recall_at_k,
)

# -- oracles


def _rankings(X, y, X_ref=None, y_ref=None):
    """Per query: relevance of every reference row in rank order, and labels."""
    leave_one_out = X_ref is None
    if leave_one_out:
        X_ref, y_ref = X, y
    X, X_ref = np.asarray(X, float), np.asarray(X_ref, float)
    distances = np.sqrt(((X[:, None] - X_ref[None]) ** 2).sum(-1))
    out = []
    for i in range(len(X)):
        d = distances[i].copy()
        rows = np.arange(len(X_ref))
        if leave_one_out:
            d, rows = np.delete(d, i), np.delete(rows, i)
        order = rows[np.lexsort((rows, d))]
        out.append((y_ref[order] == y[i], y_ref[order]))
    return out


def _oracle(metric, X, y, X_ref=None, y_ref=None, k=None):
    scores = []
    for relevant, labels in _rankings(X, y, X_ref, y_ref):
        r = relevant.sum()
        if metric == "knn_accuracy":
            # Majority vote, the smallest label on a tie (np.unique sorts).
            values, counts = np.unique(labels[:k], return_counts=True)
            scores.append(values[np.argmax(counts)])
            continue
        if r == 0:
            continue
        if metric == "precision_at_k":
            scores.append(relevant[:k].mean())
        elif metric == "recall_at_k":
            scores.append(relevant[:k].sum() / r)
        elif metric == "r_precision":
            scores.append(relevant[:r].mean())
        elif metric == "map_at_r":
            hits = np.cumsum(relevant[:r])
            precision = hits / np.arange(1, r + 1)
            scores.append((precision * relevant[:r]).sum() / r)
    if metric == "knn_accuracy":
        return np.mean(np.asarray(scores) == np.asarray(y))
    return np.mean(scores) if scores else np.nan


FUNCTIONS = {
    "precision_at_k": precision_at_k,
    "recall_at_k": recall_at_k,
    "r_precision": r_precision,
    "map_at_r": mean_average_precision_at_r,
    "knn_accuracy": knn_accuracy,
}
TAKES_K = {"precision_at_k", "recall_at_k", "knn_accuracy"}


def _call(metric, X, y, k, **reference):
    kwargs = {"k": k} if metric in TAKES_K else {}
    return FUNCTIONS[metric](X, y, **kwargs, **reference)


@pytest.fixture(params=[0, 1, 2])
def tied_data(request):
    """Small integer coordinates: many exact ties, duplicates, a singleton."""
    rng = np.random.default_rng(request.param)
    X = rng.integers(0, 3, size=(40, 2)).astype(float)
    y = rng.integers(0, 3, size=40)
    y[0] = 7  # a class with a single member
    return X, y


@pytest.mark.parametrize("metric", sorted(FUNCTIONS))
@pytest.mark.parametrize("k", [1, 3, 7])
def test_leave_one_out_matches_the_oracle_with_ties(tied_data, metric, k):
    X, y = tied_data
    expected = _oracle(metric, X, y, k=k)
    assert _call(metric, X, y, k) == pytest.approx(expected)


@pytest.mark.parametrize("metric", sorted(FUNCTIONS))
def test_query_vs_reference_matches_the_oracle(tied_data, metric):
    X, y = tied_data
    X_ref, y_ref = X[:25], y[:25]
    X_query, y_query = X[25:] + 0.5, y[25:]  # half-integer: ties again
    y_query[0] = 9  # a query class absent from the references
    expected = _oracle(metric, X_query, y_query, X_ref, y_ref, k=4)
    got = _call(metric, X_query, y_query, 4, X_reference=X_ref, y_reference=y_ref)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("metric", sorted(FUNCTIONS))
def test_continuous_data_match_the_oracle(metric):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, size=60)
    X = rng.normal(size=(60, 3)) + y[:, None]
    assert _call(metric, X, y, 5) == pytest.approx(_oracle(metric, X, y, k=5))


@pytest.mark.parametrize("metric", sorted(FUNCTIONS))
def test_chunking_does_not_change_the_result(tied_data, metric, monkeypatch):
    X, y = tied_data
    expected = _call(metric, X, y, 3)
    monkeypatch.setattr(metrics, "_CHUNK_ENTRIES", 7)
    assert _call(metric, X, y, 3) == pytest.approx(expected)


def test_knn_accuracy_agrees_with_kneighbors_classifier():
    """Without distance ties, the vote is KNeighborsClassifier's."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=80)
    X = rng.normal(size=(80, 2)) + y[:, None]
    knn = KNeighborsClassifier(n_neighbors=5).fit(X[:50], y[:50])
    expected = knn.score(X[50:], y[50:])
    got = knn_accuracy(X[50:], y[50:], k=5, X_reference=X[:50], y_reference=y[:50])
    assert got == pytest.approx(expected)


def test_duplicated_rows_never_retrieve_themselves():
    """Three identical rows of one class: each finds the two others."""
    X = np.array([[0.0], [0.0], [0.0], [5.0], [5.1]])
    y = np.array([0, 0, 0, 1, 1])
    assert precision_at_k(X, y, k=1) == 1.0
    # k=2: class 0 rows find 2 of 2, class 1 rows 1 of 2 (R = 1 < k).
    assert precision_at_k(X, y, k=2) == pytest.approx((3 * 1.0 + 2 * 0.5) / 5)
    assert mean_average_precision_at_r(X, y) == 1.0
    assert r_precision(X, y) == 1.0


def test_ties_are_ranked_by_row_number():
    """Rows 1 and 2 are equally near the query 0; row 1 (class 1) ranks first."""
    X = np.array([[0.0], [1.0], [-1.0], [9.0]])
    y = np.array([0, 1, 0, 1])
    assert precision_at_k(X[:1], y[:1], k=1, X_reference=X[1:], y_reference=y[1:]) == 0
    y_swapped = np.array([0, 0, 1, 1])
    assert (
        precision_at_k(
            X[:1], y_swapped[:1], k=1, X_reference=X[1:], y_reference=y_swapped[1:]
        )
        == 1
    )


def test_singleton_classes_are_left_out_of_retrieval_but_not_of_accuracy():
    X = np.array([[0.0], [0.1], [5.0]])
    y = np.array([0, 0, 1])  # row 2 has nothing relevant to retrieve
    assert precision_at_k(X, y) == 1.0
    assert recall_at_k(X, y) == 1.0
    assert knn_accuracy(X, y, k=1) == pytest.approx(2 / 3)
    for function in (precision_at_k, recall_at_k, r_precision):
        assert np.isnan(function(X, [0, 1, 2]))
    assert np.isnan(mean_average_precision_at_r(X, [0, 1, 2]))


def test_perfect_and_reversed_rankings():
    X = np.array([[0.0], [0.1], [10.0], [10.1]])
    assert mean_average_precision_at_r(X, [0, 0, 1, 1]) == 1.0
    assert mean_average_precision_at_r(X, [0, 1, 0, 1]) == 0.0


def test_string_labels():
    X = np.array([[0.0], [0.1], [10.0], [10.1]])
    assert mean_average_precision_at_r(X, ["a", "a", "b", "b"]) == 1.0


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: precision_at_k([[0.0], [1.0], [2.0]], [0, 0, 1], k=3),
            ValueError,
            re.escape(
                "k must be between 1 and the number of reference rows per "
                "query (2); got 3"
            ),
        ),
        (
            lambda: precision_at_k([[0.0], [1.0]], [0, 0], k=1.0),
            TypeError,
            "k must be an int; got 1.0",
        ),
        (
            lambda: mean_average_precision_at_r([[0.0]], [0]),
            ValueError,
            "needs at least 2 rows; got 1",
        ),
        (
            lambda: precision_at_k([[0.0], [1.0]], [0, 0, 1]),
            ValueError,
            "inconsistent numbers of samples",
        ),
        (
            lambda: precision_at_k([[0.0], [1.0]], [[0], [0]]),
            ValueError,
            re.escape("y must be 1-D class labels"),
        ),
        (
            lambda: precision_at_k([[np.nan], [1.0]], [0, 0]),
            ValueError,
            "Input X contains NaN",
        ),
        (
            lambda: precision_at_k([[0.0]], [0], X_reference=[[1.0]]),
            ValueError,
            "X_reference needs its labels",
        ),
        (
            lambda: precision_at_k([[0.0], [1.0]], [0, 1], y_reference=[0]),
            ValueError,
            "y_reference was given without X_reference",
        ),
        (
            lambda: precision_at_k(
                [[0.0]], [0], X_reference=[[1.0, 2.0]], y_reference=[0]
            ),
            ValueError,
            "X has 1 features but X_reference has 2",
        ),
        (
            lambda: make_retrieval_scorer("accuracy"),
            ValueError,
            "metric must be one of",
        ),
        (
            lambda: make_retrieval_scorer("map_at_r", k=3),
            TypeError,
            re.escape("make_retrieval_scorer('map_at_r') takes no keyword"),
        ),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- scorers and score()


def test_scorer_embeds_the_fold_and_scores_it(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)
    scorer = make_retrieval_scorer("precision_at_k", k=3)
    assert scorer(est, X, y) == pytest.approx(precision_at_k(est.transform(X), y, k=3))


def test_score_is_map_at_r_and_matches_the_default_scorer(iris, fast_params):
    X, y = iris
    est = ContrastiveEmbedder(**fast_params, random_state=0).fit(X, y)
    expected = mean_average_precision_at_r(est.transform(X), y)
    assert est.score(X, y) == pytest.approx(expected)
    assert make_retrieval_scorer()(est, X, y) == pytest.approx(expected)


def test_grid_search_without_a_downstream_model_uses_score(iris, fast_params):
    X, y = iris
    search = GridSearchCV(
        ContrastiveEmbedder(**fast_params, random_state=0), {"margin": [0.5, 1.0]}, cv=2
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_params_["margin"] in (0.5, 1.0)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_scorer_in_grid_search_over_a_pipeline(iris, fast_params, n_jobs):
    X, y = iris
    pipe = make_pipeline(
        StandardScaler(), ContrastiveEmbedder(**fast_params, random_state=0)
    )
    search = GridSearchCV(
        pipe,
        {"contrastiveembedder__margin": [0.5, 1.0]},
        scoring={
            "map_at_r": make_retrieval_scorer(),
            "p@1": make_retrieval_scorer("precision_at_k", k=1),
        },
        refit="map_at_r",
        cv=2,
        n_jobs=n_jobs,
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_map_at_r"]).all()
    assert search.cv_results_["mean_test_p@1"].max() <= 1.0
    # A pipeline ending with an embedder scores through the embedder too.
    assert search.best_estimator_.score(X, y) == pytest.approx(
        make_retrieval_scorer()(search.best_estimator_, X, y)
    )


def test_cross_val_score_with_a_scorer(iris, fast_params):
    X, y = iris
    scores = cross_val_score(
        ContrastiveEmbedder(**fast_params, random_state=0),
        X,
        y,
        cv=3,
        scoring=make_retrieval_scorer("knn_accuracy", k=5),
    )
    assert scores.shape == (3,) and (scores > 0.5).all()


def test_cross_validate_a_classifier_pipeline_for_accuracy_and_map_at_r(
    iris, fast_params
):
    """One run reports the classifier's accuracy and the embedding's MAP@R,
    which is the scorer's on the embedding steps ``pipe[:2]`` of each fold."""
    X, y = iris
    pipe = make_pipeline(
        StandardScaler(),
        ContrastiveEmbedder(**fast_params, random_state=0),
        KNeighborsClassifier(),
    )
    cv = StratifiedKFold(n_splits=3)
    scoring = {"accuracy": "accuracy", "map_at_r": make_retrieval_scorer()}
    results = cross_validate(pipe, X, y, cv=cv, scoring=scoring, return_estimator=True)
    assert (results["test_accuracy"] > 0.5).all()
    for (_, test), fitted, score in zip(
        cv.split(X, y), results["estimator"], results["test_map_at_r"], strict=True
    ):
        expected = make_retrieval_scorer()(fitted[:2], X[test], y[test])
        assert score == pytest.approx(expected)
        assert score == pytest.approx(
            mean_average_precision_at_r(fitted[:2].transform(X[test]), y[test])
        )


def test_scorer_refuses_a_classifier_pipeline_without_embedder(
    pipeline_without_embedder,
):
    pipe, X, y, message = pipeline_without_embedder
    with pytest.raises(TypeError, match=re.escape("make_retrieval_scorer " + message)):
        make_retrieval_scorer()(pipe, X, y)
