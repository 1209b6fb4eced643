"""What a fit learns from: class labels, partial labels, explicit pairs or none.

``ContrastiveEmbedder.fit`` turns its ``y`` / ``pairs`` / ``similar``
arguments into a :class:`TrainingTarget`, an immutable value that says which
training loader forms the pairs (see ``_data.py``), whether batches carry
views of unlabelled rows, and how early stopping's validation part splits off.
Every check of these arguments lives here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.utils.validation import check_array

from ._data import (
    ClassBalancedLoader,
    PairLoader,
    ViewLoader,
    labelled_rows_per_batch,
)
from ._labels import encode_labels, is_labelled, is_missing, unlabelled
from ._sources import select_rows
from ._validation import (
    Validation,
    class_validation_split,
    pair_validation,
    pair_validation_split,
    row_validation,
    stratified_validation_split,
)
from ._weights import weighted_pairs
from .losses import _explicit_pairs_mining_message
from .pairs import max_samples_per_class

#: How early stopping holds out labelled rows, by ``validation_split``.
_ROW_SPLITS = {
    "stratified": stratified_validation_split,
    "classes": class_validation_split,
}


@dataclasses.dataclass(frozen=True, eq=False)
class TrainingTarget:
    """The training signal of one fit, checked.

    Build it with :meth:`from_fit`; it never changes afterwards (holding out
    validation returns a new one).

    Attributes
    ----------
    kind : {"labels", "partial_labels", "no_labels", "pairs"}
    classes : ndarray
        The classes of the labelled rows (empty without labels).
    y : ndarray of int64 of shape (n_samples,) or None
        Encoded labels (see ``_labels.py``), ``-1`` for unlabelled rows; None
        for pairs.
    pairs : ndarray of int64 of shape (n_pairs, 2) or None
        Explicit pairs, row numbers of ``X``; None otherwise.
    similar : ndarray of bool of shape (n_pairs,) or None
        Their flags; None without explicit pairs.
    sample_weight : ndarray of float64 of shape (n_samples,) or None
        Row weights (``_weights.py``), all positive; None when unweighted and
        with explicit pairs, which carry their rows' weights.
    pair_weight : ndarray of float64 of shape (n_pairs,) or None
        Weights of the explicit pairs, all positive; None when unweighted.
    """

    kind: str
    classes: np.ndarray
    y: np.ndarray | None = None
    pairs: np.ndarray | None = None
    similar: np.ndarray | None = None
    sample_weight: np.ndarray | None = None
    pair_weight: np.ndarray | None = None

    @classmethod
    def from_fit(
        cls,
        n_samples: int,
        y=None,
        pairs=None,
        similar=None,
        *,
        sample_weight=None,
        pair_weight=None,
        unlabeled_label=None,
        known_classes=None,
    ) -> TrainingTarget:
        """Check ``fit``'s training signal and say what it is.

        ``sample_weight`` is checked already (``_weights.weighted_rows``);
        ``known_classes`` are the classes of earlier ``partial_fit`` calls.
        """
        if pair_weight is not None and pairs is None:
            raise ValueError(
                "pair_weight weighs explicit pairs: pass it with pairs and "
                "similar. To weigh rows of X, use sample_weight."
            )
        if pairs is not None or similar is not None:
            if y is not None:
                raise ValueError(
                    "ContrastiveEmbedder.fit takes class labels (y) or explicit "
                    "pairs (pairs and similar), not both; got both. Drop y to "
                    "train on the pairs only."
                )
            pairs, similar, weights = check_pairs(
                pairs, similar, n_samples, pair_weight, sample_weight
            )
            return cls(
                "pairs", np.array([]), pairs=pairs, similar=similar, pair_weight=weights
            )
        if y is None:
            y_encoded = unlabelled(n_samples)
            # partial_fit keeps the classes of earlier calls.
            classes = np.array([]) if known_classes is None else known_classes
        else:
            classes, y_encoded = encode_labels(y, unlabeled_label, known_classes)
        labelled = is_labelled(y_encoded)
        if labelled.all():
            kind = "labels"
        else:
            kind = "partial_labels" if labelled.any() else "no_labels"
        return cls(kind, classes, y=y_encoded, sample_weight=sample_weight)

    @property
    def uses_views(self) -> bool:
        """Whether training batches carry views of unlabelled rows, whose
        negative codes the loss must read as views, not classes."""
        return self.kind in ("partial_labels", "no_labels")

    def check_options(self, params: dict, incremental: bool = False) -> None:
        """Refuse the estimator ``params`` this signal cannot train with.

        ``incremental`` (partial_fit) ignores ``early_stopping``, as
        documented.
        """
        what = {"pairs": "explicit pairs", "no_labels": "no labels"}.get(self.kind)
        if what is not None:
            reasons = label_only_options(params, what, incremental)
            if reasons:
                raise ValueError(next(iter(reasons.values())))
        elif self.kind == "partial_labels":
            _check_samples_per_class_with_views(
                params.get("samples_per_class"), params["batch_size"]
            )

    def loader(
        self,
        random_state: np.random.Generator,
        *,
        samples_per_class: int | None,
        corruption_rate: float,
    ) -> tuple[type, dict]:
        """The training loader class for skorch's ``iterator_train``, and its
        keyword arguments besides the dataset and ``batch_size``."""
        if self.kind == "pairs":
            params = {"pairs": self.pairs, "similar": self.similar}
            params["pair_weight"] = self.pair_weight
            return PairLoader, {"random_state": random_state, **params}
        params = {"random_state": random_state, "sample_weight": self.sample_weight}
        if self.uses_views:
            params["corruption_rate"] = float(corruption_rate)
        params["samples_per_class"] = samples_per_class
        return (ViewLoader if self.uses_views else ClassBalancedLoader), params

    def dissimilar_sample(self) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers ``(first, second)`` of a bounded sample of dissimilar
        training pairs, chosen without randomness, for the end-of-fit collapse
        check (see ``_callbacks.fit_diagnostics``).

        Explicit pairs: up to :data:`SAMPLE_PAIRS` of the dissimilar ones,
        evenly spaced. Rows: every pair of up to :data:`SAMPLE_ROWS` evenly
        spaced rows that is not two rows of one class (two distinct
        unlabelled rows are dissimilar, as their views are).
        """
        if self.kind == "pairs":
            dissimilar = np.flatnonzero(~self.similar)
            chosen = dissimilar[_evenly_spaced(len(dissimilar), SAMPLE_PAIRS)]
            return self.pairs[chosen, 0], self.pairs[chosen, 1]
        rows = _evenly_spaced(len(self.y), SAMPLE_ROWS)
        first, second = np.triu_indices(len(rows), k=1)
        codes_first, codes_second = self.y[rows[first]], self.y[rows[second]]
        same_class = (codes_first == codes_second) & is_labelled(codes_first)
        return rows[first[~same_class]], rows[second[~same_class]]

    def hold_out(
        self, X: np.ndarray, fraction: float, seed: int, split: str = "stratified"
    ) -> tuple[Validation, np.ndarray, TrainingTarget]:
        """Early stopping's split: ``(validation, X_train, target_train)``.

        Labelled rows are held out, stratified by class or, with ``split``
        ``"classes"``, as whole classes (unlabelled ones all train); explicit
        pairs are held out as pairs (a row may be in both kinds), and all of
        ``X`` stays. An out-of-core ``X`` (a ``RowSource``) is split into row
        numbers, nothing read. Weights follow their rows and pairs: held-out
        pairs are scored weighted, held-out rows' MAP@R is unweighted.
        """
        if self.kind == "pairs":
            train, valid = pair_validation_split(
                self.pairs, self.similar, fraction, seed
            )
            validation = pair_validation(
                X,
                self.pairs[valid],
                self.similar[valid],
                _part(self.pair_weight, valid),
            )
            rest = dataclasses.replace(
                self,
                pairs=self.pairs[train],
                similar=self.similar[train],
                pair_weight=_part(self.pair_weight, train),
            )
            return validation, X, rest
        labelled = np.flatnonzero(is_labelled(self.y))
        _, valid = _ROW_SPLITS[split](self.y[labelled], fraction, seed)
        valid = labelled[valid]
        train = np.setdiff1d(np.arange(len(X)), valid)
        validation = row_validation(select_rows(X, valid), self.y[valid], seed)
        X_train = select_rows(X, train)
        rest = dataclasses.replace(
            self, y=self.y[train], sample_weight=_part(self.sample_weight, train)
        )
        return validation, X_train, rest


def _part(weights: np.ndarray | None, kept: np.ndarray) -> np.ndarray | None:
    """The weights of the ``kept`` positions (None stays None)."""
    return None if weights is None else weights[kept]


#: Bounds of :meth:`TrainingTarget.dissimilar_sample`: rows (whose pairs
#: number at most 256 * 255 / 2 = 32,640) and explicit pairs.
SAMPLE_ROWS = 256
SAMPLE_PAIRS = 4096


def _evenly_spaced(n: int, at_most: int) -> np.ndarray:
    """Up to ``at_most`` evenly spaced positions in ``range(n)``, all when
    ``n <= at_most``."""
    if n <= at_most:
        return np.arange(n)
    return np.linspace(0, n - 1, at_most).round().astype(np.int64)


def _check_samples_per_class_with_views(samples_per_class, batch_size):
    """With unlabelled rows, labelled rows fill only half of each batch (see
    :class:`~sklearn_contrastive._data.ViewLoader`), so ``samples_per_class``
    must leave room for two classes there."""
    if samples_per_class is None:
        return
    labelled_rows = labelled_rows_per_batch(batch_size)
    limit = max_samples_per_class(labelled_rows)
    if samples_per_class > limit:
        raise ValueError(
            f"samples_per_class={samples_per_class} is too large with "
            f"unlabelled rows: they take half of each batch, leaving "
            f"{labelled_rows} labelled rows (batch_size={batch_size}), so "
            f"two classes fit only with samples_per_class <= "
            f"{limit}. Lower samples_per_class or raise batch_size."
        )


def label_only_options(params, what, incremental=False):
    """Why each option set in ``params`` needs class labels that training on
    ``what`` ("explicit pairs" or "no labels") does not have.

    Returns a dict from option name to the message refusing it; empty when
    nothing stands in the way. ``incremental`` (partial_fit) ignores
    ``early_stopping``, as documented.
    """
    reasons = {}
    if what == "no labels" and params.get("early_stopping") and not incremental:
        # Explicit pairs are held out and scored as pairs instead.
        reasons["early_stopping"] = (
            "early_stopping=True scores retrieval of held-out labelled rows, "
            f"which training on {what} does not have. Set early_stopping=False "
            "and choose max_epochs."
        )
    samples_per_class = params.get("samples_per_class")
    if samples_per_class is not None:
        reasons["samples_per_class"] = (
            f"samples_per_class={samples_per_class} shapes batches drawn "
            f"from class labels; training on {what} has none. Leave "
            "samples_per_class=None."
        )
    pair_mining = params.get("pair_mining", "all")
    if what == "explicit pairs" and pair_mining != "all":
        reasons["pair_mining"] = _explicit_pairs_mining_message(pair_mining)
    if (
        what == "explicit pairs"
        and params.get("early_stopping")
        and params.get("validation_split") == "classes"
        and not incremental
    ):
        reasons["validation_split"] = (
            "validation_split='classes' holds out whole classes for early "
            "stopping, which training on explicit pairs does not have (early "
            "stopping holds out pairs there, stratified by similar). Use "
            "validation_split='stratified', or fit on class labels y."
        )
    return reasons


def check_pairs(pairs, similar, n_samples, pair_weight=None, sample_weight=None):
    """Validated ``(pairs, similar, weights)``: int64 (n_pairs, 2), bool
    (n_pairs,) and the pairs' weights (``_weights.weighted_pairs``: pairs of
    weight 0 dropped before contradictions are looked for; None unweighted)."""
    if pairs is None or similar is None:
        missing = "pairs" if pairs is None else "similar"
        raise ValueError(
            f"Explicit pairs need both pairs and similar; {missing} is missing. "
            "pairs holds row numbers of X, shape (n_pairs, 2); similar says "
            "which pairs are similar (True) or dissimilar (False)."
        )
    _check_pairs_shape(pairs)
    pairs = check_array(pairs, dtype=None, input_name="pairs")
    if pairs.shape[1] != 2 or pairs.dtype.kind not in "iu":
        raise ValueError(
            "pairs must hold integer row numbers of X, shape (n_pairs, 2); got "
            f"shape {pairs.shape} and dtype {pairs.dtype}."
        )
    outside = (pairs < 0) | (pairs >= n_samples)
    if outside.any():
        value = pairs[outside][0]
        raise ValueError(
            f"pairs refer to rows of X by position, 0 to {n_samples - 1}; got "
            f"{value} ({int(outside.any(axis=1).sum())} pairs out of range). "
            "Use positions (as X[i] or X.iloc[i]), not index labels."
        )
    similar = _as_flags(similar)
    if similar.ndim != 1 or len(similar) != len(pairs):
        raise ValueError(
            f"similar must have one entry per pair: shape ({len(pairs)},); got "
            f"shape {similar.shape}."
        )
    if similar.dtype != bool:
        values = np.unique(similar)[:5].tolist()
        raise TypeError(
            "similar must be boolean, True for a similar pair and False for a "
            f"dissimilar one; got dtype {similar.dtype} with values {values}. "
            "0/1 pair labels are ambiguous (the contrastive loss's Y is 0 for "
            "similar, many libraries use 1 for similar): convert them, e.g. "
            "similar=(labels == 1) if 1 means similar in your data."
        )
    if similar.all() or not similar.any():
        which = "dissimilar" if similar.all() else "similar"
        raise ValueError(
            f"The contrastive loss needs both similar and dissimilar pairs; got "
            f"{len(similar)} pairs and no {which} one."
        )
    pairs = pairs.astype(np.int64, copy=False)
    pairs, similar, weights = weighted_pairs(pairs, similar, pair_weight, sample_weight)
    _refuse_contradictions(pairs, similar, n_samples)
    return pairs, similar, weights


def _check_pairs_shape(pairs) -> None:
    """Refuse empty or non-2-D ``pairs`` with their shape, before
    ``check_array`` says it of an unnamed array."""
    try:
        shape = np.shape(pairs)
    except ValueError:  # ragged nested lists: check_array says so
        return
    example = "e.g. pairs=[[0, 1], [0, 2]] with similar=[True, False]"
    if 0 in shape:
        raise ValueError(
            f"pairs is empty (got shape {shape}); training on explicit pairs "
            "needs at least one similar and one dissimilar pair of rows of X, "
            f"as an array of row numbers of shape (n_pairs, 2), {example}."
        )
    if len(shape) != 2:
        raise ValueError(
            "pairs must hold integer row numbers of X, shape (n_pairs, 2); got "
            f"shape {shape}. Give one row per pair, {example} (a single pair is "
            "[[i, j]])."
        )


def _as_flags(similar) -> np.ndarray:
    """``similar`` as an array, refused with a message when it has missing
    values (a pandas nullable boolean with NA, None); an object array of bools
    becomes a boolean one."""
    similar = np.asarray(similar)
    if similar.dtype.kind != "O":
        return similar
    missing = is_missing(similar)
    if missing.any():
        raise ValueError(
            f"similar holds {int(missing.sum())} missing values (None or NA; "
            f"the first at pair {int(np.flatnonzero(missing)[0])}); every pair "
            "needs True (similar) or False (dissimilar). Drop those pairs from "
            "pairs and similar, or decide their label."
        )
    if all(isinstance(flag, (bool, np.bool_)) for flag in similar.ravel()):
        return similar.astype(bool)
    return similar


def contradicting_pairs(pairs, similar, n_samples):
    """Mask of the pairs that contradict themselves or each other.

    A row paired with itself as dissimilar (it is at distance 0 from itself),
    and every pair of rows that appears with both labels (in either order):
    training would pull and push the same two rows.
    """
    low, high = pairs.min(axis=1), pairs.max(axis=1)
    codes = low * n_samples + high  # one code per unordered pair of rows
    both = np.intersect1d(codes[similar], codes[~similar])
    return ((low == high) & ~similar) | np.isin(codes, both)


def _refuse_contradictions(pairs, similar, n_samples):
    """Raise on :func:`contradicting_pairs`: they can only be labelling mistakes."""
    contradicting = contradicting_pairs(pairs, similar, n_samples)
    if not contradicting.any():
        return
    i, j = sorted(pairs[contradicting][0].tolist())
    if i == j:
        n_self = int(((pairs[:, 0] == pairs[:, 1]) & ~similar).sum())
        raise ValueError(
            f"pairs holds a row paired with itself as dissimilar: ({i}, {i}) "
            f"({n_self} such pairs). A row is at distance 0 from itself, so it "
            "can never be pushed apart; drop these pairs."
        )
    raise ValueError(
        f"pairs labels the pair ({i}, {j}) both similar and dissimilar "
        f"({int(contradicting.sum())} pairs contradict another, in either "
        "order). Give each pair one label: remove or relabel the duplicates."
    )
