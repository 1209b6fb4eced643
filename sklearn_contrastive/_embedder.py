"""ContrastiveEmbedder: a scikit-learn transformer trained with the contrastive loss."""

from __future__ import annotations

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._callbacks import fit_diagnostics, warn_if_degenerate
from ._doc_links import DocLinkMixin
from ._interrupts import unchanged_if_interrupted
from ._neighbors import RetrievalMixin
from ._net import fitted_history
from ._params import NestedNetParamsMixin, pick, resolve_device, validate_params
from ._runtime import seeded_torch, torch_threads
from ._safe_file import SafeFileMixin
from ._scales import warn_if_unscaled
from ._sources import as_rows, check_fit_input, check_transform_input, embed_rows
from ._state import PortableStateMixin
from ._targets import TrainingTarget
from ._train import train
from ._weights import weighted_rows
from .networks import embedding_network

__all__ = ["ContrastiveEmbedder"]

#: Rows per forward pass in ``transform``: bounds its memory for any ``len(X)``.
_TRANSFORM_BATCH_SIZE = 4096


class ContrastiveEmbedder(
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    RetrievalMixin,
    NestedNetParamsMixin,
    PortableStateMixin,
    SafeFileMixin,
    DocLinkMixin,
    BaseEstimator,
):
    r"""Learn an embedding with the contrastive loss of Hadsell et al. (2006).

    ``fit(X, y)`` trains a neural network so that rows of the same class land
    close together and rows of different classes at least ``margin`` apart;
    ``transform(X)`` returns the embeddings, ready for k-nearest neighbours,
    clustering or retrieval. Pairs are formed from the class labels inside
    each mini-batch; training runs on :class:`skorch.NeuralNet`. Without
    full class labels, ``fit`` also trains on explicit pairs
    (``fit(X, pairs=..., similar=...)``), on partial labels
    (``unlabeled_label``) or on no labels at all (``fit(X)``), unlabelled
    rows contributing pairs of corrupted views of themselves.

    Read more in the :ref:`User Guide <user_guide>`.

    Parameters
    ----------
    n_components : int, default=32
        Dimension of the embedding. A custom ``module`` class receives it as
        its ``n_components`` argument when it accepts one.

    module : torch.nn.Module subclass or instance, default=None
        The embedding network; ``None`` uses an MLP built from
        ``hidden_layer_sizes`` and ``dropout``. A class is instantiated at
        ``fit`` with the arguments it accepts among ``n_features_in`` and
        ``n_components``, plus ``net_params``' ``module__<name>`` entries; an
        instance is copied at ``fit`` (the object passed is never trained).
        The module must map a float tensor of shape ``(batch_size,
        n_features)`` to embeddings of shape ``(batch_size, n_components)``;
        reshape inside it (e.g. to images) so that ``X`` stays 2-D.
        ``hidden_layer_sizes`` and ``dropout`` do not apply to it.

    hidden_layer_sizes : tuple of int or int, default=(256, 128)
        Widths of the hidden layers of the default network, an MLP with ReLU
        activations; an int is one layer. ``()`` learns a linear map.

    margin : float, default=1.0
        The margin ``m`` of the loss: dissimilar pairs farther apart than
        ``margin`` no longer contribute. With ``normalize=True`` distances lie
        in ``[0, 2]``.

    normalize : bool, default=True
        Whether to scale every embedding to unit Euclidean norm, so that the
        margin has a fixed scale. Applies to a custom ``module`` too (an
        :class:`~sklearn_contrastive.networks.L2Normalize` layer is appended).

    similar_weight : float, default=1.0
        Weight of the similar-pair term of the loss relative to the
        dissimilar-pair term. ``1.0`` is the loss of the paper.

    dropout : float, default=0.2
        Dropout probability after each hidden layer of the default network, a
        regulariser (its measured effect is in the design notes).

    projection_head : tuple of int or int, default=None
        Hidden widths of a projection head to train the network through
        (:class:`~sklearn_contrastive.networks.WithProjectionHead`): the loss
        is computed on ``head(network(X))``, a ReLU then an MLP of these
        widths back to ``n_components``, while ``transform`` returns
        ``network(X)`` (normalised when ``normalize``). The head absorbs the
        loss's pull of each training class to a point, so the embeddings keep
        more of what tells rows apart: the setting for classes not seen in
        ``fit`` (see the user guide's "New classes at test time"). ``None``:
        the loss sees the embeddings themselves. Applies to a custom
        ``module`` too.

    pair_mining : {"all", "hard"}, default="all"
        Which pairs of a batch the loss averages over. ``"all"``: every pair.
        ``"hard"``: per row, its farthest similar pair, and the dissimilar
        pairs still inside the margin (online hard-pair mining).

    samples_per_class : int, default=None
        Rows per class in a training batch (``M``; a batch holds
        ``batch_size // M`` classes). ``None`` spreads the batch over all
        classes when they fit, with at least 4 rows per class. At least 2,
        and at most ``batch_size // 2`` so that a batch holds two classes
        (``batch_size // 4`` with unlabelled rows, whose views take half of
        each batch).

    unlabeled_label : int or str, default=None
        The value of ``y`` that marks an unlabelled row, for semi-supervised
        training; scikit-learn's semi-supervised estimators use ``-1``.
        ``None``: every row is labelled (so ``-1`` is a class like any
        other, as in binary labels ``{-1, 1}``). Unlabelled rows train as
        pairs of corrupted views (see ``corruption_rate``), labelled rows as
        usual; no pair joins an unlabelled row to a labelled one.

    corruption_rate : float, default=0.6
        For rows without a label (``unlabeled_label``, or ``fit(X)`` with no
        ``y``): the fraction of features replaced in each of a row's two
        views by the same features' values in random training rows (SCARF).
        The two views form a similar pair, views of different rows
        dissimilar pairs. In ``[0, 1)``.

    max_epochs : int, default=25
        Number of passes over the training data (the most, with early
        stopping).

    batch_size : int, default=256
        Rows per mini-batch. Every pair of rows in a batch is scored, so a
        batch costs ``batch_size * (batch_size - 1) / 2`` pair terms. With
        explicit ``pairs``: pairs per mini-batch.

    lr : float, default=1e-3
        Learning rate of the optimizer.

    weight_decay : float, default=1e-3
        L2 penalty (weight decay) of the optimizer.

    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or optimizer class, default="adam"
        The optimizer, a name in any case (``"Adam"``). Options go in
        ``net_params``, e.g. ``net_params={"optimizer__momentum": 0.9}``.

    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the rows, stratified by
        class or as whole classes (see ``validation_split``), and stop when
        their MAP@R (each a query against the others,
        :func:`~sklearn_contrastive.metrics.mean_average_precision_at_r`) has
        not risen by more than ``tol`` over its best for more than
        ``n_iter_no_change`` epochs. The weights of the last epoch that did
        rise so are restored. Precision@1 and the validation loss are
        recorded too. Only labelled rows are held out (unlabelled ones all
        train); refused for a fit without labels, which has nothing to rank.
        Above 2,000 validation rows, the ranking uses a stratified sample of
        2,000 (the validation loss uses all). A fit on explicit pairs holds
        out ``validation_fraction`` of the *pairs* instead, stratified by
        ``similar``, and monitors their contrastive loss
        (``valid_pair_loss``, lower is better); their ROC AUC
        (``valid_pair_roc_auc``) is recorded too. Ignored by ``partial_fit``.

    validation_fraction : float, default=0.1
        Fraction of the rows (of the pairs, for a fit on explicit pairs)
        held out for early stopping, in ``(0, 1)``.

    validation_split : {"stratified", "classes"}, default="stratified"
        Which labelled rows early stopping holds out. ``"stratified"``:
        ``validation_fraction`` of the rows of every class, so validation
        ranks new rows of the classes trained on. ``"classes"``: whole
        classes, visited in a random order (seeded by ``random_state``) and
        held out while that brings the held-out rows closer to
        ``validation_fraction``, so that validation MAP@R measures retrieval
        of classes never trained on (:ref:`user_guide_open_set`); it needs 4
        classes (2 held out, 2 training). Refused for a fit on explicit pairs;
        ignored without early stopping.

    n_iter_no_change : int, default=10
        Number of epochs in a row allowed to miss an improvement of ``tol``;
        the next such epoch ends the fit (as in
        :class:`~sklearn.neural_network.MLPClassifier`).

    tol : float, default=1e-4
        An epoch improves when its validation MAP@R beats the best so far by
        more than ``tol`` (on explicit pairs: when the held-out pairs' loss
        falls below the lowest so far by more than ``tol``).

    warm_start : bool, default=False
        When ``True``, ``fit`` continues from the weights of the previous fit
        instead of starting over (with a fresh optimizer; the network's shape
        must not change, ``dropout`` may). ``history_`` and ``n_iter_`` then
        count every epoch since the first fit.

    callbacks : list of skorch callbacks, default=None
        Extra :class:`skorch.callbacks.Callback` objects (or
        ``(name, callback)`` tuples), e.g. ``LRScheduler``, ``Checkpoint``,
        ``GradientNormClipping`` or your own. They are copied at every
        ``fit`` and ``partial_fit`` call (the objects passed are never
        modified); the ones that ran last are in ``net_.callbacks_``.

    device : str, default="cpu"
        Torch device to train and embed on: ``"cpu"``, ``"cuda"``,
        ``"cuda:N"``, or ``"auto"`` for CUDA when available, else CPU. A model
        fitted on a GPU loads on a machine without one, on the CPU.

    n_threads : int, default=None
        CPU threads torch may use during ``fit`` and ``transform``
        (``torch.set_num_threads``, restored afterwards; process-wide).
        ``None`` keeps torch's setting, which joblib lowers to ``n_cores //
        n_jobs`` in ``GridSearchCV(n_jobs=...)`` workers.

    random_state : int, RandomState instance or None, default=None
        The only source of randomness: initial weights, dropout, batch
        sampling, shuffling (of explicit pairs too), the corrupted views and
        the early-stopping split. Pass an int for reproducible output.

    verbose : int, default=0
        ``0`` prints nothing; ``1`` prints a table of losses and diagnostics
        per epoch; ``2`` adds a progress bar over the epochs.

    net_params : dict, default=None
        Any other :class:`skorch.NeuralNet` setting, with skorch's names:
        ``{"train_split": ValidSplit(0.1), "optimizer__momentum": 0.9}``.
        Single entries can be set and searched as ``net_params__<name>``, e.g.
        ``GridSearchCV(est, {"net_params__optimizer__momentum": [0.5, 0.9]})``.
        Settings that have a parameter of their own above (``lr``,
        ``max_epochs``, ``callbacks``...) are refused here.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The fitted skorch net; ``net_.module_`` is the embedding network.

    history_ : list of dict
        One dict per epoch, for ``pandas.DataFrame(history_)``: ``epoch``,
        ``train_loss``, ``similar_distance``, ``dissimilar_distance``,
        ``active_fraction``, ``dur``, ``valid_loss`` with a validation split
        and, with early stopping, ``valid_precision_at_1`` and
        ``valid_map_at_r`` (on explicit pairs ``valid_pair_loss`` and
        ``valid_pair_roc_auc``); :ref:`user_guide_training` defines each.

    loss_curve_ : list of float
        Training loss of every epoch.

    validation_scores_ : list of float or None
        Validation MAP@R of every epoch (after a fit on explicit pairs, the
        loss of the held-out pairs, lower is better); ``None`` without early
        stopping.

    best_validation_score_ : float or None
        That score of the epoch whose weights were kept; ``None`` without
        early stopping.

    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit`` (all calls so far for ``partial_fit``),
        without ``unlabeled_label``; empty after a fit on pairs or without
        labels.

    n_iter_ : int
        Number of epochs run, counted across ``warm_start`` fits and
        ``partial_fit`` calls.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when ``X`` has
        feature names that are all strings.

    See Also
    --------
    sklearn.neighbors.NeighborhoodComponentsAnalysis : Linear supervised
        metric learning by stochastic nearest neighbours.
    sklearn_contrastive.losses.ContrastiveLoss : The training criterion.

    Notes
    -----
    With ``Y = 0`` for a similar pair (same class), ``Y = 1`` for a
    dissimilar pair, ``D`` the Euclidean distance between the two embeddings
    and ``m`` the margin, each pair costs

    .. math::

        L = (1 - Y) \cdot \tfrac{1}{2} D^2 + Y \cdot \tfrac{1}{2} \max(0, m - D)^2

    and a batch costs the mean over its pairs. Batches are class-balanced
    (``P`` classes x ``M`` rows each) and reshuffled every epoch, so every
    batch holds similar pairs; nothing of size ``n_samples x n_samples`` is
    ever built. Input is converted to float32 and so are the embeddings.

    Warnings say when a fit is of little use (collapsed embeddings, a
    diverged loss, a margin out of reach, columns of very different scales):
    see the user guide's :ref:`user_guide_errors_warnings`.

    References
    ----------
    .. [1] R. Hadsell, S. Chopra and Y. LeCun, "Dimensionality Reduction by
       Learning an Invariant Mapping", CVPR 2006.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_contrastive import ContrastiveEmbedder
    >>> X, y = load_digits(return_X_y=True)
    >>> embedder = ContrastiveEmbedder(n_components=8, max_epochs=2, random_state=0)
    >>> embedder.fit_transform(X / 16, y).shape
    (1797, 8)
    """

    def __init__(
        self,
        n_components=32,
        *,
        module=None,
        hidden_layer_sizes=(256, 128),
        margin=1.0,
        normalize=True,
        similar_weight=1.0,
        dropout=0.2,
        projection_head=None,
        pair_mining="all",
        samples_per_class=None,
        unlabeled_label=None,
        corruption_rate=0.6,
        max_epochs=25,
        batch_size=256,
        lr=1e-3,
        weight_decay=1e-3,
        optimizer="adam",
        early_stopping=False,
        validation_fraction=0.1,
        validation_split="stratified",
        n_iter_no_change=10,
        tol=1e-4,
        warm_start=False,
        callbacks=None,
        device="cpu",
        n_threads=None,
        random_state=None,
        verbose=0,
        net_params=None,
    ):
        self.n_components = n_components
        self.module = module
        self.hidden_layer_sizes = hidden_layer_sizes
        self.margin = margin
        self.normalize = normalize
        self.similar_weight = similar_weight
        self.dropout = dropout
        self.projection_head = projection_head
        self.pair_mining = pair_mining
        self.samples_per_class = samples_per_class
        self.unlabeled_label = unlabeled_label
        self.corruption_rate = corruption_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.validation_split = validation_split
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.net_params = net_params

    def fit(
        self,
        X,
        y=None,
        *,
        pairs=None,
        similar=None,
        sample_weight=None,
        pair_weight=None,
    ):
        """Train the embedding network on pairs of rows of ``X``.

        The pairs come from one of three sources: class labels ``y`` (rows of
        the same class are similar, of different classes dissimilar, some
        rows possibly unlabelled), explicit ``pairs`` with ``similar``
        flags, or nothing: ``fit(X)`` learns from two corrupted views of
        each row (self-supervised, see ``corruption_rate``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows. Converted to float32; NaN and inf are refused. A
            sparse matrix, a memmap, HDF5 or zarr array (any object with
            ``shape``, ``dtype`` and row slicing) is read in batches, never
            densified or loaded whole (:ref:`user_guide_large_data`).

        y : array-like of shape (n_samples,), default=None
            Class labels (numbers or strings). Rows of the same class form
            similar pairs, rows of different classes dissimilar pairs. Rows
            labelled ``unlabeled_label`` count as unlabelled.

        pairs : array-like of int of shape (n_pairs, 2), default=None
            Explicit pairs instead of ``y``: each row holds the positions in
            ``X`` (``X[i]`` / ``X.iloc[i]``) of the pair's two rows. Only
            these pairs are trained on, ``batch_size`` pairs per mini-batch;
            the rows are indexed, never copied into pairs.

        similar : array-like of bool of shape (n_pairs,), default=None
            With ``pairs``: ``True`` for a similar pair, ``False`` for a
            dissimilar one. Must be boolean: 0/1 pair labels are refused,
            since libraries disagree on which of them means similar.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row: pair ``(i, j)`` weighs
            ``sample_weight[i] * sample_weight[j]`` in each batch's weighted
            mean loss (:ref:`user_guide_weights`). Rows of weight 0 are left
            out; uniform weights give the unweighted fit.

        pair_weight : array-like of shape (n_pairs,), default=None
            With ``pairs``: a non-negative weight (confidence) per pair, times
            its rows' ``sample_weight``. Pairs of weight 0 are left out.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        KeyboardInterrupt
            On Ctrl-C: the estimator is then left as it was before the call
            (the previous fitted model, or unfitted). Read more in
            :ref:`user_guide_interrupts`.
        """
        with unchanged_if_interrupted(self):
            return self._fit(
                X, y, (pairs, similar, sample_weight, pair_weight), incremental=False
            )

    def partial_fit(self, X, y=None, *, sample_weight=None):
        """Train for one epoch on ``(X, y)``, continuing from the current weights.

        The first call initialises the network. Later calls keep the weights
        and the optimizer's state, may bring classes not seen before (pairs
        are formed within each call's rows) and must keep the features.
        Early stopping does not apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows of this step.

        y : array-like of shape (n_samples,), default=None
            Their class labels; at least two classes per call, or none at
            all (views only, as ``fit(X)``). ``unlabeled_label`` applies.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, as in :meth:`fit`.

        Returns
        -------
        self : object
            The estimator, trained one more epoch.

        Raises
        ------
        KeyboardInterrupt
            On Ctrl-C: the estimator is then left as it was before the call,
            with the epochs of earlier calls.
        """
        with unchanged_if_interrupted(self):
            return self._fit(X, y, (None, None, sample_weight, None), incremental=True)

    def _fit(self, X, y, signal, *, incremental):
        pairs, similar, sample_weight, pair_weight = signal
        previous = None
        if (incremental or self.warm_start) and self.__sklearn_is_fitted__():
            previous = self.net_
        if previous is None:
            # A fit that fails part-way must not leave the previous net_ next
            # to this fit's classes_ and n_features_in_.
            self.__dict__.pop("net_", None)
        X, y = check_fit_input(self, X, y, reset=previous is None)
        X, y, sample_weight = weighted_rows(
            X, y, sample_weight, keep_rows=pairs is not None or similar is not None
        )
        params = self.get_params(deep=False)
        validate_params(params)
        warn_if_unscaled(X)
        if previous is None:
            self._random_state = check_random_state(self.random_state)
        torch_seed, sampler_seed, split_seed = self._random_state.randint(
            np.iinfo(np.int32).max, size=3
        )
        known = self.classes_ if incremental and previous is not None else None
        target = TrainingTarget.from_fit(
            len(X),
            y,
            pairs,
            similar,
            sample_weight=sample_weight,
            pair_weight=pair_weight,
            unlabeled_label=self.unlabeled_label,
            known_classes=known,
        )
        target.check_options(params, incremental)
        device = resolve_device(self.device)
        if previous is None:
            # Warm-start fits keep this split: validation rows stay held out.
            self._split_seed = int(split_seed)
        validation = None
        if self.early_stopping and not incremental:
            validation, X, target = target.hold_out(
                X, self.validation_fraction, self._split_seed, self.validation_split
            )
        with torch_threads(self.n_threads), seeded_torch(int(torch_seed), device):
            sampler_rng = np.random.default_rng(sampler_seed)
            net, width = train(
                X,
                target,
                params,
                sampler_rng=sampler_rng,
                validation=validation,
                device=device,
                previous=previous,
                incremental=incremental,
            )
        history = fitted_history(net, validation and validation.monitor)

        # Only a fit that got this far changes the estimator.
        self.net_ = net
        self.classes_ = target.classes
        self.n_iter_ = len(net.history)
        self._n_features_out = width
        (
            self.history_,
            self.loss_curve_,
            self.validation_scores_,
            self.best_validation_score_,
        ) = history
        warn_if_degenerate(
            self.history_,
            **fit_diagnostics(
                net, X, target.dissimilar_sample(), n_threads=self.n_threads
            ),
            **pick(params, "margin", "normalize", "similar_weight", "lr"),
            stacklevel=3,  # the caller of fit or partial_fit
        )
        return self

    def transform(self, X):
        """Embed ``X`` with the trained network.

        Rows go through the network (and an out-of-core ``X`` is read) in
        batches of 4096, so memory stays bounded for any number of rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to embed, with the features seen in ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components), dtype float32
            The embeddings.
        """
        check_is_fitted(self)
        X = as_rows(check_transform_input(self, X))
        module, device = embedding_network(self.net_.module_), self.net_.device
        with torch_threads(self.n_threads):
            embeddings = embed_rows(module, X, device, _TRANSFORM_BATCH_SIZE)
        return embeddings.numpy()

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # fit(X) without labels trains on corrupted views.
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.input_tags.sparse = True  # rows densified a batch at a time
        return tags
