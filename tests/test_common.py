"""scikit-learn's own estimator checks, over every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_contrastive import ContrastiveEmbedder, PairVerifier

# Small settings: the checks fit dozens of times on tiny data.
SMALL = dict(n_components=4, hidden_layer_sizes=(16,), max_epochs=3, random_state=0)


def _estimators():
    yield ContrastiveEmbedder(**SMALL)
    # The other training paths: hard-pair mining and a held-out split.
    yield ContrastiveEmbedder(
        **SMALL, pair_mining="hard", early_stopping=True, validation_fraction=0.3
    )
    yield PairVerifier(ContrastiveEmbedder(**SMALL), similar_label=1)


_ODD = "the checks' data have an odd number of columns; a pair row needs [left|right]"
_PAIR_VERIFIER_FAILURES = {
    name: _ODD
    for name in (
        "check_fit_score_takes_y",
        "check_dont_overwrite_parameters",
        "check_estimators_dtypes",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_supervised_y_2d",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit2d_predict1d",
        "check_sample_weights_list",
    )
} | {
    "check_classifiers_classes": "pair labels must include similar_label=1",
    "check_classifiers_train": "random pair labels on generic data",
    "check_classifier_not_supporting_multiclass": "pair labels are binary by "
    "definition; more than two values are refused with their own message",
    "check_fit2d_1sample": "one pair cannot hold both same and different pairs; "
    "the message says so",
    "check_sample_weight_equivalence_on_dense_data": "the embedder's training: "
    + "see ContrastiveEmbedder's entry",
    "check_sample_weight_equivalence_on_sparse_data": "the embedder's training: "
    + "see ContrastiveEmbedder's entry",
}


_REPEATS = (
    "an integer weight is not that many copies of the row: copies change the "
    "class-balanced mini-batches drawn (training is stochastic) and pair with "
    "each other; weight 0 does equal removing the row, bit for bit "
    "(tests/test_weights.py)"
)
_EMBEDDER_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": _REPEATS,
    "check_sample_weight_equivalence_on_sparse_data": _REPEATS,
}


def _expected_failed_checks(estimator):
    if isinstance(estimator, PairVerifier):
        return _PAIR_VERIFIER_FAILURES
    return _EMBEDDER_FAILURES


@parametrize_with_checks(
    list(_estimators()), expected_failed_checks=_expected_failed_checks
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
